"""SQL for scoring: hexagon binning and per-group inputs computed in PostGIS, score runs and results."""

from __future__ import annotations

import json
from contextlib import contextmanager

from psycopg2.extras import execute_values

from mapper.domain.lifecycle import PUBLIC_HIDDEN_STATUSES


@contextmanager
def local_settings(cur, **settings):
    """The statements inside run with these planner settings; the session's own come back afterwards (an
    error rolls the transaction back, which undoes them too)."""
    cur.execute("; ".join(f"SET LOCAL {name} = {value}" for name, value in settings.items()))
    yield
    cur.execute("; ".join(f"RESET {name}" for name in settings))


def layer_filter(
    layer_id: str, *, window_days: int | None = None, where_field: str | None = None, where_values=(), alias: str = ""
) -> tuple[str, dict]:
    """The reports a score reads: the layer's, not hidden, optionally recent and of some categories.
    ``alias`` qualifies the columns (``"r."``) for queries that join reports to other tables."""
    a = alias
    sql = f"{a}layer = %(layer)s AND {a}status <> ALL(%(hidden)s)"
    params = {"layer": layer_id, "hidden": list(PUBLIC_HIDDEN_STATUSES)}
    if window_days:
        sql += f" AND {a}observed_at >= now() - make_interval(days => %(days)s)"
        params["days"] = int(window_days)
    if where_field:
        sql += f" AND {a}properties ->> '{where_field}' = ANY(%(values)s)"  # field name checked by the registry
        params["values"] = list(where_values)
    return sql, params


def _inside(cur, polygon_sql: str, params: dict, *, geom: str, x: str, y: str) -> tuple[str, dict]:
    """SQL true for ``geom`` strictly inside the polygon ``polygon_sql`` (never when that is no polygon), and
    its parameters (the polygon is ``in_k``). Points ``x``, ``y`` in a box inside the polygon (its bounding box
    shrunk towards its centroid until the corners are inside) pass at once; the others meet ``ST_Contains``."""
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
        return "false", {"in_k": None}
    box = (
        f"({x}) > %(in_x0)s::float8 AND ({x}) < %(in_x1)s::float8 "
        f"AND ({y}) > %(in_y0)s::float8 AND ({y}) < %(in_y1)s::float8"
    )
    return (
        f"({box}) OR ST_Contains(%(in_k)s::geometry, {geom})",
        dict(zip(("in_k", "in_x0", "in_x1", "in_y0", "in_y1"), (bytes(row[0]), *row[1:]), strict=True)),
    )


