"""Feature feeds: query parameters → a checked query → PostGIS GeoJSON streamed out, page by page.

Shared by OGC API – Features items, exports and tiles. Paging is keyset on report id (``cursor=a<id>`` for
the page after ``id``, ``b<id>`` for the page before), so page 10,000 costs what page 1 does.
``numberMatched`` is given on the first page only, and only when the planner expects at most
``FILTER_FIRST_MAX`` matches: then the page is read by finding every match first, and their exact count
comes with it; it is omitted otherwise.
"""

from __future__ import annotations

import math
import re
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import Engine

from mapper import db
from mapper.domain.errors import BadRequest, FieldProblem
from mapper.domain.privacy import View
from mapper.domain.values import is_unicode
from mapper.store import cql as cqlmod
from mapper.store import features as store

DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
STANDARD_PARAMS = {"limit", "bbox", "bbox-crs", "crs", "datetime", "filter", "filter-lang", "filter-crs", "cursor", "f"}
CRS84 = ("http://www.opengis.net/def/crs/OGC/1.3/CRS84", "http://www.opengis.net/def/crs/EPSG/0/4326")
FORMATS = ("json", "html")  # ``f``
STREAM_BATCH = 2000
_summaries: dict = {}


def bad(param: str, reason: str) -> BadRequest:
    return BadRequest(f"Invalid parameter {param}: {reason}", [FieldProblem(param, reason)])


@dataclass
class FeedQuery:
    """A checked request for features of one layer in one view."""

    view: View
    limit: int | None = DEFAULT_LIMIT  # None: no limit (exports)
    bboxes: list[tuple[float, float, float, float]] = field(default_factory=list)
    filters: list[dict] = field(default_factory=list)  # CQL2 JSON, ANDed
    after: int | None = None
    before: int | None = None
    tile: tuple[int, int, int] | None = None  # z, x, y: only what falls in (or near) this vector tile

    @property
    def first_page(self) -> bool:
        return self.after is None and self.before is None

    def where(self) -> store.Where:
        cql = {"op": "and", "args": self.filters} if len(self.filters) > 1 else (self.filters or [None])[0]
        return store.where_for(self.view, bboxes=self.bboxes, cql=cql, tile=self.tile)


# --- parsing ---------------------------------------------------------------------------------------------
def parse_limit(raw: str | None, default: int = DEFAULT_LIMIT, maximum: int = MAX_LIMIT) -> int:
    """``limit``: a positive integer; above the maximum it is clamped (as OGC API – Features allows)."""
    if raw is None:
        return default
    if not re.fullmatch(r"[0-9]{1,18}", raw) or int(raw) < 1:  # ASCII digits: int() takes any script's
        raise bad("limit", f"must be a positive integer (above {maximum}, {maximum} is used)")
    return min(int(raw), maximum)


def parse_bbox(raw: str) -> list[tuple[float, float, float, float]]:
    """``bbox`` (4 or 6 numbers, WGS 84). A box whose west edge is east of its east edge crosses the
    antimeridian and is split in two."""
    try:
        nums = [float(v) for v in raw.split(",")]
    except ValueError:
        raise bad("bbox", "must be 4 or 6 comma-separated numbers") from None
    if len(nums) not in (4, 6) or not all(math.isfinite(n) for n in nums):
        raise bad("bbox", "must be 4 or 6 comma-separated finite numbers")
    x0, y0, x1, y1 = (nums[0], nums[1], nums[2], nums[3]) if len(nums) == 4 else (nums[0], nums[1], nums[3], nums[4])
    if not (-180 <= x0 <= 180 and -180 <= x1 <= 180 and -90 <= y0 <= 90 and -90 <= y1 <= 90):
        raise bad("bbox", "longitudes must be within ±180 and latitudes within ±90")
    if y0 > y1:
        raise bad("bbox", "the southern edge is north of the northern edge")
    if x0 > x1:
        return [(x0, y0, 180.0, y1), (-180.0, y0, x1, y1)]
    return [(x0, y0, x1, y1)]


