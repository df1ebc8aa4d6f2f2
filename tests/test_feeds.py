"""Layer feeds checked with real clients nobody here wrote: GDAL's OAPIF and MVT drivers (pyogrio), OWSLib;
exports re-read with pyogrio; CQL2, paging, antimeridian, datetime, privacy and caching over real HTTP."""

import json
import re
import zipfile

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import requests
import shapely
from sqlalchemy import text
from werkzeug.test import Client

from mapper.services.importer import import_frame
from mapper.services.tokens import create_api_token
from tests.reports import publish

N_CRIME = 240
SECRET = "SECRET-WITNESS-NAME"


@pytest.fixture(scope="module")
def feed_data(engine, registry):
    """A known data set: crime reports (some hidden, some near the antimeridian) and land-use polygons."""
    with engine.begin() as conn:
        conn.execute(
            text("TRUNCATE status_history, reports, imports, idempotency_keys, api_tokens RESTART IDENTITY CASCADE")
        )
    rng = np.random.default_rng(7)
    lon = np.concatenate([rng.uniform(-83.1, -82.9, N_CRIME - 4), [179.95, -179.95, 179.99, 10.0]])
    lat = np.concatenate([rng.uniform(39.9, 40.05, N_CRIME - 4), [0.5, -0.5, 60.0, 10.0]])
    months = rng.integers(1, 13, N_CRIME)
    crime = gpd.GeoDataFrame(
        {
            "category": rng.choice(["theft", "burglary", "assault"], N_CRIME),
            "severity": rng.integers(1, 6, N_CRIME),
            "occurred_at": [f"2025-{m:02d}-15T12:00:00Z" for m in months],
            "description": [f"{SECRET} {i}" for i in range(N_CRIME)],
            "reporter_name": "Ana Reporter",
        },
        geometry=shapely.points(lon, lat),
        crs=4326,
    )
    import_frame(engine, registry.get("crime"), crime, "crime.gpkg")
    land = gpd.GeoDataFrame(
        {"land_class": ["titled", "public_space", "reserved"], "area_m2": [1.5, 2.5, 3.5]},
        geometry=[shapely.box(-83 + i / 100, 39.9, -82.995 + i / 100, 39.905) for i in range(3)],
        crs=4326,
    )
    import_frame(engine, registry.get("land_use"), land, "land.gpkg")
    with engine.begin() as conn:
        conn.execute(text("UPDATE reports SET status = 'hidden' WHERE layer = 'crime' AND id IN (2, 3)"))
        exact = {
            r.id: (r.x, r.y)
            for r in conn.execute(text("SELECT id, ST_X(geom) x, ST_Y(geom) y FROM reports WHERE layer = 'crime'"))
        }
    return {"exact": exact, "visible": N_CRIME - 2, "months": months}


def get(base, path, **params):
    return requests.get(base + path, params=params, timeout=30)


# --- OGC API – Features, by the real clients -----------------------------------------------------------------
def test_gdal_oapif_reads_the_same_features_as_the_database(live_server, feed_data):
    df = pyogrio.read_dataframe(f"OAPIF:{live_server}/ogc", layer="crime")
    assert len(df) == feed_data["visible"]
    assert {"category", "severity", "occurred_at", "status"} <= set(df.columns)
    assert "description" not in df.columns and "reporter_name" not in df.columns
    assert set(df["category"]) <= {"theft", "burglary", "assault"}
    polys = pyogrio.read_dataframe(f"OAPIF:{live_server}/ogc", layer="land_use")
    assert len(polys) == 3 and set(polys["land_class"]) == {"titled", "public_space", "reserved"}
    assert polys.geometry.iloc[0].geom_type == "Polygon"


def test_gdal_oapif_pushes_attribute_filters_down(live_server, feed_data):
    df = pyogrio.read_dataframe(f"OAPIF:{live_server}/ogc", layer="crime", where="category = 'theft'")
    assert len(df) > 0 and set(df["category"]) == {"theft"}


def test_owslib_lists_collections_and_reads_items(live_server, feed_data):
    from owslib.ogcapi.features import Features

    api = Features(f"{live_server}/ogc")
    ids = [c["id"] for c in api.collections()["collections"]]
    assert {"crime", "water_quality", "health_centres", "urban_life", "land_use"} <= set(ids)
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in api.conformance()["conformsTo"]
    items = api.collection_items("crime", limit=7)
    assert items["numberReturned"] == 7 and len(items["features"]) == 7
    assert api.collection("crime")["extent"]["spatial"]["bbox"][0][0] <= -179.9
    assert api.api()["openapi"].startswith("3.0")


