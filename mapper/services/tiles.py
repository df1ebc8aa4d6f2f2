"""Vector tiles: one query, bytes out, kept in a per-process cache keyed by the layer's data version."""

from __future__ import annotations

import threading

from cachetools import LRUCache

from mapper.services.feeds import FeedQuery, PageReader
from mapper.store import features as store


class TileCache:
    """Rendered tiles, least recently used first out, bounded in bytes. Keys must carry the layer's data
    version (any write to the layer changes it), so a cached tile is never stale."""

    def __init__(self, max_bytes: int):
        self._tiles = LRUCache(maxsize=max(1, max_bytes), getsizeof=lambda data: len(data) + 1)
        self._enabled = max_bytes > 0
        self._lock = threading.Lock()

    def get(self, key) -> bytes | None:
        with self._lock:
            return self._tiles.get(key)

    def put(self, key, data: bytes) -> None:
        if self._enabled and len(data) + 1 <= self._tiles.maxsize:
            with self._lock:
                self._tiles[key] = data


def tile_statement(cursor, q: FeedQuery, cap: int) -> tuple[str, dict]:
    """The SQL of the MVT of ``q.tile``, at most ``cap`` features.

    An unfiltered public tile of a generalised layer that holds more than ``cap`` reports carries one feature
    per published location with its ``report_count`` (from ``public_cells``), not a sample of the reports:
    at low zooms the map shows where and how many, whatever the cap."""
    where = q.where()
    matches, exact = store.expected_matches(cursor, where)
    if exact and matches > cap:
        return store.cells_tile_sql(q.view, where.cells)
    return store.tile_sql(q.view, where, cap, matches)


def render_tile(reader: PageReader, cap: int) -> bytes:
    """The MVT bytes of ``reader.q.tile`` (empty when no feature falls in it; see ``tile_statement``)."""
    with reader.cursor() as cur:
        cur.execute(*tile_statement(cur, reader.q, cap))
        data = cur.fetchone()[0]
    return bytes(data) if data else b""


def cached_tile(cache: TileCache, key, reader: PageReader, cap: int) -> bytes:
    """``render_tile`` through ``cache`` (``key`` names the tile, its filters, its view and the data version)."""
    data = cache.get(key)
    if data is None:
        data = render_tile(reader, cap)
        cache.put(key, data)
    return data