def _instant(text: str, param: str) -> str:
    """An RFC 3339 date (kept as it is) or date-time (converted to UTC: PostgreSQL refuses offsets beyond
    ±15:59), checked by the rule the CQL2 compiler applies to its literals."""
    value, _ = cqlmod.instant(text, "date" if len(text) == 10 else "timestamp", param)
    return value


def parse_datetime(raw: str) -> dict:
    """``datetime``: an instant, or a closed or open interval (``a/b``, ``../b``, ``a/..``), on observed_at."""
    if "/" in raw:
        start, _, end = raw.partition("/")
        start = None if start in ("", "..") else _instant(start, "datetime")
        end = None if end in ("", "..") else _instant(end, "datetime")
        if start is None and end is None:
            raise bad("datetime", "an interval needs at least one end")
        if start and end and start > end:
            raise bad("datetime", "the interval ends before it starts")
        if end and len(end) == 10:
            end = end + "T23:59:59.999999Z"
        interval = [start or "..", end or ".."]
        return {"op": "t_intersects", "args": [{"property": "observed_at"}, {"interval": interval}]}
    instant = _instant(raw, "datetime")
    if len(instant) == 10:
        return {
            "op": "t_intersects",
            "args": [{"property": "observed_at"}, {"interval": [instant, instant + "T23:59:59.999999Z"]}],
        }
    return {"op": "=", "args": [{"property": "observed_at"}, {"timestamp": instant}]}


INTEGER = re.compile(r"[+-]?[0-9]{1,15}")  # ASCII digits (int() takes any script's), exact as a float64
NUMBER = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


def equality_filter(view: View, name: str, raw: str) -> dict:
    """``?field=value`` on a field of the view, typed and checked by the field as intake checks its values
    (a value no report can hold is refused, not searched for)."""
    f = next(f for f in view.fields if f.name == name)
    value: object = raw
    if f.type in ("integer", "number"):
        if f.type == "integer" and not INTEGER.fullmatch(raw):
            raise bad(name, "must be an integer of at most 15 digits")
        value = int(raw) if f.type == "integer" else float(raw) if NUMBER.fullmatch(raw) else math.nan
        if not math.isfinite(value):
            raise bad(name, "must be a finite number")
        if f.min is not None and value < f.min:
            raise bad(name, f"must be >= {f.min:g}")
        if f.max is not None and value > f.max:
            raise bad(name, f"must be <= {f.max:g}")
    elif f.type == "boolean":
        if raw.lower() not in ("true", "false"):
            raise bad(name, "must be true or false")
        value = raw.lower() == "true"
    elif f.type == "datetime":
        if len(raw) == 10:
            raise bad(name, "must be an RFC 3339 date-time (a date alone: use datetime= for a day)")
        value = {"timestamp": _instant(raw, name)}
    elif f.type == "date":
        if len(raw) != 10:
            raise bad(name, "must be a date YYYY-MM-DD")
        value = {"date": _instant(raw, name)}
    elif f.type == "enum" and raw not in f.values:
        raise bad(name, f"must be one of: {', '.join(f.values)}")
    elif f.type == "text" and len(raw) > f.max_length:
        raise bad(name, f"is longer than {f.max_length} characters")
    return {"op": "=", "args": [{"property": name}, value]}


def parse_cursor(raw: str) -> tuple[int | None, int | None]:
    m = re.fullmatch(r"([ab])([0-9]{1,18})", raw or "")  # ASCII digits (\d matches any script's)
    if not m:
        raise bad("cursor", "not a cursor from a next/prev link")
    return (int(m[2]), None) if m[1] == "a" else (None, int(m[2]))


