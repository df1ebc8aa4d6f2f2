"""SQL for scoring: hexagon binning and per-group inputs computed in PostGIS, score runs and results.

Values and field names are bound through one ``Params`` per statement (``store.params``): ``layer_filter``
starts it, the readers of a score copy and extend it; field names enter as SQL literals, column names as
identifiers. The fields a score reads come from its method's declaration (``domain.score_methods``).
"""

from __future__ import annotations

import json
from contextlib import contextmanager

from psycopg2 import sql
from psycopg2.extras import execute_values

from mapper.domain.layers import Field, Layer
from mapper.domain.lifecycle import publicly_hidden
from mapper.store.features import field_text
from mapper.store.params import Params, name_ident


@contextmanager
def local_settings(cur, **settings):
    """The statements inside run with these planner settings; the session's own come back afterwards (an
    error rolls the transaction back, which undoes them too)."""
    cur.execute(
        sql.SQL("; ").join(
            sql.SQL("SET LOCAL {} = {}").format(name_ident(name), sql.Literal(str(value)))
            for name, value in settings.items()
        )
    )
    yield
    cur.execute(sql.SQL("; ").join(sql.SQL("RESET {}").format(name_ident(name)) for name in settings))


def layer_filter(
    layer: Layer,
    *,
    window_days: int | None = None,
    where_field: Field | None = None,
    where_values=(),
    alias: str = "",
) -> tuple[str, Params]:
    """The reports a score reads: the layer's, not hidden, optionally recent and of some categories (values of
    ``where_field``), and the ``Params`` the score's statements extend. ``alias`` qualifies the columns
    (``"r."``) for queries that join reports to other tables."""
    a, p = alias, Params()
    hidden = list(publicly_hidden(layer.moderation))
    where = f"{a}layer = {p.bind(layer.id)} AND {a}status <> ALL({p.bind(hidden)})"
    if window_days:
        where += f" AND {a}observed_at >= now() - make_interval(days => {p.bind(int(window_days))})"
    if where_field is not None:
        where += f" AND {p.part(field_text(where_field, a))} = ANY({p.bind(list(where_values))})"
    return where, p


def field_value(p: Params, f: Field | None, cast: str = "", default: str = "NULL") -> str:
    """SQL for a field's value (text, or with ``cast``), its SQL bound in ``p``; ``default`` when the layer
    has no such field (an optional field of a score method)."""
    return default if f is None else f"{p.part(field_text(f, alias=''))}{cast}"


def _inside(cur, polygon_sql: str, params: Params, *, geom: str, x: str, y: str) -> tuple[str, str]:
    """SQL true for ``geom`` strictly inside the polygon ``polygon_sql`` (never when that is no polygon), and
    the placeholder of that polygon (NULL when it is none); the values (the polygon, its inner box) are bound
    in ``params``, which ``polygon_sql`` reads. Points ``x``, ``y`` in a box inside the polygon (its bounding
    box shrunk towards its centroid until the corners are inside) pass at once; the others meet
    ``ST_Contains``."""
    cur.execute(
        f"""
        WITH p AS (
            SELECT k, ST_Centroid(k) AS c FROM ({polygon_sql}) p(k) WHERE GeometryType(k) = 'POLYGON'
        ), t AS (
            SELECT min(ST_Length(ST_Intersection(k, l)) / ST_Length(l)) * (1 - 1e-9) AS t
            FROM p, ST_DumpPoints(ST_Envelope(k)) d, ST_MakeLine(c, d.geom) l
        )
        SELECT ST_AsEWKB(k), ST_XMin(b), ST_XMax(b), ST_YMin(b), ST_YMax(b)
        FROM p, t, Box2D(ST_Scale(ST_Envelope(k), ST_MakePoint(t, t), c)) b""",
        params,
    )
    row = cur.fetchone()
    if row is None:
        return "false", params.bind(None)
    k, x0, x1, y0, y1 = (params.bind(v) for v in (bytes(row[0]), *row[1:]))
    box = f"({x}) > {x0}::float8 AND ({x}) < {x1}::float8 AND ({y}) > {y0}::float8 AND ({y}) < {y1}::float8"
    return f"({box}) OR ST_Contains({k}::geometry, {geom})", k