def test_paging_to_the_last_page_and_back(live_server, feed_data):
    url, seen, pages = f"{live_server}/ogc/collections/crime/items?limit=50", [], 0
    first = None
    while url:
        doc = requests.get(url, timeout=30).json()
        first = first or doc
        seen += [f["id"] for f in doc["features"]]
        pages += 1
        url = next((lk["href"] for lk in doc["links"] if lk["rel"] == "next"), None)
        last = doc
    assert first["numberMatched"] == feed_data["visible"]
    assert seen == sorted(seen) and len(seen) == len(set(seen)) == feed_data["visible"]
    assert pages == -(-feed_data["visible"] // 50)
    assert 2 not in seen and 3 not in seen
    prev = next(lk["href"] for lk in last["links"] if lk["rel"] == "prev")
    back = requests.get(prev, timeout=30).json()
    assert [f["id"] for f in back["features"]] == seen[-len(last["features"]) - 50 : -len(last["features"])]


def test_limit_is_clamped_and_bad_parameters_are_400(live_server, feed_data):
    doc = get(live_server, "/ogc/collections/crime/items", limit=50000).json()
    assert doc["numberReturned"] == feed_data["visible"]  # clamped to 10,000, all fit
    for params in (
        {"limit": "0"},
        {"limit": "ten"},
        {"bbox": "1,2,3"},
        {"bbox": "0,50,1,40"},
        {"datetime": "yesterday"},
        {"severity": "high"},
        {"colour": "red"},
        {"cursor": "x1"},
    ):
        r = get(live_server, "/ogc/collections/crime/items", **params)
        assert r.status_code == 400, params
        assert r.headers["Content-Type"] == "application/problem+json"
        assert r.json()["errors"][0]["field"] == next(iter(params))
    assert get(live_server, "/ogc/collections/nope/items").status_code == 404


def test_bbox_crossing_the_antimeridian(live_server, feed_data):
    doc = get(live_server, "/ogc/collections/crime/items", bbox="179,-1,-179,1").json()
    lons = sorted(f["geometry"]["coordinates"][0] for f in doc["features"])
    assert len(lons) == 2 and lons[0] < -179 and lons[1] > 179
    assert get(live_server, "/ogc/collections/crime/items", bbox="179,-1,-179,1").json()["numberMatched"] == 2


def test_datetime_instant_closed_and_open_intervals(live_server, feed_data, engine):
    def n(dt):
        return get(live_server, "/ogc/collections/crime/items", datetime=dt, limit=1000).json()["numberReturned"]

    with engine.connect() as conn:

        def db(where):
            return conn.execute(
                text(f"SELECT count(*) FROM reports WHERE layer = 'crime' AND status <> 'hidden' AND {where}")
            ).scalar()

        assert n("2025-03-15T12:00:00Z") == db("observed_at = '2025-03-15T12:00:00Z'")
        assert n("2025-03-01T00:00:00Z/2025-05-31T23:59:59Z") == db(
            "observed_at BETWEEN '2025-03-01' AND '2025-05-31T23:59:59Z'"
        )
        assert n("2025-06-01T00:00:00Z/..") == db("observed_at >= '2025-06-01'")
        assert n("../2025-06-01T00:00:00Z") == db("observed_at <= '2025-06-01'")
        assert n("2025-06-15") == db("observed_at::date = '2025-06-15'")
    assert 0 < n("2025-06-01T00:00:00Z/..") < feed_data["visible"]


CQL = [
    ("severity >= 4", "severity >= 4"),
    ("category = 'theft' AND severity < 3", "properties->>'category' = 'theft' AND severity < 3"),
    (
        "category = 'theft' OR NOT severity BETWEEN 2 AND 4",
        "properties->>'category' = 'theft' OR NOT severity BETWEEN 2 AND 4",
    ),
    ("category LIKE 'bur%'", "properties->>'category' LIKE 'bur%'"),
    ("category IN ('theft', 'assault')", "properties->>'category' IN ('theft', 'assault')"),
    (
        "S_INTERSECTS(geometry, POLYGON((-83.1 39.9, -83 39.9, -83 40, -83.1 40, -83.1 39.9)))",
        "ST_Intersects(pg, ST_GeomFromText('POLYGON((-83.1 39.9, -83 39.9, -83 40, -83.1 40, -83.1 39.9))', 4326))",
    ),
    ("T_INTERSECTS(occurred_at, INTERVAL('2025-02-01T00:00:00Z', '..'))", "observed_at >= '2025-02-01'"),
    (
        "T_INTERSECTS(occurred_at, INTERVAL('2025-02-01T00:00:00Z', '2025-04-30T00:00:00Z'))",
        "observed_at BETWEEN '2025-02-01' AND '2025-04-30'",
    ),
]


@pytest.mark.parametrize("cql,sql", CQL, ids=[c[0][:40] for c in CQL])
def test_cql2_filters_match_the_same_sql(live_server, feed_data, engine, cql, sql):
    doc = get(live_server, "/ogc/collections/crime/items", filter=cql, limit=1000).json()
    from mapper.config import PROJECT_ROOT
    from mapper.domain.layers import load_registry

    # the published location, recomputed from the exact one with the one definition of a generalised point
    pg = f"mapper_public_point(geom, {load_registry(PROJECT_ROOT / 'layers').get('crime').precision_m!r})"
    sql = (
        sql.replace("severity", "(properties->>'severity')::int")
        .replace("pg", pg, 1)
        .replace("ST_Intersects((properties->>'severity')::int", "ST_Intersects(severity")
    )
    with engine.connect() as conn:
        ids = (
            conn.execute(
                text(f"SELECT id FROM reports WHERE layer = 'crime' AND status <> 'hidden' AND ({sql}) ORDER BY id")
            )
            .scalars()
            .all()
        )
    assert [f["id"] for f in doc["features"]] == ids
    assert 0 < len(ids) < feed_data["visible"]


@pytest.mark.parametrize(
    "cql,reason",
    [
        ("description = 'x'", "unknown property 'description'"),
        ("colour = 'red'", "unknown property"),
        ("category = 'x''; DROP TABLE reports; --'", None),
        ("strlen(category) = 3", "unsupported operator or function"),
        ("severity = 'high'", "is not a number"),
        ("severity >=", "does not parse"),
        ("S_INTERSECTS(geometry, POINT(500 0))", "within ±180/±90"),
    ],
)
def test_hostile_cql2_is_refused_or_harmless(live_server, feed_data, engine, cql, reason):
    r = get(live_server, "/ogc/collections/crime/items", filter=cql)
    if reason is None:  # a quote in a literal is just a value
        assert r.status_code == 200 and r.json()["numberReturned"] == 0
    else:
        assert r.status_code == 400 and r.headers["Content-Type"] == "application/problem+json"
        assert reason in r.json()["errors"][0]["reason"]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM reports WHERE layer = 'crime'")).scalar() == N_CRIME


@pytest.mark.parametrize(
    "path,params",
    [
        ("/ogc/collections/crime/items", {"category": "the\x00ft"}),
        (
            "/ogc/collections/crime/items",
            {
                "filter": json.dumps({"op": "=", "args": [{"property": "category"}, "a\u0000"]}),
                "filter-lang": "cql2-json",
            },
        ),
        ("/export/crime.geojson", {"filter": "nope = 1"}),
        ("/export/crime.csv", {"category": "\x00"}),
        ("/tiles/crime/7/34/48.mvt", {"filter": "severity >"}),
    ],
)
def test_bad_parameters_are_400_before_anything_streams(live_server, feed_data, path, params):
    r = requests.get(live_server + path, params=params, timeout=30)
    assert r.status_code == 400 and r.headers["Content-Type"] == "application/problem+json", r.text[:200]


def test_cql2_json_and_cql_text_alias(live_server, feed_data):
    j = json.dumps({"op": ">=", "args": [{"property": "severity"}, 4]})
    a = get(live_server, "/ogc/collections/crime/items", filter=j, **{"filter-lang": "cql2-json"}, limit=1000).json()
    b = get(
        live_server, "/ogc/collections/crime/items", filter="severity >= 4", **{"filter-lang": "cql-text"}, limit=1000
    ).json()
    assert a["numberReturned"] == b["numberReturned"] > 0


# --- privacy ------------------------------------------------------------------------------------------------
def on_grid(lon, lat, exact):
    return (lon, lat) != exact and abs(lon - exact[0]) < 0.01 and abs(lat - exact[1]) < 0.01


def test_public_feed_generalises_sensitive_locations_deterministically(live_server, feed_data):
    a = get(live_server, "/ogc/collections/crime/items", limit=1000).json()
    b = get(live_server, "/ogc/collections/crime/items", limit=1000, bbox="-84,39,-82,41").json()
    body = json.dumps(a)
    assert SECRET not in body and "Ana Reporter" not in body
    pos_a = {f["id"]: tuple(f["geometry"]["coordinates"]) for f in a["features"]}
    pos_b = {f["id"]: tuple(f["geometry"]["coordinates"]) for f in b["features"]}
    for fid, (lon, lat) in pos_b.items():
        assert pos_a[fid] == (lon, lat)  # the same published point every time
        ex = feed_data["exact"][fid]
        assert on_grid(lon, lat, ex), (fid, lon, lat, ex)
        assert round(lon, 3) == lon and round(lat, 3) == lat  # no more digits than 250 m justifies
    # a bbox around an exact location finds nothing unless it also holds the published one
    fid, ex = next((i, e) for i, e in feed_data["exact"].items() if i in pos_b)
    tiny = f"{ex[0] - 1e-6},{ex[1] - 1e-6},{ex[0] + 1e-6},{ex[1] + 1e-6}"
    probe = get(live_server, "/ogc/collections/crime/items", bbox=tiny).json()
    assert fid not in [f["id"] for f in probe["features"]]


def test_staff_with_exact_access_see_exact_locations_private_fields_and_hidden(live_server, feed_data, engine):
    police = create_api_token(engine, "police", "test")
    planner = create_api_token(engine, "planner", "test")
    auth = {"Authorization": f"Bearer {police}"}
    doc = requests.get(f"{live_server}/ogc/collections/crime/items", params={"limit": 1000}, headers=auth).json()
    assert doc["numberReturned"] == N_CRIME
    f = next(f for f in doc["features"] if f["id"] == 5)
    assert tuple(f["geometry"]["coordinates"]) == pytest.approx(feed_data["exact"][5], abs=1e-7)
    assert f["properties"]["description"].startswith(SECRET)
    r = requests.get(
        f"{live_server}/ogc/collections/crime/items",
        params={"limit": 1000},
        headers={"Authorization": f"Bearer {planner}"},
    )
    assert SECRET not in r.text and r.json()["numberReturned"] == feed_data["visible"]
    filtered = requests.get(
        f"{live_server}/ogc/collections/crime/items", headers=auth, params={"filter": "description LIKE 'SECRET%'"}
    ).json()
    assert filtered["numberMatched"] == N_CRIME


def test_hidden_reports_are_absent_everywhere_public(live_server, feed_data):
    assert get(live_server, "/ogc/collections/crime/items/2").status_code == 404
    assert get(live_server, "/ogc/collections/crime/items/5").status_code == 200
    csv = get(live_server, "/export/crime.csv").text.splitlines()
    assert len(csv) == feed_data["visible"] + 1 and not any(line.startswith(("2,", "3,")) for line in csv)


# --- HTTP behaviour -----------------------------------------------------------------------------------------
def test_content_types_etag_304_and_cors(live_server, feed_data, engine):
    r = get(live_server, "/ogc/collections/crime/items", limit=5)
    assert r.headers["Content-Type"] == "application/geo+json"
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    etag, modified = r.headers["ETag"], r.headers["Last-Modified"]
    again = requests.get(r.url, headers={"If-None-Match": etag}, timeout=30)
    assert again.status_code == 304
    assert requests.get(r.url, headers={"If-Modified-Since": modified}, timeout=30).status_code == 304
    html = requests.get(r.url, headers={"Accept": "text/html"}, timeout=30)
    assert html.headers["Content-Type"].startswith("text/html") and html.headers["ETag"] != etag
    assert requests.get(r.url, headers={"Accept": "*/*"}, timeout=30).headers["Content-Type"] == "application/geo+json"
    with engine.begin() as conn:  # a change to the layer changes the ETag
        conn.execute(text("UPDATE reports SET updated_at = now() WHERE id = 5"))
    assert requests.get(r.url, headers={"If-None-Match": etag}, timeout=30).status_code == 200


def test_geojson_is_rfc7946(live_server, feed_data):
    doc = get(live_server, "/ogc/collections/land_use/items").json()
    assert "crs" not in doc
    for f in doc["features"]:
        ring = f["geometry"]["coordinates"][0]
        assert shapely.Polygon(ring).exterior.is_ccw
        assert all(abs(x) <= 180 and abs(y) <= 90 for x, y in ring)


# --- vector tiles ------------------------------------------------------------------------------------------
def tile_of(lon, lat, z):
    import math

    n = 2**z
    return z, int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


def test_gdal_mvt_driver_decodes_a_tile(live_server, feed_data, tmp_path):
    z, x, y = tile_of(-83.0, 39.97, 7)
    r = get(live_server, f"/tiles/crime/{z}/{x}/{y}.mvt")
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/vnd.mapbox-vector-tile"
    assert "ETag" in r.headers and "max-age" in r.headers["Cache-Control"]
    path = tmp_path / f"{y}.mvt"
    path.write_bytes(r.content)
    df = pyogrio.read_dataframe(path, layer="crime", X=x, Y=y, Z=z)
    assert len(df) == feed_data["visible"] - 4 + 0  # all Columbus points, none elsewhere
    assert {"category", "severity", "status"} <= set(df.columns) and "description" not in df.columns
    exact = shapely.points([feed_data["exact"][int(i)] for i in df["mvt_id"]])
    published = df.to_crs(4326).geometry.values
    assert not shapely.equals_exact(published, exact, tolerance=1e-5).any()  # tiles carry generalised points
    lon0, lat0, lon1, lat1 = df.to_crs(4326).total_bounds
    assert -83.2 < lon0 < lon1 < -82.8 and 39.8 < lat0 < lat1 < 40.1
    assert get(live_server, "/tiles/crime/7/0/0.mvt").status_code == 204
    assert get(live_server, "/tiles/crime/3/9/0.mvt").status_code == 400
    tj = get(live_server, "/tiles/crime.json").json()
    assert tj["tiles"][0].endswith("/tiles/crime/{z}/{x}/{y}.mvt") and tj["vector_layers"][0]["id"] == "crime"


@pytest.mark.parametrize("exact", [False, True])
def test_both_read_plans_give_the_same_pages_and_tiles(feed_data, engine, registry, exact):
    """Pages and tiles read by finding the matches first (few expected) or by walking the id index (many
    expected) are identical, forwards and backwards, in both views; each page carries the layer version."""
    from mapper.domain.privacy import View
    from mapper.services.feeds import FeedQuery
    from mapper.store import features as store

    view = View(registry.get("crime"), exact=exact)
    many, few = store.FILTER_FIRST_MAX + 1, 0

    def rows(sql_params):
        with engine.connect() as conn:
            return conn.exec_driver_sql(*sql_params).all()

    version = rows(("SELECT version FROM layer_versions WHERE layer = 'crime'", {}))[0][0]
    for bbox, after, before in [
        ((-83.05, 39.95, -82.95, 40.0), None, None),
        ((-83.1, 39.9, -82.9, 40.05), 50, None),
        ((-83.1, 39.9, -82.9, 40.05), None, 200),
    ]:
        where = FeedQuery(view, bboxes=[bbox]).where()
        estimates = [store.fixed_estimate(few), store.fixed_estimate(many)]
        if not exact:  # a public page on location only is also read through its published locations' index
            with engine.connect() as conn:
                estimates.append(store.estimate_for(conn.connection.cursor(), where))
            assert estimates[2].exact
        pages = [
            rows(store.page_sql(view, where, after=after, before=before, limit=7, estimate=e))[0] for e in estimates
        ]
        assert all(page[3:] == pages[0][3:] for page in pages) and {page[0] for page in pages} == {version}
        with engine.connect() as conn:
            condition, params, order = store._keyset(where, after, before)
            ids = (
                conn.exec_driver_sql(f"SELECT r.id FROM reports r WHERE {condition} ORDER BY r.id {order}", params)
                .scalars()
                .all()
            )
        features = json.loads(f"[{pages[0][7]}]")
        assert [f["id"] for f in features] == sorted(ids[:7])  # in ascending id order, backwards pages too
        assert pages[0][3:7] == (7, min(ids[:7]), max(ids[:7]), len(ids) > 7) and len(ids) > 8
        assert pages[0][2] == len(ids) and pages[1][2] is None  # the matches-first read counts, the walk not
        if not exact:  # counted from public_cells: every match of the filter, whatever the page
            with engine.connect() as conn:
                total = conn.exec_driver_sql(f"SELECT count(*) FROM reports r WHERE {where.sql}", where.params).scalar()
            assert pages[2][2] == total
    for z in (7, 11, 13):
        q = FeedQuery(view, limit=None, tile=tile_of(-83.0, 39.97, z))
        tiles = [rows(store.tile_sql(view, q.where(), 25, m))[0][0] for m in (few, many)]
        assert tiles[0] == tiles[1] and len(tiles[0]) > 100


def test_an_empty_page_still_carries_the_layer_version(feed_data, engine, registry):
    from mapper.domain.privacy import View
    from mapper.services.feeds import FeedQuery
    from mapper.store import features as store

    view = View(registry.get("crime"), exact=False)
    where = FeedQuery(view, bboxes=[(10.0, 10.0, 10.1, 10.1)]).where()
    for m in (0, store.FILTER_FIRST_MAX + 1):
        with engine.connect() as conn:
            got = conn.exec_driver_sql(
                *store.page_sql(view, where, after=None, before=None, limit=5, estimate=store.fixed_estimate(m))
            ).all()
        assert len(got) == 1 and got[0][0] > 0 and got[0][3:] == (0, None, None, False, None)


@pytest.mark.parametrize("bbox", [None, (-83.05, 39.95, -82.95, 40.0), (-83.0, 39.97, -82.99, 39.98)])
def test_public_counts_come_exactly_from_the_published_locations(feed_data, engine, registry, bbox):
    """A public page filtered on location only is counted from ``public_cells``: the same number as a count
    of the reports, and given as numberMatched whichever read plan the count picks."""
    from mapper.domain.privacy import View
    from mapper.services.feeds import FeedQuery
    from mapper.store import features as store

    view = View(registry.get("crime"), exact=False)
    where = FeedQuery(view, bboxes=[bbox] if bbox else []).where()
    with engine.connect() as conn:
        total = conn.exec_driver_sql(f"SELECT count(*) FROM reports r WHERE {where.sql}", where.params).scalar()
        cur = conn.connection.cursor()
        estimate = store.estimate_for(cur, where)
        assert estimate.exact and store.expected_matches(cur, where) == (total, True)
        page = conn.exec_driver_sql(
            *store.page_sql(view, where, after=None, before=None, limit=3, estimate=estimate)
        ).one()
    assert page[2] == total and page[3] == min(total, 3) and page[6] == (total > 3)
    staff = FeedQuery(View(registry.get("crime"), exact=True), bboxes=[bbox] if bbox else []).where()
    filtered = FeedQuery(
        view, bboxes=[bbox] if bbox else [], filters=[{"op": "=", "args": [{"property": "category"}, "theft"]}]
    ).where()
    assert staff.cells is None and filtered.cells is None  # exact views and attribute filters are estimated


def test_every_feed_request_gives_its_connection_back(app, feed_data):
    """Pages (small, streamed, HTML, 304), features, tiles and refusals all return their pooled connection."""
    client, pool = app.test_client(), app.extensions["mapper.engine"].pool
    items = "/ogc/collections/crime/items"
    first = client.get(items)
    for path, headers in [
        (items, {}),
        (items + "?limit=5000", {}),
        (items + "?f=html", {}),
        (items, {"If-None-Match": first.headers["ETag"]}),
        (items + "/5", {}),
        (items + "/999999", {}),
        (items + "?filter=nope%20%3D%201", {}),
        ("/tiles/crime/{}/{}/{}.mvt".format(*tile_of(-83.0, 39.97, 10)), {}),
    ]:
        r = client.get(path, headers=headers)
        r.get_data()
        r.close()
        assert r.status_code in (200, 304, 400, 404)
        assert pool.checkedout() == 0, path


def test_a_field_named_like_a_report_column_is_published_once(app, feed_data, tmp_path):
    """urban_life's time field is called observed_at: Features, tiles and CSV carry it once, as the field."""
    client = app.test_client()
    r = client.post(
        "/api/layers/urban_life/reports",
        json={
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [-83.0, 39.97]},
            "properties": {
                "sentiment": "positive",
                "theme": "greenery",
                "rating": 4,
                "observed_at": "2026-11-02T08:30:00Z",
            },
        },
    )
    assert r.status_code == 201, r.get_json()
    pairs = []
    json.loads(
        client.get("/ogc/collections/urban_life/items").get_data(as_text=True),
        object_pairs_hook=lambda kv: pairs.append([k for k, _ in kv]) or dict(kv),
    )
    props = next(keys for keys in pairs if "sentiment" in keys)
    assert props.count("observed_at") == 1 and "status" in props
    tile = client.get("/tiles/urban_life/{}/{}/{}.mvt".format(*tile_of(-83.0, 39.97, 12)))
    assert tile.status_code == 200
    path = tmp_path / "t.mvt"
    path.write_bytes(tile.data)
    z, x, y = tile_of(-83.0, 39.97, 12)
    df = pyogrio.read_dataframe(path, layer="urban_life", X=x, Y=y, Z=z)
    assert df["rating"].tolist() == [4] and df["observed_at"].tolist() == ["2026-11-02T08:30:00Z"]
    header = client.get("/export/urban_life.csv").get_data(as_text=True).splitlines()[0].split(",")
    assert header.count("observed_at") == 1