def parse_query(view: View, args, *, limit_default: int | None = DEFAULT_LIMIT, extra_params=()) -> FeedQuery:
    """Check every query parameter (unknown ones are refused, as OGC API – Features requires); a repeated
    parameter counts by its first value."""
    # a plain dict: werkzeug's MultiDict builds an exception object for every key it is asked for and lacks
    args = args.to_dict() if hasattr(args, "to_dict") else dict(args)
    fields = {f.name for f in view.fields}
    for name in args:
        if "\x00" in args.get(name, "") or "\x00" in name:
            raise bad(name.replace("\x00", ""), "must not contain NUL characters")
        if not is_unicode(name) or not is_unicode(args.get(name, "")):
            raise bad(name.encode("utf-8", "replace").decode(), "must be valid Unicode (no lone surrogates)")
        if name not in STANDARD_PARAMS and name not in fields and name not in extra_params:
            raise bad(name, f"unknown parameter; filterable fields: {', '.join(sorted(fields))}")
    q = FeedQuery(view, limit=parse_limit(args.get("limit"), limit_default) if limit_default else None)
    # a parameter given empty is checked as given (``bbox=`` is no box, not "no bbox")
    for name, what in (("bbox-crs", "supported"), ("crs", "offered"), ("filter-crs", "supported")):
        if name in args and args[name] not in CRS84:
            raise bad(name, f"only CRS84 (WGS 84 longitude/latitude) is {what}")
    if "f" in args and args["f"] not in FORMATS:
        raise bad("f", f"must be one of: {', '.join(FORMATS)}")
    if "filter-lang" in args and args["filter-lang"] not in cqlmod.LANGUAGES:
        raise bad("filter-lang", f"must be one of: {', '.join(cqlmod.LANGUAGES)}")
    if "bbox" in args:
        q.bboxes = parse_bbox(args["bbox"])
    if args.get("datetime"):
        q.filters.append(parse_datetime(args["datetime"]))
    for name in fields & set(args):
        q.filters.append(equality_filter(view, name, args[name]))
    if args.get("filter"):
        q.filters.append(cqlmod.parse(args["filter"], args.get("filter-lang", "cql2-text")))
    if "cursor" in args:
        q.after, q.before = parse_cursor(args["cursor"])
    q.where()  # compile now: a bad filter is a 400 before any byte of a streamed response is sent
    return q


# --- running ---------------------------------------------------------------------------------------------
class PageReader:
    """One request's reads on one pooled connection in autocommit mode (each statement its own snapshot, no
    BEGIN/ROLLBACK round trips).

    A page (``q.limit`` set) is read whole by ``read_page``: one statement returns the layer's data version (for
    ETag/304), the count of matches where it is cheap, and the features, and the connection goes back to the
    pool at once. Tiles and conditional requests read the version alone first (``read_version``); unlimited
    reads (exports) stream from a server-side cursor. The connection goes back to the pool when the features
    have been read, or on ``close()`` (idempotent; call it when they are not)."""

    def __init__(self, engine: Engine, q: FeedQuery, *, versioned: bool = True):
        self.q = q
        self.version, self.changed_at, self.matched = 0, None, None
        self._page: list | None = None  # returned, first_id, last_id, more, features text
        self._raw = engine.raw_connection()
        self._raw.driver_connection.autocommit = True
        if versioned and not q.limit:
            self.read_version()

    def read_version(self) -> None:
        """The layer's data version and when it changed, alone (one round trip)."""
        try:
            with self._raw.cursor() as cur:
                self.version, self.changed_at = store.layer_version(cur, self.q.view.layer.id)
        except BaseException:
            self.close()
            raise

    def read_page(self) -> None:
        """The page of a limited query, with the layer's data version and ``matched`` (the exact number of
        matches, or None where counting would cost more than the page), in one statement; then closes."""
        q = self.q
        try:
            with self._raw.cursor() as cur:
                where = q.where()
                sql, params = store.page_sql(
                    q.view,
                    where,
                    after=q.after,
                    before=q.before,
                    limit=q.limit,
                    estimate=store.estimate_for(cur, where),
                )
                cur.execute(sql, params)
                row = cur.fetchone()
        finally:
            self.close()
        version, self.changed_at, self.matched, *self._page = row
        self.version = version or 0

    @contextmanager
    def cursor(self, name: str | None = None):
        """A cursor on this reader's connection (``name``: server-side, which needs a transaction)."""
        if name:
            self._raw.driver_connection.autocommit = False
        with self._raw.cursor(name=name) as cur:
            yield cur

    def features(self, on_done=None):
        """Yield Feature JSON texts joined by commas; at the end ``on_done(first_id, last_id, returned, more)``
        (the lowest and highest ids, and whether another page follows). A limited query is read with
        ``read_page`` (unless it was already) and comes as one text; an unlimited one is streamed,
        ``STREAM_BATCH`` rows at a time, so memory stays flat at any size. Closes the reader."""
        q = self.q
        try:
            if q.limit is not None:
                if self._page is None:
                    self.read_page()
                returned, first_id, last_id, more, text = self._page
                if text:
                    yield text
            else:
                returned, first_id, last_id, more = 0, None, None, False
                with self.cursor("feed") as cur:
                    cur.itersize = STREAM_BATCH
                    cur.execute(*store.items_sql(q.view, q.where()))
                    for row_id, feature in cur:
                        yield ("," if returned else "") + feature
                        first_id = row_id if first_id is None else first_id
                        last_id = row_id
                        returned += 1
        finally:
            self.close()
        if on_done:
            on_done(first_id, last_id, returned, more)

    def close(self) -> None:
        if self._raw is not None:
            raw, self._raw = self._raw, None
            try:
                conn = raw.driver_connection
                if conn.closed:  # lost (e.g. the server restarted): never hand it out again
                    raw.invalidate()
                elif conn.autocommit:
                    conn.autocommit = False
                else:
                    raw.rollback()
            finally:
                raw.close()