def study_area(cur, where: str, params: dict) -> dict:
    """Number of reports, their centroid (lon/lat), convex hull (WKB, WGS 84) and its area in m² (geography).

    The hull of a 1 % sample of the reports has reports for corners, so a report strictly inside it is no
    corner of the hull of all: only the others are collected for that hull."""
    p = Params(params)
    sample = f"SELECT ST_ConvexHull(ST_Collect(geom)) FROM reports TABLESAMPLE SYSTEM (1) REPEATABLE (0) WHERE {where}"
    inside, _ = _inside(cur, sample, p, geom="geom", x="ST_X(geom)", y="ST_Y(geom)")
    # plain aggregates over the table, read by two parallel workers (ST_Union, unlike ST_Collect, combines)
    with local_settings(cur, max_parallel_workers_per_gather=2):
        cur.execute(
            f"""
            SELECT n, lon, lat, ST_Area(hull::geography), ST_AsBinary(hull)
            FROM (SELECT count(*) AS n, avg(ST_X(geom)) AS lon, avg(ST_Y(geom)) AS lat,
                         ST_ConvexHull(ST_Union(geom) FILTER (WHERE NOT ({inside}))) AS hull
                  FROM reports WHERE {where}) a""",
            p,
        )
        n, lon, lat, area, hull = cur.fetchone()
    return {"n": n, "lon": lon, "lat": lat, "area_m2": area or 0.0, "hull": bytes(hull) if hull else None}


