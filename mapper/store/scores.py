"""SQL for scoring: hexagon binning and per-group inputs computed in PostGIS, score runs and results."""
from __future__ import annotations

import json

from psycopg2.extras import execute_values

from mapper.domain.lifecycle import PUBLIC_HIDDEN_STATUSES

HULL_SLICES = 256  # convex hulls are taken per slice of the reports (by id), then over the slices' hulls


def layer_filter(layer_id: str, *, window_days: int | None = None, where_field: str | None = None,
                 where_values=(), alias: str = "") -> tuple[str, dict]:
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


def study_area(cur, where: str, params: dict) -> dict:
    """Number of reports, their centroid (lon/lat) and convex-hull area in m² (geography).

    The hull is taken in two steps (hulls of 256 slices of the reports, then the hull of those), which gives
    the same polygon as one hull of all points at a fraction of the cost for a million points."""
    cur.execute(f"""
        WITH part AS (
            SELECT count(*) AS n, sum(ST_X(geom)) AS sx, sum(ST_Y(geom)) AS sy, ST_ConvexHull(ST_Collect(geom)) AS h
            FROM reports WHERE {where} GROUP BY id %% {HULL_SLICES}
        )
        SELECT sum(n)::bigint, sum(sx) / sum(n), sum(sy) / sum(n), ST_Area(ST_ConvexHull(ST_Collect(h))::geography)
        FROM part""", params)
    n, lon, lat, area = cur.fetchone()
    return {"n": n or 0, "lon": lon, "lat": lat, "area_m2": area or 0.0}


def hexagon_bins(cur, where: str, params: dict, *, srid: int, size: float, aggregates: dict[str, str]) -> list:
    """Every hexagon (edge ``size`` m, in ``srid``) meeting the reports' convex hull, with aggregates.

    Reports are binned arithmetically to the nearest hexagon centre of PostGIS's ``ST_HexagonGrid``
    layout (column i at x = 1.5·size·i, odd columns shifted up half a height), so a million points cost
    one pass; empty hexagons inside the hull come back with zero aggregates.
    Rows: i, j, centre x, centre y (metres), polygon WKB in WGS 84, then one value per aggregate.
    (``domain.hotspots.hexagon_centres`` gives the same centres exactly from i and j.)
    """
    agg_sql = ", ".join(f"{expr} AS {name}" for name, expr in aggregates.items())
    out_sql = ", ".join(f"coalesce(b.{name}, 0)" for name in aggregates)
    s, h = "%(s)s::float8", "%(h)s::float8"  # float8: a bare parameter is a numeric, and numeric arithmetic is slow
    # pts is materialised (it is read twice) and holds x and y: the CTEs below are inlined into one another,
    # so an ST_X(ST_Centroid(g)) there would be evaluated for every use, about twenty times per report.
    cur.execute(f"""
        WITH pts AS MATERIALIZED (
            SELECT ST_X(c) AS x, ST_Y(c) AS y, g, id, properties
            FROM (SELECT ST_Centroid(g) AS c, g, id, properties
                  FROM (SELECT ST_Transform(geom, %(srid)s) AS g, id, properties FROM reports WHERE {where}) r
                  OFFSET 0) t
        ), xy AS (
            SELECT x, y, properties, floor(x / (1.5 * {s}))::int AS i0 FROM pts
        ), cand AS (
            SELECT *, round((y - (abs(i0) %% 2) * {h} / 2) / {h})::int AS j0,
                      round((y - (abs(i0 + 1) %% 2) * {h} / 2) / {h})::int AS j1 FROM xy
        ), binned AS (
            SELECT CASE WHEN d0 <= d1 THEN i0 ELSE i0 + 1 END AS i, CASE WHEN d0 <= d1 THEN j0 ELSE j1 END AS j,
                   properties
            FROM (SELECT *, (x - 1.5 * {s} * i0) ^ 2 + (y - {h} * j0 - (abs(i0) %% 2) * {h} / 2) ^ 2 AS d0,
                            (x - 1.5 * {s} * (i0 + 1)) ^ 2
                            + (y - {h} * j1 - (abs(i0 + 1) %% 2) * {h} / 2) ^ 2 AS d1
                  FROM cand) c
        ), bins AS (
            SELECT i, j, {agg_sql} FROM binned GROUP BY i, j
        ), hull AS (
            SELECT ST_ConvexHull(ST_Collect(h)) AS h
            FROM (SELECT ST_ConvexHull(ST_Collect(g)) AS h FROM pts GROUP BY id %% {HULL_SLICES}) part
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
        ORDER BY g.i, g.j""", dict(params, srid=srid, s=size, h=size * 3 ** 0.5))
    return cur.fetchall()


