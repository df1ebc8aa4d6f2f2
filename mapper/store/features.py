"""Feature and tile queries over ``reports``, for one layer seen through one privacy view.

Privacy lives here: the public view reads only the layer's public fields, publishes generalised locations
(the stored, indexed ``public_geom``, and filters on them, so a bbox cannot probe an exact position), and
never sees hidden statuses.
GeoJSON and MVT are produced by PostGIS; Python only streams the text it gets back.

Values are bound and names quoted, never pasted: every builder of a statement binds through the statement's
one ``Params`` (``store.params``); field names enter as psycopg2.sql literals (``properties ->> 'name'``) and
identifiers (column aliases), in SQL composed once per view (``ViewSQL``), and the table as an identifier.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from psycopg2 import sql

from mapper.domain.layers import Field
from mapper.domain.privacy import View
from mapper.store.cql import Compiler, Prop
from mapper.store.params import Params, Quoted, name_ident, name_literal

KINDS = {
    "text": "text",
    "enum": "text",
    "integer": "number",
    "number": "number",
    "boolean": "boolean",
    "datetime": "timestamp",
    "date": "date",
}
CASTS = {"number": "::numeric", "boolean": "::boolean", "timestamp": "::timestamptz", "date": "::date", "text": ""}
TILE_EXTENT, TILE_BUFFER = 4096, 64  # MVT grid units per tile side, and the margin drawn around it
# Up to this many expected matches, a page is read by finding the matches first, and counting them for
# numberMatched costs nothing more; above it, the id index is walked and numberMatched is omitted.
FILTER_FIRST_MAX = 50_000


def geometry_sql(view: View) -> str:
    """The location this view may see, an indexed column either way."""
    return "r.public_geom" if view.generalised else "r.geom"


def source_sql(f: Field, alias: str = "r.") -> str:
    """The jsonb column holding a field's values: ``properties`` for public fields, ``private`` for the others."""
    return f"{alias}properties" if f.public else f"{alias}private"


def field_text(f: Field, alias: str = "r.") -> sql.Composed:
    """A field's value as text (``->>``), its name an SQL literal."""
    return sql.SQL("({} ->> {})").format(sql.SQL(source_sql(f, alias)), name_literal(f.name))


def report_columns(view: View) -> list[tuple[str, str]]:
    """The report's own published columns (status; observed_at unless it is also a field, the layer's time)."""
    names = {f.name for f in view.fields}
    return [(name, f"r.{name}") for name in ("status", "observed_at") if name not in names]


class ViewSQL:
    """The SQL of one view that depends on the view alone — what it publishes, under which names — composed
    once with psycopg2.sql (field names as literals and identifiers) and bound as one ``Quoted`` each, so a
    statement pays one placeholder per part, not one per field (see ``store.params``)."""

    def __init__(self, view: View):
        self.feature = Quoted(_feature(view))
        self.properties = Quoted(_properties(view, "jsonb_build_object"))
        self.columns = Quoted(_columns(view, typed=False))
        self.typed_columns = Quoted(_columns(view, typed=True))
        self.queryables: dict[str, tuple[Quoted | str, str]] = {
            "id": ("r.id", "number"),
            "status": ("r.status", "text"),
            "observed_at": ("r.observed_at", "timestamp"),
            "geometry": (geometry_sql(view), "geometry"),
        }
        for f in view.fields:
            if f.multiple:
                value = sql.SQL("({} -> {})").format(sql.SQL(source_sql(f)), name_literal(f.name))
                self.queryables[f.name] = (Quoted(value), "list")
            else:
                kind = KINDS[f.type]
                self.queryables[f.name] = (Quoted(sql.SQL("({}{})").format(field_text(f), sql.SQL(CASTS[kind]))), kind)


_VIEW_SQL: dict = {}  # (id(layer), exact) → (layer, ViewSQL); the layer is kept, so its id is not reused


