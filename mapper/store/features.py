"""Feature and tile queries over ``reports``, for one layer seen through one privacy view.

Privacy lives here: the public view reads only the layer's public fields, publishes generalised locations
(the stored, indexed ``public_geom``, and filters on them, so a bbox cannot probe an exact position), and
never sees hidden statuses.
GeoJSON and MVT are produced by PostGIS; Python only streams the text it gets back.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mapper.domain.lifecycle import PUBLIC_HIDDEN_STATUSES
from mapper.domain.privacy import View
from mapper.store.cql import Compiler, Prop

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


def queryables(view: View) -> dict[str, Prop]:
    """Property name → SQL, for filters: the view's fields plus id, status, observed_at and geometry."""
    props = {
        "id": Prop("r.id", "number"),
        "status": Prop("r.status", "text"),
        "observed_at": Prop("r.observed_at", "timestamp"),
        "geometry": Prop(geometry_sql(view), "geometry"),
    }
    for f in view.fields:
        source = "r.properties" if f.public else "r.private"
        if f.multiple:
            props[f.name] = Prop(f"({source} -> '{f.name}')", "list")
        else:
            kind = KINDS[f.type]
            props[f.name] = Prop(f"(({source} ->> '{f.name}'){CASTS[kind]})", kind)
    return props


def properties_sql(view: View, builder: str = "jsonb_build_object") -> str:
    """The published properties: an explicit allow-list of the view's fields, plus status and time, as
    jsonb (what ST_AsMVT expands into tile attributes) or, with ``builder="json_build_object"``, as json
    in field order (cheaper to print)."""
    parts = []
    for f in view.fields:
        parts.append(f"'{f.name}', {'r.properties' if f.public else 'r.private'} -> '{f.name}'")
    parts += [f"'{name}', {sql}" for name, sql in report_columns(view)]
    return f"{builder}({', '.join(parts)})"


def report_columns(view: View) -> list[tuple[str, str]]:
    """The report's own published columns (status; observed_at unless it is also a field, the layer's time)."""
    names = {f.name for f in view.fields}
    return [(name, f"r.{name}") for name in ("status", "observed_at") if name not in names]


def feature_sql(view: View) -> str:
    """One GeoJSON Feature as text, concatenated in SQL (building a json value and printing it costs twice
    as much)."""
    geometry = f"COALESCE(ST_AsGeoJSON({geometry_sql(view)}, {view.coordinate_digits}), 'null')"
    return (
        f"""'{{"type":"Feature","id":' || r.id || ',"geometry":' || {geometry} || ',"properties":' """
        f"""|| {properties_sql(view, "json_build_object")}::text || '}}'"""
    )


@dataclass
class Where:
    """A WHERE clause with its bound parameters."""

    clauses: list[str] = field(default_factory=list)
    params: dict = field(default_factory=dict)
    table: str = "reports"  # or derived_features: set from the layer, never from a request
    scope: list[str] = field(default_factory=list)  # the layer and visibility clauses alone (no location/filter)
    # the same selection over ``public_cells`` (alias c), where that counts it exactly: a generalised view
    # filtered on nothing but location (bounding boxes, a tile); its parameters are a subset of ``params``
    cells: Where | None = None

    def add(self, sql: str, **params) -> None:
        self.clauses.append(sql)
        self.params.update(params)

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
    w = Where(table=view.layer.table)
    w.add("r.layer = %(layer)s", layer=view.layer.id)
    if not view.exact:
        w.add("r.status <> ALL(%(hidden)s)", hidden=list(PUBLIC_HIDDEN_STATUSES))
    if view.generalised:  # rows stored under another precision wait for `mapper db upgrade` to re-generalise
        w.add("r.public_precision_m = %(precision)s", precision=float(view.precision_m))
    w.scope = list(w.clauses)
    add_bboxes(w, geometry_sql(view), bboxes)
    if tile is not None:
        add_tile(w, geometry_sql(view), tile, extent, buffer)
    if cql is not None:
        compiled = Compiler(queryables(view)).compile(cql)
        w.add(compiled.sql, **compiled.params)
    elif view.generalised and view.layer.table == "reports":
        w.cells = cells_where(view, bboxes=bboxes, tile=tile, extent=extent, buffer=buffer)
    return w


def add_bboxes(w: Where, geometry: str, bboxes) -> None:
    """Keep what ``geometry`` (WGS 84) has in any of ``bboxes``."""
    if bboxes:
        ors = []
        for i, (x0, y0, x1, y1) in enumerate(bboxes):
            ors.append(f"{geometry} && ST_MakeEnvelope(%(bx{i})s, %(by{i})s, %(bX{i})s, %(bY{i})s, 4326)")
            w.params.update({f"bx{i}": x0, f"by{i}": y0, f"bX{i}": x1, f"bY{i}": y1})
        w.add("(" + " OR ".join(ors) + ")")