def stream_features(engine: Engine, q: FeedQuery, on_done=None):
    """``PageReader.features`` of ``q`` on a connection of its own, taken when iteration starts (exports,
    maps)."""
    yield from PageReader(engine, q, versioned=False).features(on_done)


def collection_summary(engine: Engine, view: View) -> dict:
    """Extent and count of what ``view`` can see, cached per layer data version."""
    with db.cursor(engine) as cur:
        version, _ = store.layer_version(cur, view.layer.id)
        key = (view.layer.id, view.exact)
        if _summaries.get(key, (None,))[0] != version:
            _summaries[key] = (version, store.collection_summary(cur, view))
    return _summaries[key][1]


def batched(texts, size: int = 1 << 16):
    """Join small texts into chunks of about ``size`` characters (one write per feature is slow to send)."""
    buf, n = [], 0
    for t in texts:
        buf.append(t)
        n += len(t)
        if n >= size:
            yield "".join(buf)
            buf, n = [], 0
    if buf:
        yield "".join(buf)


# --- counts for maps -------------------------------------------------------------------------------------
CELL_PX = 64  # the side of a count square on screen, in pixels
MAX_MAP_ZOOM = 22
EQUATOR_M_PER_PX = 156543.03392804097  # Web Mercator metres per pixel at zoom 0 (256 px tiles)


def parse_zoom(raw: str | None) -> int:
    if raw is None or not re.fullmatch(r"[0-9]{1,2}", raw) or int(raw) > MAX_MAP_ZOOM:
        raise bad("zoom", f"must be a whole number from 0 to {MAX_MAP_ZOOM}")
    return int(raw)


def cell_size_m(view: View, zoom: int) -> float:
    """The count squares' side at ``zoom``: CELL_PX on screen, never finer than the view's published grid."""
    return max(EQUATOR_M_PER_PX / 2**zoom * CELL_PX, float(view.precision_m))


@dataclass
class Counts:
    matched: int
    cell_m: float
    features: str  # GeoJSON Features joined by commas


def data_version(engine: Engine, view: View) -> tuple[int, object]:
    """(version, changed_at) of the view's layer, for validators."""
    with db.cursor(engine) as cur:
        return store.layer_version(cur, view.layer.id)


def count_cells(engine: Engine, q: FeedQuery, zoom: int) -> Counts:
    """How many reports of ``q`` there are, and how many per square of ``cell_size_m`` (PostGIS counts)."""
    cell_m = cell_size_m(q.view, zoom)
    sql, params = store.counts_sql(q.view, q.where(), cell_m)
    with db.cursor(engine) as cur:
        cur.execute(sql, params)
        matched, features = cur.fetchone()
    return Counts(matched, cell_m, features)