def view_sql(view: View) -> ViewSQL:
    """``ViewSQL`` of ``view``, composed on first use (per layer object and audience)."""
    key = (id(view.layer), view.exact)
    entry = _VIEW_SQL.get(key)
    if entry is not None and entry[0] is view.layer:
        return entry[1]
    if len(_VIEW_SQL) >= 1024:  # registries come and go in tests; a server holds a few dozen views
        _VIEW_SQL.clear()
    composed = ViewSQL(view)
    _VIEW_SQL[key] = (view.layer, composed)
    return composed


def queryables(view: View, params: Params) -> dict[str, Prop]:
    """Property name → SQL, for filters: the view's fields plus id, status, observed_at and geometry; the
    fields' SQL bound in ``params``."""
    return {
        name: Prop(part if isinstance(part, str) else params.part(part), kind)
        for name, (part, kind) in view_sql(view).queryables.items()
    }


def _properties(view: View, builder: str) -> sql.Composed:
    parts = [
        sql.SQL("{key}, {source} -> {key}").format(key=name_literal(f.name), source=sql.SQL(source_sql(f)))
        for f in view.fields
    ]
    parts += [sql.SQL("{}, {}").format(name_literal(name), sql.SQL(column)) for name, column in report_columns(view)]
    return sql.SQL("{}({})").format(sql.SQL(builder), sql.SQL(", ").join(parts))


def properties_sql(view: View, params: Params) -> str:
    """The published properties as jsonb (what ST_AsMVT expands into tile attributes): an explicit allow-list
    of the view's fields, plus status and time; bound in ``params``."""
    return params.part(view_sql(view).properties)


def _feature(view: View) -> sql.Composed:
    return sql.SQL(
        """'{{"type":"Feature","id":' || r.id || ',"geometry":' || COALESCE(ST_AsGeoJSON({}, {}), 'null') """
        """|| ',"properties":' || {}::text || '}}'"""
    ).format(sql.SQL(geometry_sql(view)), sql.Literal(view.coordinate_digits), _properties(view, "json_build_object"))


def feature_sql(view: View, params: Params) -> str:
    """One GeoJSON Feature as text, concatenated in SQL (building a json value and printing it costs twice
    as much), its properties as json in field order (cheaper to print); bound in ``params``."""
    return params.part(view_sql(view).feature)


@dataclass(frozen=True)
class TileRef:
    """The placeholders of a vector tile's z, x, y, extent and buffer (bound by ``add_tile``)."""

    z: str
    x: str
    y: str
    extent: str
    buffer: str


@dataclass
class Where:
    """A WHERE clause and the allocator holding its bound values (statements built on it copy and extend it)."""

    clauses: list[str] = field(default_factory=list)
    params: Params = field(default_factory=Params)
    table: str = "reports"  # or derived_features: set from the layer, never from a request
    relation: str = ""  # the placeholder of ``table``, a quoted identifier
    scope: list[str] = field(default_factory=list)  # the layer and visibility clauses alone (no location/filter)
    # the same selection over ``public_cells`` (alias c), where that counts it exactly: a generalised view
    # filtered on nothing but location (bounding boxes, a tile); bound in the same ``params``
    cells: Where | None = None
    tile: TileRef | None = None  # the tile's placeholders, for ``mvt_geom``

    def add(self, sql: str) -> None:
        self.clauses.append(sql)

    @property
    def sql(self) -> str:
        return " AND ".join(self.clauses) or "TRUE"


def where_for(
    view: View,
    *,
    bboxes=(),
    cql: dict | None = None,
    tile: tuple[int, int, int] | None = None,
    extent: int = TILE_EXTENT,
    buffer: int = TILE_BUFFER,
) -> Where:
    """Layer, visibility, bounding boxes (already split at the antimeridian), a CQL2 JSON filter, and a
    vector tile z/x/y (with its buffer)."""
    p = Params()
    w = Where(params=p, table=view.layer.table, relation=p.ident(view.layer.table))
    w.add(f"r.layer = {p.bind(view.layer.id)}")
    if not view.exact:
        w.add(f"r.status <> ALL({p.bind(list(view.hidden_statuses))})")
    if view.generalised:  # rows stored under another precision wait for `mapper db upgrade` to re-generalise
        w.add(f"r.public_precision_m = {p.bind(float(view.precision_m))}")
    w.scope = list(w.clauses)
    add_bboxes(w, geometry_sql(view), bboxes)
    if tile is not None:
        add_tile(w, geometry_sql(view), tile, extent, buffer)
    if cql is not None:
        w.add(Compiler(queryables(view, p), params=p).compile(cql).sql)
    elif view.generalised and view.layer.table == "reports":
        w.cells = cells_where(view, bboxes=bboxes, tile=tile, extent=extent, buffer=buffer, params=p)
    return w