def add_tile(w: Where, geometry: str, tile: tuple[int, int, int], extent: int, buffer: int) -> None:
    """Keep what ``geometry`` (WGS 84) has in vector tile z/x/y or its buffer; the tile's parameters are
    also what ``MVT_GEOM`` reads."""
    z, x, y = tile
    w.add(
        f"{geometry} && ST_Transform(ST_TileEnvelope(%(tz)s, %(tx)s, %(ty)s, "
        "margin => (%(tbuffer)s::float8 / %(textent)s)), 4326)",
        tz=z,
        tx=x,
        ty=y,
        tbuffer=buffer,
        textent=extent,
    )


# a WGS 84 geometry in the tile's grid (clipped to it and its buffer), with the parameters of ``add_tile``
MVT_GEOM = (
    "ST_AsMVTGeom(ST_Transform({}, 3857), ST_TileEnvelope(%(tz)s, %(tx)s, %(ty)s), %(textent)s, %(tbuffer)s, true)"
)


def reads_matches_first(limit: int | None, matches: int | None) -> bool:
    """Whether a page (or tile: ``limit`` = its cap) with ``matches`` expected is read by finding all its
    matches first (and so counts them)."""
    return limit is not None and matches is not None and matches <= FILTER_FIRST_MAX


def matches_cte(table: str, condition: str) -> str:
    """The CTE ``matches`` (id, tuple id) of every row meeting ``condition``, found through whatever index
    selects them best: the first step of a matches-first read."""
    return f"WITH matches AS MATERIALIZED (SELECT r.id, r.ctid AS tid FROM {table} r WHERE {condition})"


def first_matches(order: str, limit_param: str) -> str:
    """The condition keeping the first ``%(limit_param)s`` rows of ``matches`` in id ``order``, fetched by tuple
    id (within the statement's snapshot), with no second index descent per row."""
    return f"r.ctid = ANY(ARRAY(SELECT tid FROM matches ORDER BY id {order} LIMIT %({limit_param})s))"


def _keyset(where: Where, after: int | None, before: int | None) -> tuple[str, dict, str]:
    """The filter with the keyset bounds added, its parameters, and the id order ("DESC" reads backwards)."""
    params = dict(where.params)
    for name, value in (("after", after), ("before", before)):
        if value is not None:
            params[name] = value
    order = "DESC" if before is not None and after is None else "ASC"
    return " AND ".join([*where.clauses, *_keyset_bounds(after, before)]) or "TRUE", params, order


def _keyset_bounds(after: int | None, before: int | None) -> list[str]:
    """The id bounds of a keyset page, on the parameters ``after`` and ``before``."""
    return [
        clause for clause, value in (("r.id > %(after)s", after), ("r.id < %(before)s", before)) if value is not None
    ]


def items_sql(view: View, where: Where) -> tuple[str, dict]:
    """Rows (id, Feature JSON text) of every match in id order, for unlimited reads (exports) from a
    server-side cursor."""
    return f"SELECT r.id, {feature_sql(view)} FROM {where.table} r WHERE {where.sql} ORDER BY r.id", where.params


@dataclass
class Estimate:
    """An SQL expression for the number of matches of a filter: exact (``public_cells``) or the planner's."""

    sql: str
    params: dict = field(default_factory=dict)
    exact: bool = False


def estimate_for(cursor, where: Where) -> Estimate:
    """The exact count of matches from ``public_cells`` where it can say (``where.cells``), else the planner's
    estimate (``mapper_planned_rows``: about 0.3 ms, where count(*) can take 60 ms)."""
    if where.cells is not None:
        return Estimate(
            f"(SELECT coalesce(sum(c.reports), 0)::bigint FROM public_cells c WHERE {where.cells.sql})",
            where.cells.params,
            exact=True,
        )
    return Estimate("mapper_planned_rows(%(estimate_query)s)", {"estimate_query": _estimate_sql(cursor, where)})


def expected_matches(cursor, where: Where) -> tuple[int, bool]:
    """``estimate_for``'s number, and whether it is exact."""
    estimate = estimate_for(cursor, where)
    cursor.execute(f"SELECT {estimate.sql}", estimate.params)
    return int(cursor.fetchone()[0]), estimate.exact


def fixed_estimate(matches: int) -> Estimate:
    """A given number of expected matches (to choose a read plan by hand)."""
    return Estimate(str(int(matches)))