def test_a_public_tile_over_its_cap_shows_counts_per_published_location(database_url, feed_data, engine, tmp_path):
    """With more public reports than the cap, a public tile carries one feature per published location with
    report_count (hidden reports not counted); staff, and filtered requests, still get capped reports."""
    from mapper import create_app

    app = create_app({"DATABASE_URL": database_url, "TILES_URL": "", "SECRET_KEY": "test", "MAX_FEATURES_PER_TILE": 20})
    client = app.test_client()
    z, x, y = tile_of(-83.0, 39.97, 7)

    def decode(r, name):
        assert r.status_code == 200, r.status_code
        (tmp_path / name).write_bytes(r.data)
        return pyogrio.read_dataframe(tmp_path / name, layer="crime", X=x, Y=y, Z=z)

    dense = decode(client.get(f"/tiles/crime/{z}/{x}/{y}.mvt"), "dense.mvt")
    assert set(dense.columns) - {"mvt_id"} == {"report_count", "geometry"}  # no report's fields or id
    assert "mvt_id" not in dense.columns or dense["mvt_id"].isna().all()
    assert dense["report_count"].sum() == feed_data["visible"] - 4  # every public Columbus report, counted once
    assert len(dense) == len(set(zip(dense.geometry.x.round(3), dense.geometry.y.round(3), strict=True))) > 20
    police = create_api_token(engine, "police", "dense-test")
    staff = decode(
        client.get(f"/tiles/crime/{z}/{x}/{y}.mvt", headers={"Authorization": f"Bearer {police}"}), "staff.mvt"
    )
    assert len(staff) == 20 and "category" in staff.columns
    filtered = decode(client.get(f"/tiles/crime/{z}/{x}/{y}.mvt?category=theft"), "filtered.mvt")
    assert len(filtered) == 20 and set(filtered["category"]) == {"theft"}
    tj = client.get("/tiles/crime.json").get_json()
    assert tj["vector_layers"][0]["fields"]["report_count"] == "integer"