def add_bboxes(w: Where, geometry: str, bboxes) -> None:
    """Keep what ``geometry`` (WGS 84) has in any of ``bboxes``."""
    if bboxes:
        b = w.params.bind
        ors = [f"{geometry} && ST_MakeEnvelope({b(x0)}, {b(y0)}, {b(x1)}, {b(y1)}, 4326)" for x0, y0, x1, y1 in bboxes]
        w.add("(" + " OR ".join(ors) + ")")


def add_tile(w: Where, geometry: str, tile: tuple[int, int, int], extent: int, buffer: int) -> None:
    """Keep what ``geometry`` (WGS 84) has in vector tile z/x/y or its buffer; the tile's placeholders
    (``w.tile``) are also what ``mvt_geom`` reads."""
    b = w.params.bind
    z, x, y = tile
    t = w.tile = TileRef(b(z), b(x), b(y), b(extent), b(buffer))
    w.add(
        f"{geometry} && ST_Transform(ST_TileEnvelope({t.z}, {t.x}, {t.y}, "
        f"margin => ({t.buffer}::float8 / {t.extent})), 4326)"
    )


def mvt_geom(geometry: str, tile: TileRef) -> str:
    """A WGS 84 geometry in the tile's grid (clipped to it and its buffer), on the placeholders of ``add_tile``."""
    return (
        f"ST_AsMVTGeom(ST_Transform({geometry}, 3857), ST_TileEnvelope({tile.z}, {tile.x}, {tile.y}), {tile.extent}, "
        f"{tile.buffer}, true)"
    )


def reads_matches_first(limit: int | None, matches: int | None) -> bool:
    """Whether a page (or tile: ``limit`` = its cap) with ``matches`` expected is read by finding all its
    matches first (and so counts them)."""
    return limit is not None and matches is not None and matches <= FILTER_FIRST_MAX


def matches_cte(relation: str, condition: str) -> str:
    """The CTE ``matches`` (id, tuple id) of every row of ``relation`` (a ``Where.relation``) meeting
    ``condition``, found through whatever index selects them best: the first step of a matches-first read."""
    return f"WITH matches AS MATERIALIZED (SELECT r.id, r.ctid AS tid FROM {relation} r WHERE {condition})"


def first_matches(order: str, limit: str) -> str:
    """The condition keeping the first ``limit`` (a placeholder) rows of ``matches`` in id ``order``, fetched by
    tuple id (within the statement's snapshot), with no second index descent per row."""
    return f"r.ctid = ANY(ARRAY(SELECT tid FROM matches ORDER BY id {order} LIMIT {limit}))"


def _keyset(
    where: Where, after: int | None, before: int | None, params: Params | None = None
) -> tuple[str, Params, str]:
    """The filter with the keyset bounds added, its parameters (``params``, else a copy of the filter's, with the
    bounds bound), and the id order ("DESC" reads backwards)."""
    params = Params(where.params) if params is None else params
    condition = " AND ".join([*where.clauses, *_keyset_bounds(params, after, before)]) or "TRUE"
    return condition, params, _order(after, before)


def _order(after: int | None, before: int | None) -> str:
    """The id order of a keyset page: backwards ("DESC") when it ends before an id and starts after none."""
    return "DESC" if before is not None and after is None else "ASC"