def hexagon_bins(
    cur,
    where: str,
    params: dict,
    *,
    srid: int,
    size: float,
    values: dict[str, str],
    aggregates: dict[str, str],
    inner: bytes | None = None,
) -> list:
    """Every hexagon (edge ``size`` m, in ``srid``) meeting the point reports' convex hull, with aggregates.

    ``values`` are SQL expressions over a report's columns (their values bound in ``params``), computed as the
    reports are read; ``aggregates`` are SQL aggregates over those values (by name). Reports are binned
    arithmetically to the nearest hexagon centre of PostGIS's ``ST_HexagonGrid`` layout (column i at
    x = 1.5·size·i, odd columns shifted up half a height), so a million points cost one pass; empty hexagons
    inside the hull come back with zero aggregates. ``inner`` (WKB, WGS 84) is a polygon with reports for
    corners (``study_area``'s hull): reports strictly inside it are no corners of the hull, so they are not
    collected for it.
    Rows: i, j, centre x, centre y (metres), polygon WKB in WGS 84, then one value per aggregate.
    (``domain.hotspots.hexagon_centres`` gives the same centres exactly from i and j.)
    """
    p = Params(params)
    srid_, s_ = p.bind(int(srid)), p.bind(float(size))
    names = {name: name_ident(name).as_string(cur) for name in {*values, *aggregates}}
    value_sql = "".join(f", {expr} AS {names[name]}" for name, expr in values.items())
    carry = "".join(f", {names[name]}" for name in values)
    agg_sql = ", ".join(f"{expr} AS {names[name]}" for name, expr in aggregates.items())
    out_sql = ", ".join(f"coalesce(b.{names[name]}, 0)" for name in aggregates)
    inside, polygon = _inside(
        cur,
        f"SELECT ST_ConvexHull(ST_Transform(ST_GeomFromWKB({p.bind(inner)}, 4326), {srid_}))",
        p,
        geom=f"ST_Point(x, y, {srid_})",
        x="x",
        y="y",
    )
    c, h = f"1.5 * {s_}::float8", f"{p.bind(size * 3**0.5)}::float8"  # float8: a bare parameter is a numeric (slow)
    # Each level is computed once per report: OFFSET 0 keeps the planner from inlining it into the next, which
    # would repeat the transformation for every use of x and y. A report goes to the nearer of the centres of
    # the nearest even column (de) and the nearest odd one (dodd); on a tie, to column floor(x / 1.5·size).
    # Two parallel workers read the reports, transform them and compute the values. The PostGIS functions'
    # cost estimates make sorting 1M rows look as cheap as hashing them: sorting is off.
    with local_settings(cur, max_parallel_workers_per_gather=2, enable_sort="off"):
        cur.execute(
            f"""
            WITH bins AS MATERIALIZED (
                SELECT CASE WHEN de < dodd OR (de = dodd AND a = 0) THEN i0 + a ELSE i0 + 1 - a END AS i,
                       CASE WHEN de < dodd OR (de = dodd AND a = 0) THEN je ELSE jo END AS j, {agg_sql},
                       ST_MemUnion(ST_Point(x, y, {srid_})) FILTER (WHERE NOT ({inside})) AS edge
                FROM (SELECT x, y, i0, i0 & 1 AS a, je, jo,
                             (x - {c} * (i0 + (i0 & 1))) ^ 2 + (y - {h} * je) ^ 2 AS de,
                             (x - {c} * (i0 + 1 - (i0 & 1))) ^ 2 + (y - {h} * jo - {h} / 2) ^ 2 AS dodd{carry}
                      FROM (SELECT p[0] AS x, p[1] AS y, floor(p[0] / ({c}))::int AS i0, round(p[1] / {h})::int AS je,
                                   round((p[1] - {h} / 2) / {h})::int AS jo{carry}
                            FROM (SELECT point(ST_Transform(geom, {srid_})) AS p{value_sql}
                                  FROM reports WHERE {where} OFFSET 0) r
                            OFFSET 0) u
                      OFFSET 0) v
                GROUP BY 1, 2
            ), hull AS MATERIALIZED (
                SELECT ST_ConvexHull(ST_Collect(ARRAY(SELECT edge FROM bins) || {polygon}::geometry)) AS h
            ), cells AS (
                SELECT hex.i, hex.j FROM hull, ST_HexagonGrid({s_}, hull.h) hex WHERE ST_Intersects(hex.geom, hull.h)
                UNION
                SELECT i, j FROM bins
            ), grid AS (
                SELECT i, j, ST_SetSRID(ST_Hexagon({s_}, i, j), {srid_}) AS geom FROM cells
            )
            SELECT g.i, g.j, ST_X(ST_Centroid(g.geom)), ST_Y(ST_Centroid(g.geom)),
                   ST_AsBinary(ST_Transform(g.geom, 4326)), {out_sql}
            FROM grid g LEFT JOIN bins b ON b.i = g.i AND b.j = g.j
            ORDER BY g.i, g.j""",
            p,
        )
        rows = cur.fetchall()
    return rows


def hotspot_bins(cur, where: str, params: dict, *, srid: int, size: float, inner: bytes | None, weight: Field | None):
    """``hexagon_bins`` for hot spots: per cell the reports, and their weights summed (field ``weight``, 1 when
    absent or empty)."""
    p = Params(params)
    return hexagon_bins(
        cur,
        where,
        p,
        srid=srid,
        size=size,
        inner=inner,
        values={"w": f"coalesce({field_value(p, weight, '::float8')}, 1)" if weight else "1::float8"},
        aggregates={"reports": "count(*)", "weight": "sum(w)"},
    )


def livability_bins(
    cur,
    where: str,
    params: dict,
    *,
    srid: int,
    size: float,
    inner: bytes | None,
    sentiment: Field,
    theme: Field | None,
    positive: str,
    negative: str,
    safety: str,
):
    """``hexagon_bins`` for livability: per cell the reports whose ``sentiment`` is ``positive`` and
    ``negative``, and among those whose ``theme`` is ``safety``, the positive ones and all."""
    p = Params(params)
    pos, neg, safe = p.bind(positive), p.bind(negative), p.bind(safety)
    return hexagon_bins(
        cur,
        where,
        p,
        srid=srid,
        size=size,
        inner=inner,
        values={"sentiment": field_value(p, sentiment), "theme": field_value(p, theme, default="NULL::text")},
        aggregates={
            "positive": f"count(*) FILTER (WHERE sentiment = {pos})",
            "negative": f"count(*) FILTER (WHERE sentiment = {neg})",
            "safety_pos": f"count(*) FILTER (WHERE theme = {safe} AND sentiment = {pos})",
            "safety_n": f"count(*) FILTER (WHERE theme = {safe})",
        },
    )