def study_area(cur, where: str, params: dict) -> dict:
    """Number of reports, their centroid (lon/lat), convex hull (WKB, WGS 84) and its area in m² (geography).

    The hull of a 1 % sample of the reports has reports for corners, so a report strictly inside it is no
    corner of the hull of all: only the others are collected for that hull."""
    sample = f"SELECT ST_ConvexHull(ST_Collect(geom)) FROM reports TABLESAMPLE SYSTEM (1) REPEATABLE (0) WHERE {where}"
    inside, in_params = _inside(cur, sample, params, geom="geom", x="ST_X(geom)", y="ST_Y(geom)")
    # plain aggregates over the table, read by two parallel workers (ST_Union, unlike ST_Collect, combines)
    with local_settings(cur, max_parallel_workers_per_gather=2):
        cur.execute(
            f"""
            SELECT n, lon, lat, ST_Area(hull::geography), ST_AsBinary(hull)
            FROM (SELECT count(*) AS n, avg(ST_X(geom)) AS lon, avg(ST_Y(geom)) AS lat,
                         ST_ConvexHull(ST_Union(geom) FILTER (WHERE NOT ({inside}))) AS hull
                  FROM reports WHERE {where}) a""",
            dict(params, **in_params),
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

    ``values`` are SQL expressions over a report's columns, computed as the reports are read; ``aggregates``
    are SQL aggregates over those values (by name). Reports are binned arithmetically to the nearest hexagon
    centre of PostGIS's ``ST_HexagonGrid`` layout (column i at x = 1.5·size·i, odd columns shifted up half a
    height), so a million points cost one pass; empty hexagons inside the hull come back with zero
    aggregates. ``inner`` (WKB, WGS 84) is a polygon with reports for corners (``study_area``'s hull): reports
    strictly inside it are no corners of the hull, so they are not collected for it.
    Rows: i, j, centre x, centre y (metres), polygon WKB in WGS 84, then one value per aggregate.
    (``domain.hotspots.hexagon_centres`` gives the same centres exactly from i and j.)
    """
    value_sql = "".join(f", {expr} AS {name}" for name, expr in values.items())
    carry = "".join(f", {name}" for name in values)
    agg_sql = ", ".join(f"{expr} AS {name}" for name, expr in aggregates.items())
    out_sql = ", ".join(f"coalesce(b.{name}, 0)" for name in aggregates)
    inside, in_params = _inside(
        cur,
        "SELECT ST_ConvexHull(ST_Transform(ST_GeomFromWKB(%(inner)s, 4326), %(srid)s))",
        {"inner": inner, "srid": srid},
        geom="ST_Point(x, y, %(srid)s)",
        x="x",
        y="y",
    )
    c, h = "1.5 * %(s)s::float8", "%(h)s::float8"  # float8: a bare parameter is a numeric, which is slow
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
                       ST_MemUnion(ST_Point(x, y, %(srid)s)) FILTER (WHERE NOT ({inside})) AS edge
                FROM (SELECT x, y, i0, i0 & 1 AS a, je, jo,
                             (x - {c} * (i0 + (i0 & 1))) ^ 2 + (y - {h} * je) ^ 2 AS de,
                             (x - {c} * (i0 + 1 - (i0 & 1))) ^ 2 + (y - {h} * jo - {h} / 2) ^ 2 AS dodd{carry}
                      FROM (SELECT p[0] AS x, p[1] AS y, floor(p[0] / ({c}))::int AS i0, round(p[1] / {h})::int AS je,
                                   round((p[1] - {h} / 2) / {h})::int AS jo{carry}
                            FROM (SELECT point(ST_Transform(geom, %(srid)s)) AS p{value_sql}
                                  FROM reports WHERE {where} OFFSET 0) r
                            OFFSET 0) u
                      OFFSET 0) v
                GROUP BY 1, 2
            ), hull AS MATERIALIZED (
                SELECT ST_ConvexHull(ST_Collect(ARRAY(SELECT edge FROM bins) || %(in_k)s::geometry)) AS h
            ), cells AS (
                SELECT hex.i, hex.j FROM hull, ST_HexagonGrid(%(s)s, hull.h) hex WHERE ST_Intersects(hex.geom, hull.h)
                UNION
                SELECT i, j FROM bins
            ), grid AS (
                SELECT i, j, ST_SetSRID(ST_Hexagon(%(s)s, i, j), %(srid)s) AS geom FROM cells
            )
            SELECT g.i, g.j, ST_X(ST_Centroid(g.geom)), ST_Y(ST_Centroid(g.geom)),
                   ST_AsBinary(ST_Transform(g.geom, 4326)), {out_sql}
            FROM grid g LEFT JOIN bins b ON b.i = g.i AND b.j = g.j
            ORDER BY g.i, g.j""",
            dict(params, **in_params, srid=srid, s=size, h=size * 3**0.5),
        )
        rows = cur.fetchall()
    return rows


def group_inputs(cur, where: str, params: dict, key_sql: str) -> list:
    """Reports grouped by ``key_sql`` (oldest first): key, ids, properties, private, statuses, times."""
    cur.execute(
        f"""
        SELECT {key_sql} AS key, array_agg(id ORDER BY observed_at, id), array_agg(properties ORDER BY observed_at, id),
               array_agg(private ORDER BY observed_at, id), array_agg(status ORDER BY observed_at, id),
               array_agg(observed_at ORDER BY observed_at, id), ST_AsBinary(ST_Centroid(ST_Collect(geom)))
        FROM reports WHERE {where} GROUP BY 1 ORDER BY 1""",
        params,
    )
    return cur.fetchall()


def insert_run(cur, layer: str, method: str, version: str, params: dict, inputs: int) -> int:
    cur.execute(
        "INSERT INTO score_runs (layer, method, method_version, params, inputs) VALUES (%s, %s, %s, %s, %s) "
        "RETURNING id",
        (layer, method, version, json.dumps(params, default=str), inputs),
    )
    return cur.fetchone()[0]


def insert_scores(cur, run_id: int, layer: str, rows: list[tuple[str, list[int], dict]]) -> None:
    """Per-subject results (subject key, the report ids it was computed from, result)."""
    execute_values(
        cur,
        "INSERT INTO scores (run_id, layer, subject, report_ids, result) VALUES %s",
        [(run_id, layer, key, ids, json.dumps(result, default=str)) for key, ids, result in rows],
    )