def _keyset_bounds(params: Params, after: int | None, before: int | None) -> list[str]:
    """The id bounds of a keyset page, their values bound in ``params``."""
    return [f"r.id {op} {params.bind(int(value))}" for op, value in ((">", after), ("<", before)) if value is not None]


def items_sql(view: View, where: Where) -> tuple[str, Params]:
    """Rows (id, Feature JSON text) of every match in id order, for unlimited reads (exports) from a
    server-side cursor."""
    p = Params(where.params)
    return f"SELECT r.id, {feature_sql(view, p)} FROM {where.relation} r WHERE {where.sql} ORDER BY r.id", p


@dataclass
class Estimate:
    """The number of matches of a filter, as SQL: exact (counted from ``public_cells``), the planner's, or given.
    ``sql`` binds its values in the statement's parameters."""

    exact: bool = False
    cells: Where | None = None  # exact: the filter over public_cells (bound in the filter's own parameters)
    query: str | None = None  # the planner's: the filter as one query text, for mapper_planned_rows
    count: int | None = None  # given

    def sql(self, params: Params) -> str:
        if self.cells is not None:
            return f"(SELECT coalesce(sum(c.reports), 0)::bigint FROM public_cells c WHERE {self.cells.sql})"
        if self.query is not None:
            return f"mapper_planned_rows({params.bind(self.query)})"
        return params.bind(int(self.count))


def estimate_for(cursor, where: Where) -> Estimate:
    """The exact count of matches from ``public_cells`` where it can say (``where.cells``), else the planner's
    estimate (``mapper_planned_rows``: about 0.3 ms, where count(*) can take 60 ms)."""
    if where.cells is not None:
        return Estimate(exact=True, cells=where.cells)
    return Estimate(query=_estimate_sql(cursor, where))


def expected_matches(cursor, where: Where) -> tuple[int, bool]:
    """``estimate_for``'s number, and whether it is exact."""
    estimate = estimate_for(cursor, where)
    p = Params(where.params)
    cursor.execute(f"SELECT {estimate.sql(p)}", p)
    return int(cursor.fetchone()[0]), estimate.exact


def fixed_estimate(matches: int) -> Estimate:
    """A given number of expected matches (to choose a read plan by hand)."""
    return Estimate(count=int(matches))


def _cell_ids_sql(where: Where, order: str, bounds: list[str], limit: str) -> str:
    """The first ``limit`` (a placeholder) ids in ``order`` of the public reports at the published locations of
    ``where.cells``: each location's own first ids, within the view's scope (``where.scope``) and the keyset
    ``bounds``, from ``reports_public_cell_idx`` (an index-only scan, the status read from the index), merged.
    The same rows as ``where`` selects, since a report's public point is its cell's."""
    condition = " AND ".join([*where.scope, "r.public_geom = cells.geom", *bounds])
    return f"""
        SELECT m.id FROM (SELECT DISTINCT c.geom FROM public_cells c WHERE {where.cells.sql}) cells,
        LATERAL (SELECT r.id FROM reports r WHERE {condition} ORDER BY r.id {order} LIMIT {limit}) m
        ORDER BY m.id {order} LIMIT {limit}"""