def group_inputs(
    cur, where: str, params: dict, *, name: Field | None, grid: float, subjects: list[str] | None = None
) -> list:
    """Reports grouped by the value of field ``name``, else (no name, or none given) by location snapped to
    ``grid`` degrees, oldest first: key, ids, properties, private, statuses, times, centroid; only the groups
    of ``subjects`` when given."""
    p = Params(params)
    key = subject_key_sql(p, name, grid)
    only = "" if subjects is None else f" AND {key} = ANY({p.bind(list(subjects))})"
    cur.execute(
        f"""
        SELECT {key} AS key, array_agg(id ORDER BY observed_at, id), array_agg(properties ORDER BY observed_at, id),
               array_agg(private ORDER BY observed_at, id), array_agg(status ORDER BY observed_at, id),
               array_agg(observed_at ORDER BY observed_at, id), ST_AsBinary(ST_Centroid(ST_Collect(geom)))
        FROM reports WHERE {where}{only} GROUP BY 1 ORDER BY 1""",
        p,
    )
    return cur.fetchall()


def subject_key_sql(p: Params, name: Field | None, grid: float) -> str:
    """The key grouping a layer's reports into score subjects: field ``name``'s value, else the location snapped
    to ``grid`` degrees (``group_inputs``' groups)."""
    return f"coalesce({field_value(p, name)}, ST_AsText(ST_SnapToGrid(geom, {p.bind(float(grid))})))"


def subjects_of(cur, layer: str, report_ids: list[int], *, name: Field | None, grid: float) -> list[str]:
    """The subjects ``report_ids`` of ``layer`` belong to (whatever their status: a report hidden or rejected
    leaves the subject it was part of)."""
    p = Params()
    cur.execute(
        f"SELECT DISTINCT {subject_key_sql(p, name, grid)} FROM reports WHERE layer = {p.bind(layer)} "
        f"AND id = ANY({p.bind(list(report_ids))})",
        p,
    )
    return [r[0] for r in cur.fetchall()]


def latest_run(cur, layer: str, method: str) -> dict | None:
    """The newest run of ``method`` on ``layer``: id, version, parameters (without data versions)."""
    cur.execute(
        "SELECT id, method_version, params - 'data_versions' FROM score_runs WHERE layer = %(layer)s "
        "AND method = %(method)s ORDER BY computed_at DESC, id DESC LIMIT 1",
        {"layer": layer, "method": method},
    )
    row = cur.fetchone()
    return None if row is None else {"id": row[0], "version": row[1], "params": row[2]}


def copy_scores(cur, from_run: int, to_run: int, except_subjects: list[str]) -> int:
    """Carry a run's results over to a newer run, but those of ``except_subjects`` (recomputed); how many."""
    cur.execute(
        "INSERT INTO scores (run_id, layer, subject, report_ids, result) SELECT %(to)s, layer, subject, "
        "report_ids, result FROM scores WHERE run_id = %(from)s AND subject <> ALL(%(except)s)",
        {"to": to_run, "from": from_run, "except": list(except_subjects)},
    )
    return cur.rowcount


def count_matching(cur, where: str, params: dict) -> int:
    cur.execute(f"SELECT count(*) FROM reports WHERE {where}", params)
    return cur.fetchone()[0]


def insert_run(cur, layer: str, method: str, version: str, params: dict, inputs: int, seen: dict[str, int]) -> int:
    """A run, its parameters and ``seen``: the data versions of the collections it read (``data_versions``,
    taken before reading them), kept as ``params.data_versions``. ``computed_at`` is the clock's time, not the
    transaction's start, so runs serialised by ``lock_layer`` are ordered as they were computed."""
    cur.execute(
        "INSERT INTO score_runs (layer, method, method_version, params, inputs, computed_at) "
        "VALUES (%(layer)s, %(method)s, %(version)s, %(params)s, %(inputs)s, clock_timestamp()) RETURNING id",
        {
            "layer": layer,
            "method": method,
            "version": version,
            "params": json.dumps({**params, "data_versions": seen}, default=str),
            "inputs": inputs,
        },
    )
    return cur.fetchone()[0]