def test_tiles_are_cached_until_the_layer_changes(app, feed_data, engine):
    """A second request is served from the tile cache; a new report in the layer changes the tile once it is
    published (crime moderates before publishing: until verified it changes nothing public)."""
    client = app.test_client()
    path = "/tiles/crime/{}/{}/{}.mvt".format(*tile_of(-83.0, 39.97, 9))
    first = client.get(path)
    assert client.get(path).data == first.data and len(app.extensions["mapper.tile_cache"]._tiles) >= 1
    r = client.post(
        "/api/layers/crime/reports",
        json={
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [-83.0, 39.97]},
            "properties": {"category": "theft", "severity": 1, "occurred_at": "2026-11-01T10:00:00Z"},
        },
    )
    assert r.status_code == 201
    assert client.get(path).data == first.data
    publish(app, r.get_json()["id"])
    after = client.get(path)
    assert after.status_code == 200 and after.data != first.data and after.headers["ETag"] != first.headers["ETag"]
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM reports WHERE id = :i"), {"i": r.get_json()["id"]})


# --- exports -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["geojson", "csv", "gpkg", "shp.zip"])
def test_exports_reread_with_pyogrio_equal_the_source(live_server, feed_data, tmp_path, fmt, engine):
    aoi = json.dumps(shapely.geometry.mapping(shapely.box(-83.2, 39.8, -82.8, 40.1)))
    r = get(live_server, f"/export/crime.{fmt}", aoi=aoi, filter="severity >= 2")
    assert r.status_code == 200, r.text[:300]
    path = tmp_path / f"crime.{fmt}"
    path.write_bytes(r.content)
    if fmt == "csv":
        df = pyogrio.read_dataframe(path, x_possible_names="lon", y_possible_names="lat", keep_geom_columns=True)
    elif fmt == "geojson":  # GDAL takes the integer GeoJSON id as the feature id
        df = pyogrio.read_dataframe(path, fid_as_index=True)
        df["id"] = df.index
    else:
        df = pyogrio.read_dataframe(path)
    with engine.connect() as conn:
        src = conn.execute(
            text(
                "SELECT id, properties->>'category' c, (properties->>'severity')::int s FROM reports "
                "WHERE layer = 'crime' AND status <> 'hidden' AND (properties->>'severity')::int >= 2"
                " AND ST_X(geom) BETWEEN -83.2 AND -82.8 ORDER BY id"
            )
        ).all()
    assert [int(i) for i in df["id"]] == [s.id for s in src] and len(src) > 0
    assert list(df["category"]) == [s.c for s in src]
    assert [int(v) for v in df["severity"]] == [s.s for s in src]
    assert "description" not in df.columns and SECRET not in r.content.decode("latin-1")
    assert df.geometry.x.between(-83.2, -82.8).all()
    for fid, point in zip(df["id"], df.geometry, strict=True):  # published locations, never the exact ones
        assert on_grid(point.x, point.y, feed_data["exact"][int(fid)]), (fid, point)
    if fmt == "csv":
        assert {"lon", "lat", "wkt"} <= set(df.columns)
    if fmt == "gpkg":
        meta = pyogrio.read_info(path)["dataset_metadata"]
        assert "severity >= 2" in meta["query"] and meta["exported_at"]
    if fmt == "shp.zip":
        readme = zipfile.ZipFile(path).read("README.txt").decode()
        assert "severity >= 2" in readme and "Exported at" in readme
    if fmt == "geojson":
        assert json.loads(r.content)["metadata"]["query"]["filter"] == "severity >= 2"