def page_sql(
    view: View, where: Where, *, after: int | None, before: int | None, limit: int, estimate: Estimate
) -> tuple[str, Params]:
    """A page, its layer's data version and its count in one statement (one round trip, one snapshot), as one
    row: (version, changed_at, matched, returned, first_id, last_id, more, features): ``features`` the page's
    Feature JSON texts joined by commas in ascending id order (NULL when empty), ``first_id``/``last_id`` their
    lowest and highest ids, ``more`` whether another page follows in the paging direction (keyset: ``after`` an
    id, or ``before`` one, reading backwards).

    ``matched`` is the number of matches: ``estimate`` itself when exact, else counted when the page was read
    by finding its matches first, else NULL. The read plan is chosen in the statement by ``estimate``: at most
    ``FILTER_FIRST_MAX`` expected, the page's ids are found first, from the published locations' index
    (``_cell_ids_sql``) when the estimate is an exact count from ``public_cells``, else by finding every match
    (``matches_cte``, ``first_matches``), and only the page's rows are read and printed; otherwise the id index
    is walked until the page is full (fastest when matches are dense)."""
    p = Params(where.params)
    bounds = _keyset_bounds(p, after, before)  # in the filter and in the cell-by-cell read alike
    condition, order = " AND ".join([*where.clauses, *bounds]) or "TRUE", _order(after, before)
    limit_, page_size, first_max = p.bind(int(limit) + 1), p.bind(int(limit)), p.bind(FILTER_FIRST_MAX)
    feature = feature_sql(view, p)
    table = where.relation
    if estimate.exact:  # counted from public_cells; the page's ids come cell by cell from their index
        matches, counted = "WITH", "f.expected"
        first = f"r.id = ANY(ARRAY({_cell_ids_sql(where, order, bounds, limit_)}))"
    else:
        matches = matches_cte(table, condition) + ","
        counted = f"CASE WHEN f.expected <= {first_max} THEN (SELECT count(*) FROM matches) END"
        first = first_matches(order, limit_)
    kept = f"FILTER (WHERE p.n <= {page_size})"
    sql = f"""
        {matches}
        facts AS MATERIALIZED (
            SELECT v.version, v.changed_at, {estimate.sql(p)} AS expected
            FROM (SELECT 1) one LEFT JOIN layer_versions v ON v.layer = {p.bind(view.layer.id)}),
        page AS (
            SELECT r.id, {feature} AS feature FROM {table} r
            WHERE (SELECT expected FROM facts) <= {first_max} AND {first}
            UNION ALL
            (SELECT r.id, {feature} FROM {table} r
             WHERE (SELECT expected FROM facts) > {first_max} AND {condition}
             ORDER BY r.id {order} LIMIT {limit_}))
        SELECT f.version, f.changed_at, {counted}, a.returned, a.first_id, a.last_id, a.more, a.features
        FROM facts f, LATERAL (
            SELECT count(*) {kept} AS returned, min(p.id) {kept} AS first_id, max(p.id) {kept} AS last_id,
                   count(*) > {page_size} AS more, string_agg(p.feature, ',' ORDER BY p.id) {kept} AS features
            FROM (SELECT page.*, row_number() OVER (ORDER BY page.id {order}) AS n FROM page) p) a"""
    return sql, p


def _estimate_sql(cursor, where: Where) -> str:
    """The filter as one query text with its values quoted by the driver, for ``mapper_planned_rows``."""
    return cursor.mogrify(f"SELECT 1 FROM {where.relation} r WHERE {where.sql}", where.params).decode()


def collection_summary(cursor, view: View) -> dict:
    """Extent (bbox and time) of the reports this view can see."""
    w = where_for(view)
    cursor.execute(
        f"""
        SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e), t0, t1, n FROM (
            SELECT ST_Extent({geometry_sql(view)}) e, min(r.observed_at) t0, max(r.observed_at) t1, count(*) n
            FROM {w.relation} r WHERE {w.sql}) s""",
        w.params,
    )
    x0, y0, x1, y1, t0, t1, n = cursor.fetchone()
    return {"bbox": None if x0 is None else [x0, y0, x1, y1], "interval": [t0, t1], "count": n}


def layer_version(cursor, layer_id: str) -> tuple[int, object]:
    """(version, changed_at) of a layer; (0, None) before its first report."""
    cursor.execute("SELECT version, changed_at FROM layer_versions WHERE layer = %(l)s", {"l": layer_id})
    row = cursor.fetchone()
    return (row[0], row[1]) if row else (0, None)