def data_versions(cur, collections: list[str]) -> dict[str, int]:
    """The data version of each collection (``layer_versions``, bumped by triggers; 0 when it never had data)."""
    cur.execute(
        "SELECT c, coalesce(v.version, 0) FROM unnest(%(c)s::text[]) c LEFT JOIN layer_versions v ON v.layer = c",
        {"c": list(collections)},
    )
    return dict(cur.fetchall())


def _lock_key(purpose: str, layer: str) -> dict:
    return {"purpose": f"mapper.scores.{purpose}", "layer": layer}


def lock_layer(cur, purpose: str, layer: str) -> None:
    """Wait for, then hold until the transaction ends, the advisory lock on ``layer``'s runs for ``purpose``."""
    cur.execute("SELECT pg_advisory_xact_lock(hashtext(%(purpose)s), hashtext(%(layer)s))", _lock_key(purpose, layer))


def try_lock_layer(cur, purpose: str, layer: str) -> bool:
    """Take ``lock_layer``'s lock if nobody holds it (held until the transaction ends); False when taken."""
    cur.execute(
        "SELECT pg_try_advisory_xact_lock(hashtext(%(purpose)s), hashtext(%(layer)s))", _lock_key(purpose, layer)
    )
    return cur.fetchone()[0]


def stale_runs(cur, wanted: list[tuple[str, str, list[str]]], refresh_s: float) -> list[tuple[str, str]]:
    """Of ``wanted`` (layer, method, collections it reads), those whose newest run saw other data versions than
    the collections have now (no run: versions 0, so a collection that never had data asks for none), and that
    ran at least ``refresh_s`` seconds ago. One statement: the newest run of each by the (layer, method,
    computed_at) index, the versions by their primary key."""
    if not wanted:
        return []
    cur.execute(
        """
        SELECT w.layer, w.method
        FROM jsonb_to_recordset(%(wanted)s::jsonb) AS w(layer text, method text, reads text[])
        LEFT JOIN LATERAL (
            SELECT coalesce(r.params->'data_versions', '{}'::jsonb) AS seen, r.computed_at FROM score_runs r
            WHERE r.layer = w.layer AND r.method = w.method ORDER BY r.computed_at DESC, r.id DESC LIMIT 1
        ) last ON true
        WHERE (last.computed_at IS NULL OR last.computed_at <= now() - make_interval(secs => %(refresh)s))
          AND EXISTS (SELECT 1 FROM unnest(w.reads) c LEFT JOIN layer_versions v ON v.layer = c
                      WHERE coalesce(v.version, 0) <> coalesce((last.seen->>c)::bigint, 0))
        ORDER BY 1, 2""",
        {
            "wanted": json.dumps([{"layer": lid, "method": m, "reads": list(r)} for lid, m, r in wanted]),
            "refresh": float(refresh_s),
        },
    )
    return [tuple(row) for row in cur.fetchall()]


def insert_scores(cur, run_id: int, layer: str, rows: list[tuple[str, list[int], dict]]) -> None:
    """Per-subject results (subject key, the report ids it was computed from, result)."""
    execute_values(  # VALUES %s is execute_values' own marker for the rows, each filled in by ``template``
        cur,
        "INSERT INTO scores (run_id, layer, subject, report_ids, result) VALUES %s",
        [
            {"run": run_id, "layer": layer, "subject": key, "ids": ids, "result": json.dumps(result, default=str)}
            for key, ids, result in rows
        ],
        template="(%(run)s, %(layer)s, %(subject)s, %(ids)s, %(result)s)",
    )