def group_inputs(cur, where: str, params: dict, key_sql: str) -> list:
    """Reports grouped by ``key_sql`` (oldest first): key, ids, properties, private, statuses, times."""
    cur.execute(f"""
        SELECT {key_sql} AS key, array_agg(id ORDER BY observed_at, id), array_agg(properties ORDER BY observed_at, id),
               array_agg(private ORDER BY observed_at, id), array_agg(status ORDER BY observed_at, id),
               array_agg(observed_at ORDER BY observed_at, id), ST_AsBinary(ST_Centroid(ST_Collect(geom)))
        FROM reports WHERE {where} GROUP BY 1 ORDER BY 1""", params)
    return cur.fetchall()


def insert_run(cur, layer: str, method: str, version: str, params: dict, inputs: int) -> int:
    cur.execute("INSERT INTO score_runs (layer, method, method_version, params, inputs) VALUES (%s, %s, %s, %s, %s) "
                "RETURNING id", (layer, method, version, json.dumps(params, default=str), inputs))
    return cur.fetchone()[0]


def insert_scores(cur, run_id: int, layer: str, rows: list[tuple[str, list[int], dict]]) -> None:
    """Per-subject results (subject key, the report ids it was computed from, result)."""
    execute_values(cur, "INSERT INTO scores (run_id, layer, subject, report_ids, result) VALUES %s",
                   [(run_id, layer, key, ids, json.dumps(result, default=str)) for key, ids, result in rows])


def replace_derived(cur, collection: str, run_id: int, rows: list[tuple[bytes, dict, str, dict]]) -> None:
    """Publish a collection's new features (WKB, properties, status, private), replacing the previous run's."""
    cur.execute("DELETE FROM derived_features WHERE layer = %s", (collection,))
    execute_values(cur, "INSERT INTO derived_features (layer, run_id, geom, properties, status, private) VALUES %s",
                   [(collection, run_id, geom, json.dumps(props, default=str), status, json.dumps(private))
                    for geom, props, status, private in rows],
                   template="(%s, %s, ST_SetSRID(ST_GeomFromWKB(%s), 4326), %s, %s, %s)", page_size=2000)


def latest_scores_for_report(cur, layer: str, report_id: int) -> list:
    """The newest score of each method that used this report: run facts and the result."""
    cur.execute("""
        SELECT DISTINCT ON (r.method) r.id, r.method, r.method_version, r.params, r.inputs, r.computed_at,
               s.subject, s.report_ids, s.result
        FROM scores s JOIN score_runs r ON r.id = s.run_id
        WHERE s.layer = %s AND %s = ANY(s.report_ids)
        ORDER BY r.method, r.computed_at DESC, r.id DESC""", (layer, report_id))
    return cur.fetchall()


def latest_run_scores(cur, layer: str, method: str) -> tuple[tuple | None, list]:
    """The newest run of a method on a layer, and its results."""
    cur.execute("SELECT id, method, method_version, params, inputs, computed_at FROM score_runs "
                "WHERE layer = %s AND method = %s ORDER BY computed_at DESC, id DESC LIMIT 1", (layer, method))
    run = cur.fetchone()
    if run is None:
        return None, []
    cur.execute("SELECT subject, report_ids, result FROM scores WHERE run_id = %s ORDER BY subject", (run[0],))
    return run, cur.fetchall()


def derived_feature(cur, collection: str, feature_id: int):
    """A derived feature with its run: properties, status, run facts."""
    cur.execute("""
        SELECT f.id, f.properties, f.status, r.id, r.method, r.method_version, r.params, r.inputs, r.computed_at
        FROM derived_features f LEFT JOIN score_runs r ON r.id = f.run_id
        WHERE f.layer = %s AND f.id = %s""", (collection, feature_id))
    return cur.fetchone()


def run_count(cur, layer: str, method: str) -> int:
    cur.execute("SELECT count(*) FROM score_runs WHERE layer = %s AND method = %s", (layer, method))
    return cur.fetchone()[0]


def district_land_use(cur, where: str, params: dict, public_classes: list[str]) -> list:
    """Per district: name, WKB of the union, total area, public/green area, population, area by class (m²),
    report ids."""
    cur.execute(f"""
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
        GROUP BY p.district, c.classes ORDER BY p.district""", dict(params, public=public_classes))
    return cur.fetchall()


def transit_access(cur, where: str, params: dict, low_m: float, high_m: float) -> list:
    """Per report: id, nearest transit stop (name, feed, metres) and departures per day at the stops within
    ``low_m`` (bus, tram…) or ``high_m`` (rail, metro, ferry) on geodesic distance, and how many such stops.
    ``where`` comes from ``layer_filter(..., alias="r.")``."""
    cur.execute(f"""
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
        ORDER BY r.id""", dict(params, low=low_m, high=high_m))
    return cur.fetchall()