def tile_sql(view: View, where: Where, cap: int, matches: int | None = None) -> tuple[str, Params]:
    """One Mapbox Vector Tile (layer named after the layer id) of the tile in ``where`` (see ``where_for``),
    with at most ``cap`` features: the lowest ids. As for ``page_sql``, ``matches`` (the expected number) at
    most ``FILTER_FIRST_MAX`` finds the matches first, else the id index is walked."""
    p = Params(where.params)
    cap_ = p.bind(int(cap))
    if reads_matches_first(cap, matches):
        rows = f"""
            {matches_cte(where.relation, where.sql)}
            SELECT r.* FROM {where.relation} r WHERE {first_matches("ASC", cap_)} ORDER BY r.id"""
    else:
        rows = f"SELECT r.* FROM {where.relation} r WHERE {where.sql} ORDER BY r.id LIMIT {cap_}"
    sql = f"""
        WITH r AS ({rows}), t AS (
            SELECT r.id, {mvt_geom(geometry_sql(view), where.tile)} AS geom, {field_columns_sql(view, p, typed=True)}
            FROM r)
        SELECT ST_AsMVT(t.*, {p.literal(view.layer.id)}, {where.tile.extent}, 'geom', 'id') FROM t
        WHERE geom IS NOT NULL"""
    return sql, p


TYPED_COLUMNS = {"integer": "::bigint", "number": "::float8", "boolean": "::boolean"}


def cells_where(
    view: View,
    *,
    bboxes=(),
    tile: tuple[int, int, int] | None = None,
    extent: int = TILE_EXTENT,
    buffer: int = TILE_BUFFER,
    params: Params | None = None,
) -> Where:
    """The published locations (``public_cells``) of a generalised ``view`` in ``bboxes`` and a tile, public
    statuses only; bound in ``params`` (``where_for``'s, so one statement can hold both)."""
    w = Where(params=Params() if params is None else params, table="public_cells")
    b = w.params.bind
    w.add(
        f"c.layer = {b(view.layer.id)} AND c.precision_m = {b(float(view.precision_m))} "
        f"AND c.status <> ALL({b(list(view.hidden_statuses))})"
    )
    add_bboxes(w, "c.geom", bboxes)
    if tile is not None:
        add_tile(w, "c.geom", tile, extent, buffer)
    return w


def cells_tile_sql(view: View, where: Where) -> tuple[str, Params]:
    """A tile of one feature per published location in ``where`` (see ``cells_where``) with ``report_count``,
    the number of public reports there: for tiles that would hold more reports than their cap."""
    p = Params(where.params)
    sql = f"""
        SELECT ST_AsMVT(t.*, {p.literal(view.layer.id)}, {where.tile.extent}, 'geom') FROM (
            SELECT {mvt_geom("c.geom", where.tile)} AS geom, sum(c.reports)::bigint AS report_count
            FROM public_cells c WHERE {where.sql} GROUP BY c.geom ORDER BY c.geom) t
        WHERE geom IS NOT NULL"""
    return sql, p


def _columns(view: View, typed: bool) -> sql.Composed:
    cols = []
    for f in view.fields:
        if f.multiple:
            # an empty list field is JSON null: no elements (jsonb_array_elements_text refuses a scalar)
            item = sql.SQL("{} -> {}").format(sql.SQL(source_sql(f)), name_literal(f.name))
            values = sql.SQL("jsonb_array_elements_text(CASE WHEN jsonb_typeof({}) = 'array' THEN {} END)").format(
                item, item
            )
            cols.append(sql.SQL("(SELECT string_agg(v, ';') FROM {} v) AS {}").format(values, name_ident(f.name)))
        else:
            cast = TYPED_COLUMNS.get(f.type, "") if typed else ""
            cols.append(sql.SQL("{}{} AS {}").format(field_text(f), sql.SQL(cast), name_ident(f.name)))
    cols += [sql.SQL("{} AS {}").format(sql.SQL(column), name_ident(name)) for name, column in report_columns(view)]
    return sql.SQL(", ").join(cols)


def field_columns_sql(view: View, params: Params, typed: bool = False) -> str:
    """The view's fields and ``report_columns`` as columns named after them: text (lists joined with ';'),
    or with ``typed`` integers, numbers and booleans as such (vector tiles encode them natively); bound in
    ``params``."""
    part = view_sql(view)
    return params.part(part.typed_columns if typed else part.columns)