def replace_derived(cur, collection: str, run_id: int, rows: list[tuple[bytes, dict, str, dict]]) -> None:
    """Publish a collection's new features (WKB, properties, status, private), replacing the previous run's."""
    cur.execute("DELETE FROM derived_features WHERE layer = %(layer)s", {"layer": collection})
    execute_values(
        cur,
        "INSERT INTO derived_features (layer, run_id, geom, properties, status, private) VALUES %s",
        [
            {
                "layer": collection,
                "run": run_id,
                "geom": geom,
                "props": json.dumps(props, default=str),
                "status": status,
                "private": json.dumps(private),
            }
            for geom, props, status, private in rows
        ],
        template="(%(layer)s, %(run)s, ST_SetSRID(ST_GeomFromWKB(%(geom)s), 4326), %(props)s, %(status)s, %(private)s)",
        page_size=2000,
    )


def visible_sql(scope: list[str]) -> str:
    """SQL true for a ``scores`` row (alias s) all of whose reports meet ``scope``: a view's layer and
    visibility clauses over ``reports r`` (``store.features.Where.scope``), so a score computed from a report
    the view may not see (hidden since) is not shown to it."""
    return (
        "NOT EXISTS (SELECT 1 FROM unnest(s.report_ids) u(id) "
        f"WHERE NOT EXISTS (SELECT 1 FROM reports r WHERE r.id = u.id AND {' AND '.join(scope)}))"
    )


def latest_scores_for_report(cur, layer: str, report_id: int, scope: list[str], params: dict) -> list:
    """The newest score of each method that used this report and only reports meeting ``scope`` (a view's
    layer and visibility clauses, with ``params``): run facts and the result."""
    p = Params(params)
    cur.execute(
        f"""
        SELECT DISTINCT ON (sr.method) sr.id, sr.method, sr.method_version, sr.params, sr.inputs, sr.computed_at,
               s.subject, s.report_ids, s.result
        FROM scores s JOIN score_runs sr ON sr.id = s.run_id
        WHERE s.layer = {p.bind(layer)} AND {p.bind(int(report_id))} = ANY(s.report_ids) AND {visible_sql(scope)}
        ORDER BY sr.method, sr.computed_at DESC, sr.id DESC""",
        p,
    )
    return cur.fetchall()


def latest_run_scores(cur, layer: str, method: str, scope: list[str], params: dict) -> tuple[tuple | None, list]:
    """The newest run of a method on a layer, and its results computed from reports meeting ``scope`` only (a
    view's layer and visibility clauses, with ``params``)."""
    cur.execute(
        "SELECT id, method, method_version, params, inputs, computed_at FROM score_runs "
        "WHERE layer = %(layer)s AND method = %(method)s ORDER BY computed_at DESC, id DESC LIMIT 1",
        {"layer": layer, "method": method},
    )
    run = cur.fetchone()
    if run is None:
        return None, []
    p = Params(params)
    cur.execute(
        f"SELECT subject, report_ids, result FROM scores s WHERE run_id = {p.bind(run[0])} AND {visible_sql(scope)} "
        "ORDER BY subject",
        p,
    )
    return run, cur.fetchall()


def derived_feature(cur, feature_id: int, scope: list[str], params: dict):
    """A derived feature meeting ``scope`` (a view's layer and visibility clauses over ``derived_features r``,
    with ``params``) with its run: properties, status, run facts."""
    p = Params(params)
    cur.execute(
        f"""
        SELECT r.id, r.properties, r.status, sr.id, sr.method, sr.method_version, sr.params, sr.inputs,
               sr.computed_at
        FROM derived_features r LEFT JOIN score_runs sr ON sr.id = r.run_id
        WHERE {" AND ".join(scope)} AND r.id = {p.bind(int(feature_id))}""",
        p,
    )
    return cur.fetchone()


def latest_runs(cur, wanted: list[tuple[str, str]]) -> dict[tuple[str, str], tuple]:
    """(computed_at, inputs) of the newest run of each (layer, method) of ``wanted`` that has run."""
    if not wanted:
        return {}
    cur.execute(
        """SELECT DISTINCT ON (r.layer, r.method) r.layer, r.method, r.computed_at, r.inputs
           FROM score_runs r JOIN unnest(%(layers)s::text[], %(methods)s::text[]) w(layer, method)
             ON r.layer = w.layer AND r.method = w.method
           ORDER BY r.layer, r.method, r.computed_at DESC""",
        {"layers": [layer for layer, _ in wanted], "methods": [method for _, method in wanted]},
    )
    return {(layer, method): (at, inputs) for layer, method, at, inputs in cur.fetchall()}