def replace_derived(cur, collection: str, run_id: int, rows: list[tuple[bytes, dict, str, dict]]) -> None:
    """Publish a collection's new features (WKB, properties, status, private), replacing the previous run's."""
    cur.execute("DELETE FROM derived_features WHERE layer = %s", (collection,))
    execute_values(
        cur,
        "INSERT INTO derived_features (layer, run_id, geom, properties, status, private) VALUES %s",
        [
            (collection, run_id, geom, json.dumps(props, default=str), status, json.dumps(private))
            for geom, props, status, private in rows
        ],
        template="(%s, %s, ST_SetSRID(ST_GeomFromWKB(%s), 4326), %s, %s, %s)",
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
    cur.execute(
        f"""
        SELECT DISTINCT ON (sr.method) sr.id, sr.method, sr.method_version, sr.params, sr.inputs, sr.computed_at,
               s.subject, s.report_ids, s.result
        FROM scores s JOIN score_runs sr ON sr.id = s.run_id
        WHERE s.layer = %(score_layer)s AND %(report_id)s = ANY(s.report_ids) AND {visible_sql(scope)}
        ORDER BY sr.method, sr.computed_at DESC, sr.id DESC""",
        dict(params, score_layer=layer, report_id=report_id),
    )
    return cur.fetchall()


def latest_run_scores(cur, layer: str, method: str, scope: list[str], params: dict) -> tuple[tuple | None, list]:
    """The newest run of a method on a layer, and its results computed from reports meeting ``scope`` only (a
    view's layer and visibility clauses, with ``params``)."""
    cur.execute(
        "SELECT id, method, method_version, params, inputs, computed_at FROM score_runs "
        "WHERE layer = %s AND method = %s ORDER BY computed_at DESC, id DESC LIMIT 1",
        (layer, method),
    )
    run = cur.fetchone()
    if run is None:
        return None, []
    cur.execute(
        f"SELECT subject, report_ids, result FROM scores s WHERE run_id = %(run)s AND {visible_sql(scope)} "
        "ORDER BY subject",
        dict(params, run=run[0]),
    )
    return run, cur.fetchall()


def derived_feature(cur, feature_id: int, scope: list[str], params: dict):
    """A derived feature meeting ``scope`` (a view's layer and visibility clauses over ``derived_features r``,
    with ``params``) with its run: properties, status, run facts."""
    cur.execute(
        f"""
        SELECT r.id, r.properties, r.status, sr.id, sr.method, sr.method_version, sr.params, sr.inputs,
               sr.computed_at
        FROM derived_features r LEFT JOIN score_runs sr ON sr.id = r.run_id
        WHERE {" AND ".join(scope)} AND r.id = %(feature_id)s""",
        dict(params, feature_id=feature_id),
    )
    return cur.fetchone()


def run_count(cur, layer: str, method: str) -> int:
    cur.execute("SELECT count(*) FROM score_runs WHERE layer = %s AND method = %s", (layer, method))
    return cur.fetchone()[0]


def district_land_use(cur, where: str, params: dict, public_classes: list[str]) -> list:
    """Per district: name, WKB of the union, total area, public/green area, population, area by class (m²),
    report ids."""
    cur.execute(
        f"""
        WITH parcels AS (
            SELECT id, coalesce(properties ->> 'district', 'unknown') AS district,
                   properties ->> 'land_class' AS cls, ST_Area(geom::geography) AS area,
                   (properties ->> 'population')::bigint AS population, geom
            FROM reports WHERE {where}
        ), by_class AS (
            SELECT district, jsonb_object_agg(cls, area) AS classes
            FROM (SELECT district, cls, sum(area) AS area FROM parcels GROUP BY 1, 2) c GROUP BY 1
        )
        SELECT p.district, ST_AsBinary(ST_Multi(ST_Union(p.geom))), sum(p.area),
               coalesce(sum(p.area) FILTER (WHERE p.cls = ANY(%(public)s)), 0), sum(p.population), c.classes,
               array_agg(p.id ORDER BY p.id)
        FROM parcels p JOIN by_class c USING (district)
        GROUP BY p.district, c.classes ORDER BY p.district""",
        dict(params, public=public_classes),
    )
    return cur.fetchall()


def transit_access(cur, where: str, params: dict, low_m: float, high_m: float) -> list:
    """Per report: id, nearest transit stop (name, feed, metres) and departures per day at the stops within
    ``low_m`` (bus, tram…) or ``high_m`` (rail, metro, ferry) on geodesic distance, and how many such stops.
    ``where`` comes from ``layer_filter(..., alias="r.")``."""
    cur.execute(
        f"""
        SELECT r.id, n.stop_name, n.feed, n.metres, coalesce(w.departures, 0), coalesce(w.stops, 0), n.service_date
        FROM reports r
        LEFT JOIN LATERAL (
            SELECT d.properties ->> 'stop_name' AS stop_name, d.properties ->> 'feed' AS feed,
                   d.properties ->> 'service_date' AS service_date,
                   ST_Distance(d.geom::geography, ST_Centroid(r.geom)::geography) AS metres
            FROM derived_features d WHERE d.layer = 'transit_stops'
            ORDER BY d.geom <-> ST_Centroid(r.geom) LIMIT 1
        ) n ON true
        LEFT JOIN LATERAL (
            SELECT sum((d.properties ->> 'trips_per_day')::int) AS departures, count(*) AS stops
            FROM derived_features d
            WHERE d.layer = 'transit_stops'
              AND ST_DWithin(d.geom::geography, ST_Centroid(r.geom)::geography, %(high)s)
              AND ST_DWithin(d.geom::geography, ST_Centroid(r.geom)::geography,
                             CASE WHEN (d.properties ->> 'high_capacity')::boolean THEN %(high)s ELSE %(low)s END)
        ) w ON true
        WHERE {where}
        ORDER BY r.id""",
        dict(params, low=low_m, high=high_m),
    )
    return cur.fetchall()