def csv_copy_sql(view: View, where: Where) -> tuple[str, Params]:
    """COPY … TO STDOUT of the matching reports as CSV: id, lon, lat (a point on the surface), WKT, fields."""
    p = Params(where.params)
    d = p.bind(view.coordinate_digits)
    g = geometry_sql(view)
    sql = f"""COPY (
        SELECT r.id, round(ST_X(ST_PointOnSurface(g))::numeric, {d}) AS lon,
               round(ST_Y(ST_PointOnSurface(g))::numeric, {d}) AS lat, ST_AsText(g, {d}) AS wkt,
               {field_columns_sql(view, p)}
        FROM {where.relation} r CROSS JOIN LATERAL (SELECT {g} AS g) pg
        WHERE {where.sql} ORDER BY r.id) TO STDOUT WITH (FORMAT csv, HEADER)"""
    return sql, p


def wkb_rows_sql(view: View, where: Where) -> tuple[str, Params]:
    """Rows (WKB geometry, properties JSON text) for file exports, in id order."""
    p = Params(where.params)
    sql = f"""
        SELECT ST_AsBinary(ST_QuantizeCoordinates({geometry_sql(view)}, {p.bind(view.coordinate_digits)})),
               (jsonb_build_object('id', r.id) || {properties_sql(view, p)})::text
        FROM {where.relation} r WHERE {where.sql} ORDER BY r.id"""
    return sql, p


def counts_sql(view: View, where: Where, cell_m: float) -> tuple[str, Params]:
    """Reports per square of ``cell_m`` metres (Web Mercator) in ``where``: one GeoJSON point per square at
    the mean position of what it counts, with ``report_count``; and the total. Read from ``public_cells``
    when that counts the selection exactly (``where.cells``), else from the reports (polygons by a point
    on their surface)."""
    p = Params(where.params)
    size = p.bind(float(cell_m))
    if where.cells is not None:
        rows = f"SELECT ST_Transform(c.geom, 3857) g, c.reports n FROM public_cells c WHERE {where.cells.sql}"
    else:  # reports at one published location are counted together first: one transform per location
        rows = (
            f"SELECT ST_Transform(ST_PointOnSurface(q.g), 3857) g, q.n FROM ("
            f"SELECT {geometry_sql(view)} g, count(*) n FROM {where.relation} r WHERE {where.sql} GROUP BY 1) q"
        )
    sql = f"""
        WITH p AS ({rows}), s AS (
            SELECT sum(n)::bigint n, sum(ST_X(g) * n) / sum(n) x, sum(ST_Y(g) * n) / sum(n) y FROM p
            GROUP BY floor(ST_X(g) / {size}), floor(ST_Y(g) / {size}))
        SELECT coalesce(sum(n), 0)::bigint,
               coalesce(string_agg(json_build_object('type', 'Feature', 'geometry',
                   ST_AsGeoJSON(ST_Transform(ST_SetSRID(ST_MakePoint(x, y), 3857), 4326), 5)::json,
                   'properties', json_build_object('report_count', n))::text, ','), '')
        FROM s"""
    return sql, p


def newest_sql(view: View, where: Where, limit: int) -> tuple[str, Params]:
    """The ``limit`` matches updated last, newest first (subscription feeds): id, created_at, updated_at, the
    latitude and longitude of the location this view may see (a point on a polygon's surface), rounded to the
    view's digits, and the Feature text."""
    p = Params(where.params)
    digits = p.bind(int(view.coordinate_digits))
    return (
        f"SELECT r.id, r.created_at, r.updated_at, round(ST_Y(s.pt)::numeric, {digits}), "
        f"round(ST_X(s.pt)::numeric, {digits}), {feature_sql(view, p)} "
        f"FROM {where.relation} r CROSS JOIN LATERAL (SELECT ST_PointOnSurface({geometry_sql(view)}) AS pt) s "
        f"WHERE {where.sql} ORDER BY r.updated_at DESC, r.id DESC LIMIT {p.bind(int(limit))}",
        p,
    )