def run_count(cur, layer: str, method: str) -> int:
    cur.execute(
        "SELECT count(*) FROM score_runs WHERE layer = %(layer)s AND method = %(method)s",
        {"layer": layer, "method": method},
    )
    return cur.fetchone()[0]


def district_land_use(
    cur,
    where: str,
    params: dict,
    *,
    land_class: Field,
    district: Field | None,
    population: Field | None,
    public_classes: list[str],
) -> list:
    """Per district (the value of field ``district``, else ``unknown``): name, WKB of the union, total area,
    public/green area (parcels whose ``land_class`` is one of ``public_classes``), population (the sum of
    field ``population``), area by class (m²), report ids."""
    p = Params(params)
    cur.execute(
        f"""
        WITH parcels AS (
            SELECT id, coalesce({field_value(p, district)}, 'unknown') AS district,
                   {field_value(p, land_class)} AS cls, ST_Area(geom::geography) AS area,
                   {field_value(p, population, "::bigint", default="NULL::bigint")} AS population, geom
            FROM reports WHERE {where}
        ), by_class AS (
            SELECT district, jsonb_object_agg(cls, area) AS classes
            FROM (SELECT district, cls, sum(area) AS area FROM parcels GROUP BY 1, 2) c GROUP BY 1
        )
        SELECT p.district, ST_AsBinary(ST_Multi(ST_Union(p.geom))), sum(p.area),
               coalesce(sum(p.area) FILTER (WHERE p.cls = ANY({p.bind(list(public_classes))})), 0), sum(p.population),
               c.classes, array_agg(p.id ORDER BY p.id)
        FROM parcels p JOIN by_class c USING (district)
        GROUP BY p.district, c.classes ORDER BY p.district""",
        p,
    )
    return cur.fetchall()


def transit_access(cur, where: str, params: dict, low_m: float, high_m: float) -> list:
    """Per report: id, nearest transit stop (name, feed, metres) and departures per day at the stops within
    ``low_m`` (bus, tram…) or ``high_m`` (rail, metro, ferry) on geodesic distance, and how many such stops.
    ``where`` comes from ``layer_filter(..., alias="r.")``."""
    p = Params(params)
    stops, low, high = p.bind("transit_stops"), p.bind(float(low_m)), p.bind(float(high_m))
    key = {name: p.literal(name) for name in ("stop_name", "feed", "service_date", "trips_per_day", "high_capacity")}
    cur.execute(
        f"""
        SELECT r.id, n.stop_name, n.feed, n.metres, coalesce(w.departures, 0), coalesce(w.stops, 0), n.service_date
        FROM reports r
        LEFT JOIN LATERAL (
            SELECT d.properties ->> {key["stop_name"]} AS stop_name, d.properties ->> {key["feed"]} AS feed,
                   d.properties ->> {key["service_date"]} AS service_date,
                   ST_Distance(d.geom::geography, ST_Centroid(r.geom)::geography) AS metres
            FROM derived_features d WHERE d.layer = {stops}
            ORDER BY d.geom <-> ST_Centroid(r.geom) LIMIT 1
        ) n ON true
        LEFT JOIN LATERAL (
            SELECT sum((d.properties ->> {key["trips_per_day"]})::int) AS departures, count(*) AS stops
            FROM derived_features d
            WHERE d.layer = {stops}
              AND ST_DWithin(d.geom::geography, ST_Centroid(r.geom)::geography, {high})
              AND ST_DWithin(d.geom::geography, ST_Centroid(r.geom)::geography,
                             CASE WHEN (d.properties ->> {key["high_capacity"]})::boolean THEN {high} ELSE {low} END)
        ) w ON true
        WHERE {where}
        ORDER BY r.id""",
        p,
    )
    return cur.fetchall()