def test_mapper_export_command(cli_env, feed_data, tmp_path):
    import subprocess

    out = tmp_path / "land.gpkg"
    r = subprocess.run(
        ["mapper", "export", "land_use", str(out), "--filter", "area_m2 > 2"],
        env=cli_env,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    df = pyogrio.read_dataframe(out)
    assert sorted(df["land_class"]) == ["public_space", "reserved"]


# --- OpenAPI -----------------------------------------------------------------------------------------------
def test_openapi_describes_every_route(app, live_server):
    doc = get(live_server, "/api/openapi.json").json()
    paths = set(doc["paths"])
    for rule in app.url_map.iter_rules():
        if rule.endpoint in ("static", "assets.vendor") or rule.rule.startswith("/vendor"):
            continue
        if rule.endpoint.startswith(("pages.", "signin.", "audit.", "staff_queue.")) or rule.rule.startswith("/maps/"):
            continue  # HTML pages for people (sign-in, the staff queue, the access log and the map pages too)
        if "<layer_id>" in rule.rule or "<filename>" in rule.rule:
            for layer in ("crime", "land_use"):
                concrete = rule.rule.replace("<layer_id>", layer).replace("<filename>", f"{layer}.shp.zip")
                concrete = concrete.replace("<int:z>", "{z}").replace("<int:x>", "{x}").replace("<int:y>", "{y}")
                concrete = concrete.replace("<feature_id>", "{featureId}")
                generic = re.sub(r"<(?:int:)?(\w+)>", r"{\1}", rule.rule)
                assert concrete in paths or generic in paths, concrete
        else:
            concrete = rule.rule.replace("<token>", "{tracking_token}").rstrip("/") or "/"
            concrete = re.sub(r"<(?:int:)?(\w+)>", r"{\1}", concrete)
            assert concrete in paths, concrete
    items = doc["paths"]["/ogc/collections/crime/items"]["get"]
    names = {p["name"] for p in items["parameters"]}
    assert {"limit", "bbox", "datetime", "filter", "category", "severity"} <= names and "description" not in names


# --- anonymous items pages answered in front of Flask (web.fast_items): the Flask view's, byte for byte (but the
# time stamp); every other request is passed on to Flask
ITEMS = "/ogc/collections/crime/items"
GEOJSON_ACCEPT = {"Accept": "application/geo+json"}
ANSWERED = [
    "",
    "?limit=5",
    "?bbox=-83.05,39.95,-82.95,40.0&limit=7",
    "?limit=3&cursor=a50",
    "?limit=3&cursor=b200",
    "?datetime=2025-01-01/..&limit=4",
    "?category=theft&limit=4",
    "?filter=severity%20%3E%203&limit=4",
    "?bbox=179,-1,-179,1",
    "?limit=2&limit=5",
    "?bbox=-83.05%2C39.95%2C-82.95%2C40.0&limit=2",
]


def without_time(body: bytes) -> dict:
    doc = json.loads(body)
    doc.pop("timeStamp")
    return doc


def test_answered_pages_equal_the_flask_views(app, feed_data):
    fast_items = app.extensions["mapper.fast_items"]
    fast, flask_only = app.test_client(), Client(fast_items.next)
    before = fast_items.answered
    for query in ANSWERED:
        ours, theirs = (
            fast.get(ITEMS + query, headers=GEOJSON_ACCEPT),
            flask_only.get(ITEMS + query, headers=GEOJSON_ACCEPT),
        )
        assert ours.status_code == theirs.status_code == 200, query
        assert dict(ours.headers) == dict(theirs.headers), query
        assert without_time(ours.data) == without_time(theirs.data), query
        assert json.loads(ours.data)["features"] or query.startswith("?bbox=179"), query
    assert fast_items.answered - before == len(ANSWERED)


@pytest.mark.parametrize(
    "path, headers, status",
    [
        (ITEMS + "?f=html", {}, 200),
        (ITEMS, {"Accept": "text/html"}, 200),
        (ITEMS, {"Authorization": "Bearer nope"}, 401),
        (ITEMS, {"If-None-Match": '"x"'}, 200),
        (ITEMS + "?nope=1", {}, 400),
        (ITEMS + "?limit=0", {}, 400),
        ("/ogc/collections/nope/items", {}, 404),
        (ITEMS + "/1", {}, 200),
        (ITEMS, {"cookie": "x"}, 200),
    ],
)
def test_anything_else_goes_to_flask(app, feed_data, path, headers, status):
    fast_items = app.extensions["mapper.fast_items"]
    client, before = app.test_client(), fast_items.answered
    if "cookie" in headers:  # a browser with a session: Flask reads it
        client.set_cookie("session", headers.pop("cookie"))
    r = client.get(path, headers=headers)
    assert r.status_code == status
    if status >= 400:
        assert r.headers["Content-Type"] == "application/problem+json"
    assert fast_items.answered == before
    assert app.test_client().head(ITEMS).status_code == 200 and fast_items.answered == before
