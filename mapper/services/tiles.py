"""Vector tiles: one query, bytes out."""
from __future__ import annotations

from sqlalchemy import Engine

from mapper import db
from mapper.services.feeds import FeedQuery
from mapper.store import features as store


def render_tile(engine: Engine, q: FeedQuery, z: int, x: int, y: int, cap: int) -> bytes:
    """The MVT bytes of tile z/x/y (empty when no feature falls in it), at most ``cap`` features."""
    sql, params = store.tile_sql(q.view, q.where(), z, x, y, cap)
    with db.cursor(engine) as cur:
        cur.execute(sql, params)
        data = cur.fetchone()[0]
    return bytes(data) if data else b""