def _cell_ids_sql(where: Where, order: str, after: int | None, before: int | None) -> str:
    """The first ``%(limit)s`` ids in ``order`` of the public reports at the published locations of
    ``where.cells``: each location's own first ids, within the view's scope (``where.scope``), from
    ``reports_public_cell_idx`` (an index-only scan, the status read from the index), merged. The same rows as
    ``where`` selects, since a report's public point is its cell's."""
    condition = " AND ".join([*where.scope, "r.public_geom = cells.geom", *_keyset_bounds(after, before)])
    return f"""
        SELECT m.id FROM (SELECT DISTINCT c.geom FROM public_cells c WHERE {where.cells.sql}) cells,
        LATERAL (SELECT r.id FROM reports r WHERE {condition} ORDER BY r.id {order} LIMIT %(limit)s) m
        ORDER BY m.id {order} LIMIT %(limit)s"""


def page_sql(
    view: View, where: Where, *, after: int | None, before: int | None, limit: int, estimate: Estimate
) -> tuple[str, dict]:
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
    condition, params, order = _keyset(where, after, before)
    params.update(
        estimate.params,
        layer=view.layer.id,
        limit=int(limit) + 1,
        page_size=int(limit),
        filter_first_max=FILTER_FIRST_MAX,
    )
    feature = feature_sql(view)
    if estimate.exact:  # counted from public_cells; the page's ids come cell by cell from their index
        matches, counted = "WITH", "f.expected"
        first = f"r.id = ANY(ARRAY({_cell_ids_sql(where, order, after, before)}))"
    else:
        matches = matches_cte(where.table, condition) + ","
        counted = "CASE WHEN f.expected <= %(filter_first_max)s THEN (SELECT count(*) FROM matches) END"
        first = first_matches(order, "limit")
    kept = "FILTER (WHERE p.n <= %(page_size)s)"
    sql = f"""
        {matches}
        facts AS MATERIALIZED (
            SELECT v.version, v.changed_at, {estimate.sql} AS expected
            FROM (SELECT 1) one LEFT JOIN layer_versions v ON v.layer = %(layer)s),
        page AS (
            SELECT r.id, {feature} AS feature FROM {where.table} r
            WHERE (SELECT expected FROM facts) <= %(filter_first_max)s AND {first}
            UNION ALL
            (SELECT r.id, {feature} FROM {where.table} r
             WHERE (SELECT expected FROM facts) > %(filter_first_max)s AND {condition}
             ORDER BY r.id {order} LIMIT %(limit)s))
        SELECT f.version, f.changed_at, {counted}, a.returned, a.first_id, a.last_id, a.more, a.features
        FROM facts f, LATERAL (
            SELECT count(*) {kept} AS returned, min(p.id) {kept} AS first_id, max(p.id) {kept} AS last_id,
                   count(*) > %(page_size)s AS more, string_agg(p.feature, ',' ORDER BY p.id) {kept} AS features
            FROM (SELECT page.*, row_number() OVER (ORDER BY page.id {order}) AS n FROM page) p) a"""
    return sql, params


def _estimate_sql(cursor, where: Where) -> str:
    """The filter as one query text with its values quoted by the driver, for ``mapper_planned_rows``."""
    return cursor.mogrify(f"SELECT 1 FROM {where.table} r WHERE {where.sql}", where.params).decode()


def collection_summary(cursor, view: View) -> dict:
    """Extent (bbox and time) of the reports this view can see."""
    w = where_for(view)
    cursor.execute(
        f"""
        SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e), t0, t1, n FROM (
            SELECT ST_Extent({geometry_sql(view)}) e, min(r.observed_at) t0, max(r.observed_at) t1, count(*) n
            FROM {w.table} r WHERE {w.sql}) s""",
        w.params,
    )
    x0, y0, x1, y1, t0, t1, n = cursor.fetchone()
    return {"bbox": None if x0 is None else [x0, y0, x1, y1], "interval": [t0, t1], "count": n}


def layer_version(cursor, layer_id: str) -> tuple[int, object]:
    """(version, changed_at) of a layer; (0, None) before its first report."""
    cursor.execute("SELECT version, changed_at FROM layer_versions WHERE layer = %(l)s", {"l": layer_id})
    row = cursor.fetchone()
    return (row[0], row[1]) if row else (0, None)


def tile_sql(view: View, where: Where, cap: int, matches: int | None = None) -> tuple[str, dict]:
    """One Mapbox Vector Tile (layer named after the layer id) of the tile in ``where`` (see ``where_for``),
    with at most ``cap`` features: the lowest ids. As for ``page_sql``, ``matches`` (the expected number) at
    most ``FILTER_FIRST_MAX`` finds the matches first, else the id index is walked."""
    params = dict(where.params, cap=int(cap))
    if reads_matches_first(cap, matches):
        rows = f"""
            {matches_cte(where.table, where.sql)}
            SELECT r.* FROM {where.table} r WHERE {first_matches("ASC", "cap")} ORDER BY r.id"""
    else:
        rows = f"SELECT r.* FROM {where.table} r WHERE {where.sql} ORDER BY r.id LIMIT %(cap)s"
    sql = f"""
        WITH r AS ({rows}), t AS (
            SELECT r.id, {MVT_GEOM.format(geometry_sql(view))} AS geom, {field_columns_sql(view, typed=True)}
            FROM r)
        SELECT ST_AsMVT(t.*, '{view.layer.id}', %(textent)s, 'geom', 'id') FROM t WHERE geom IS NOT NULL"""
    return sql, params


TYPED_COLUMNS = {"integer": "::bigint", "number": "::float8", "boolean": "::boolean"}


def cells_where(
    view: View,
    *,
    bboxes=(),
    tile: tuple[int, int, int] | None = None,
    extent: int = TILE_EXTENT,
    buffer: int = TILE_BUFFER,
) -> Where:
    """The published locations (``public_cells``) of a generalised ``view`` in ``bboxes`` and a tile, public
    statuses only; parameters named and valued as ``where_for``'s."""
    w = Where(table="public_cells")
    w.add(
        "c.layer = %(layer)s AND c.precision_m = %(precision)s AND c.status <> ALL(%(hidden)s)",
        layer=view.layer.id,
        precision=float(view.precision_m),
        hidden=list(PUBLIC_HIDDEN_STATUSES),
    )
    add_bboxes(w, "c.geom", bboxes)
    if tile is not None:
        add_tile(w, "c.geom", tile, extent, buffer)
    return w


def cells_tile_sql(view: View, where: Where) -> tuple[str, dict]:
    """A tile of one feature per published location in ``where`` (see ``cells_where``) with ``report_count``,
    the number of public reports there: for tiles that would hold more reports than their cap."""
    sql = f"""
        SELECT ST_AsMVT(t.*, '{view.layer.id}', %(textent)s, 'geom') FROM (
            SELECT {MVT_GEOM.format("c.geom")} AS geom, sum(c.reports)::bigint AS report_count
            FROM public_cells c WHERE {where.sql} GROUP BY c.geom ORDER BY c.geom) t
        WHERE geom IS NOT NULL"""
    return sql, where.params


def field_columns_sql(view: View, typed: bool = False) -> str:
    """The view's fields and ``report_columns`` as columns named after them: text (lists joined with ';'),
    or with ``typed`` integers, numbers and booleans as such (vector tiles encode them natively)."""
    cols = []
    for f in view.fields:
        source = "r.properties" if f.public else "r.private"
        if f.multiple:
            cols.append(
                f"(SELECT string_agg(v, ';') FROM jsonb_array_elements_text({source} -> '{f.name}') v) AS \"{f.name}\""
            )
        else:
            cast = TYPED_COLUMNS.get(f.type, "") if typed else ""
            cols.append(f"({source} ->> '{f.name}'){cast} AS \"{f.name}\"")
    cols += [f'{sql} AS "{name}"' for name, sql in report_columns(view)]
    return ", ".join(cols)


def csv_copy_sql(view: View, where: Where) -> tuple[str, dict]:
    """COPY … TO STDOUT of the matching reports as CSV: id, lon, lat (a point on the surface), WKT, fields."""
    d = view.coordinate_digits
    g = geometry_sql(view)
    sql = f"""COPY (
        SELECT r.id, round(ST_X(ST_PointOnSurface(g))::numeric, {d}) AS lon,
               round(ST_Y(ST_PointOnSurface(g))::numeric, {d}) AS lat, ST_AsText(g, {d}) AS wkt,
               {field_columns_sql(view)}
        FROM {where.table} r CROSS JOIN LATERAL (SELECT {g} AS g) pg
        WHERE {where.sql} ORDER BY r.id) TO STDOUT WITH (FORMAT csv, HEADER)"""
    return sql, where.params


def wkb_rows_sql(view: View, where: Where) -> tuple[str, dict]:
    """Rows (WKB geometry, properties JSON text) for file exports, in id order."""
    sql = f"""
        SELECT ST_AsBinary(ST_QuantizeCoordinates({geometry_sql(view)}, {view.coordinate_digits})),
               (jsonb_build_object('id', r.id) || {properties_sql(view)})::text
        FROM {where.table} r WHERE {where.sql} ORDER BY r.id"""
    return sql, where.params
