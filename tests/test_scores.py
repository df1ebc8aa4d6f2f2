"""Scores against reference implementations (esda, scipy) and published test vectors, through PostGIS and HTTP."""

import csv
import re
import warnings

import geopandas as gpd
import numpy as np
import pytest
import requests
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse, stats
from sqlalchemy import text

from mapper.config import PROJECT_ROOT
from mapper.domain import hotspots as hs
from mapper.domain import ratings, water
from mapper.services import scoring
from mapper.services.importer import import_frame
from mapper.services.tokens import create_api_token
from tests.reports import publish

CCME_CSV = PROJECT_ROOT.parent / "shared" / "data" / "water" / "ccme-wqi-example.csv"
warnings.filterwarnings("ignore", category=UserWarning)


def crime_points(n, seed=3, clusters=((-83.0, 39.96), (-82.95, 40.02))):
    """Clustered crime points: two hot areas over a uniform background."""
    rng = np.random.default_rng(seed)
    k = n // 3
    lon = np.concatenate(
        [
            rng.normal(clusters[0][0], 0.004, k),
            rng.normal(clusters[1][0], 0.004, k),
            rng.uniform(-83.1, -82.9, n - 2 * k),
        ]
    )
    lat = np.concatenate(
        [
            rng.normal(clusters[0][1], 0.004, k),
            rng.normal(clusters[1][1], 0.004, k),
            rng.uniform(39.9, 40.06, n - 2 * k),
        ]
    )
    return gpd.GeoDataFrame(
        {
            "category": rng.choice(["theft", "assault"], n),
            "severity": rng.integers(1, 6, n),
            "occurred_at": ["2026-10-01T12:00:00Z"] * n,
        },
        geometry=shapely.points(lon, lat),
        crs=4326,
    )


@pytest.fixture
def crime_layer(registry):
    return registry.get("crime")


# --- Gi* against esda ------------------------------------------------------------------------------------------
def test_hotspot_z_scores_equal_esda_on_the_same_grid_and_weights(engine, registry, clean, crime_layer):
    from esda.getisord import G_Local
    from libpysal.weights import WSP, DistanceBand

    import_frame(engine, crime_layer, crime_points(1500), "pts")
    summary = scoring.run_hotspots(engine, crime_layer)
    with engine.connect() as conn:
        params = conn.execute(text("SELECT params FROM score_runs WHERE id = :i"), {"i": summary.run_id}).scalar()
        cells = conn.execute(
            text(
                "SELECT (private->>'i')::int i, (private->>'j')::int j, "
                "ST_X(ST_Centroid(ST_Transform(geom, :srid))) x, "
                "ST_Y(ST_Centroid(ST_Transform(geom, :srid))) y, (properties->>'weight')::float8 w, "
                "(properties->>'gi_z')::float8 z, (properties->>'reports')::int n, "
                "status FROM derived_features WHERE layer = 'crime-hotspots' ORDER BY id"
            ),
            {"srid": params["cell"]["srid"]},
        ).all()
    xy = hs.hexagon_centres(np.array([c.i for c in cells]), np.array([c.j for c in cells]), params["cell"]["edge_m"])
    np.testing.assert_allclose(xy, [(c.x, c.y) for c in cells], atol=0.01)  # the stored polygons sit there
    y = np.array([c.w for c in cells])
    scale = params["scale"]
    ours = hs.weights_for(xy, hs.Scale(scale["kind"], scale["value"], []))
    if scale["kind"] == "distance band":  # libpysal builds the same band on its own
        w = DistanceBand(xy, threshold=scale["value"] * 1.000001, binary=True, silence_warnings=True)
    else:  # K nearest neighbours ties on a hexagon grid: hand esda the very weights we used
        w = WSP(ours - sparse.identity(len(xy), format="csr")).to_W(silence_warnings=True)
    assert (np.asarray(ours.sum(axis=1)).ravel() == w.sparse.sum(axis=1).A.ravel() + 1).all()
    reference = G_Local(y, w, transform="B", star=True, permutations=0)
    np.testing.assert_allclose([c.z for c in cells], reference.Zs, rtol=0, atol=1e-9)
    assert len(cells) == params["cell"]["cells"] and sum(c.n for c in cells) == 1500
    hot = [c for c in cells if c.z > 3]
    assert hot, "the two clusters must show up as hot spots"


def test_study_area_and_bins_equal_plain_postgis(engine, clean, crime_layer):
    """The hull from reports outside an inner polygon and the arithmetic binning (read in parallel) equal
    one ST_ConvexHull of all reports and the ST_HexagonGrid cell each transformed report lies in."""
    from mapper import db
    from mapper.store import scores as store

    import_frame(engine, crime_layer, crime_points(20000, seed=5), "pts")
    where, params = store.layer_filter(crime_layer)
    with db.cursor(engine) as cur:
        cur.execute("SET LOCAL min_parallel_table_scan_size = 0; SET LOCAL parallel_setup_cost = 0")
        area = store.study_area(cur, where, params)
        cur.execute(
            f"SELECT n, ST_Area(hull::geography), ST_Equals(hull, ST_GeomFromWKB(%(h)s, 4326)) "
            f"FROM (SELECT count(*) AS n, ST_ConvexHull(ST_Collect(geom)) AS hull FROM reports WHERE {where}) a",
            dict(params, h=area["hull"]),
        )
        assert (area["n"], area["area_m2"], True) == cur.fetchone()
        srid, size = scoring.utm_srid(area["lon"], area["lat"]), 150.0
        bins = {}
        for inner in (area["hull"], None):
            bins[inner] = store.hexagon_bins(
                cur,
                where,
                params,
                srid=srid,
                size=size,
                inner=inner,
                values={"w": "(properties ->> 'severity')::float8"},
                aggregates={"n": "count(*)", "w": "sum(w)"},
            )
        assert bins[area["hull"]] == bins[None]
        cur.execute(
            f"""
            WITH p AS (SELECT ST_Transform(geom, %(srid)s) AS g, (properties ->> 'severity')::float8 AS w
                       FROM reports WHERE {where}),
                 hull AS (SELECT ST_ConvexHull(ST_Collect(g)) AS h FROM p)
            SELECT hex.i, hex.j, count(p.g), coalesce(sum(p.w), 0)
            FROM hull, ST_HexagonGrid(%(s)s, ST_Expand(hull.h, %(s)s)) hex LEFT JOIN p ON ST_Intersects(hex.geom, p.g)
            WHERE ST_Intersects(hex.geom, hull.h) OR p.g IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2""",
            dict(params, srid=srid, s=size),
        )
        assert [(r[0], r[1], r[5], r[6]) for r in bins[None]] == [tuple(r) for r in cur.fetchall()]


def test_columbus_classes_match_esda_and_scipy_bh():
    """libpysal's Columbus neighbourhoods (CRIME), queen contiguity: our classes equal esda Gi* + scipy BH."""
    from esda.getisord import G_Local
    from libpysal import examples
    from libpysal.weights import Queen

    gdf = gpd.read_file(examples.get_path("columbus.shp"))
    w = Queen.from_dataframe(gdf, use_index=False)
    y = gdf["CRIME"].to_numpy(dtype=float)
    ref = G_Local(y, w, transform="B", star=True, permutations=0)
    q_ref = stats.false_discovery_control(2 * stats.norm.sf(np.abs(ref.Zs)), method="bh")
    expected = np.where(q_ref <= 0.01, 99, np.where(q_ref <= 0.05, 95, np.where(q_ref <= 0.10, 90, 0))) * np.sign(
        ref.Zs
    )

    ours_w = (w.sparse + sparse.identity(w.n)).tocsr()
    z = hs.gi_star(y, ours_w)
    _, q, conf = hs.classify(z)
    np.testing.assert_allclose(z, ref.Zs, atol=1e-9)
    np.testing.assert_allclose(q, q_ref, atol=1e-12)
    assert list(conf) == list(expected.astype(int))
    assert (conf > 0).any() and (conf < 0).any()  # Columbus has both hot and cold neighbourhoods


def test_fewer_than_30_incidents_are_refused(engine, clean, crime_layer):
    import_frame(engine, crime_layer, crime_points(29), "few")
    with pytest.raises(scoring.ScoreRefused, match="29 reports match; hot spot analysis needs at least 30"):
        scoring.run_hotspots(engine, crime_layer)


def test_scale_falls_back_to_knn_rule_without_a_peak():
    xy = np.array([(i * 10.0, 0.0) for i in range(100)])
    scale = hs.choose_scale(xy, np.ones(100) + (np.arange(100) % 2))  # alternating: no positive autocorrelation
    assert scale.kind == "k nearest neighbours" and scale.value == 5  # 5 % of 100


def test_cell_size_and_scale_overrides(engine, clean, crime_layer):
    import_frame(engine, crime_layer, crime_points(300), "pts")
    s = scoring.run_hotspots(engine, crime_layer, cell_size_m=500, scale=("k nearest neighbours", 8))
    with engine.connect() as conn:
        p = conn.execute(text("SELECT params FROM score_runs WHERE id = :i"), {"i": s.run_id}).scalar()
    assert p["cell"]["edge_m"] == 500 and p["scale"]["kind"] == "k nearest neighbours" and p["scale"]["value"] == 8


@pytest.mark.parametrize(
    "cell,scale,reason",
    [
        (float("nan"), None, "hexagon edge of nan m does not fit"),
        (0.001, None, "hexagon edge of 0.001 m does not fit"),
        (1e9, None, "hexagon edge of 1e+09 m does not fit"),
        (500, ("distance band", 0.0), "reaches no neighbouring cell: use at least 866 m"),
        (500, ("k nearest neighbours", 0), "whole number from 1 to"),
        (500, ("k nearest neighbours", 2.5), "whole number from 1 to"),
        (500, ("k nearest neighbours", 99999), "whole number from 1 to"),
    ],
)
def test_unusable_cell_sizes_and_scales_are_refused_with_the_usable_range(
    engine, clean, crime_layer, cell, scale, reason
):
    import_frame(engine, crime_layer, crime_points(300), "pts")
    with pytest.raises(scoring.ScoreRefused, match=re.escape(reason)):
        scoring.run_hotspots(engine, crime_layer, cell_size_m=cell, scale=scale)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM score_runs")).scalar() == 0


# --- suppression and publication ------------------------------------------------------------------------------
@given(st.lists(st.integers(0, 50), min_size=1, max_size=200), st.integers(1, 20))
def test_suppression_property(counts, k):
    hidden = hs.suppressed(np.array(counts), k)
    for c, h in zip(counts, hidden, strict=True):
        assert h == (0 < c < k)


def test_small_cells_never_reach_public_outputs(engine, clean, crime_layer, live_server):
    import_frame(engine, crime_layer, crime_points(400), "pts")
    scoring.run_hotspots(engine, crime_layer)
    police = create_api_token(engine, "police", "t")
    public = requests.get(f"{live_server}/ogc/collections/crime-hotspots/items", params={"limit": 10000}).json()
    staff = requests.get(
        f"{live_server}/ogc/collections/crime-hotspots/items",
        params={"limit": 10000},
        headers={"Authorization": f"Bearer {police}"},
    ).json()
    k = crime_layer.hotspots.min_count
    assert all(not (0 < f["properties"]["reports"] < k) for f in public["features"])
    assert any(0 < f["properties"]["reports"] < k for f in staff["features"])
    assert public["numberMatched"] == len(public["features"]) < len(staff["features"])
    small = next(f for f in staff["features"] if 0 < f["properties"]["reports"] < k)
    assert requests.get(f"{live_server}/api/scores/crime-hotspots/{small['id']}").status_code == 404
    tile = requests.get(f"{live_server}/tiles/crime-hotspots/9/137/193.mvt")
    assert tile.status_code in (200, 204)


# --- water quality --------------------------------------------------------------------------------------------
def test_ccme_wqi_on_the_published_example():
    objectives, tests = {}, []
    with open(CCME_CSV, newline="") as f:
        for r in csv.DictReader(f):
            v = r["Variable"]
            objectives[v] = water.Objective(
                v,
                float(r["LowerLimit"]) if r["LowerLimit"] else None,
                float(r["UpperLimit"]) if r["UpperLimit"] else None,
            )
            if r["Value"] != "":
                tests.append((v, float(r["Value"])))
    assert water.ccme_eligible(tests)
    result = water.ccme_wqi(tests, objectives)
    assert round(result["index"], 2) == 88.13 and round(result["index"]) == 88
    assert result["category"] == "Good"


@pytest.mark.parametrize(
    "cfu,band",
    [
        (0, "low"),
        (0.5, "low"),
        (1, "moderate"),
        (10, "moderate"),
        (11, "high"),
        (100, "high"),
        (101, "very high"),
        (5000, "very high"),
    ],
)
def test_e_coli_bands(cfu, band):
    assert water.e_coli_band(cfu) == band


@pytest.mark.parametrize("variables,samples,eligible", [(4, 4, True), (3, 4, False), (4, 3, False), (6, 5, True)])
def test_ccme_four_by_four_rule(variables, samples, eligible):
    tests = [(f"v{i}", 1.0) for i in range(variables) for _ in range(samples)]
    assert water.ccme_eligible(tests) is eligible


def test_e_coli_is_a_gate_whatever_the_index_says():
    objectives, _ = water.load_guidelines()
    clean_sample = {
        "turbidity_ntu": 0.5,
        "ph": 7.2,
        "free_chlorine_mg_l": 0.5,
        "nitrate_mg_l": 5.0,
        "arsenic_mg_l": 0.001,
        "e_coli_cfu_100ml": 0.0,
    }
    good = water.score_water_point([clean_sample] * 4, objectives)
    assert good["safety"] == "safe" and good["ccme"]["category"] == "Excellent"
    bad = water.score_water_point([clean_sample] * 3 + [{**clean_sample, "e_coli_cfu_100ml": 3.0}], objectives)
    assert bad["safety"] == "unsafe" and bad["e_coli"]["band"] == "moderate"
    assert bad["ccme"]["category"] != "Poor"  # the index alone would not flag it
    few = water.score_water_point([{**clean_sample, "nitrate_mg_l": 80.0}], objectives)
    assert "ccme" not in few and few["safety"] == "fails guidelines" and not few["checks"]["nitrate_mg_l"]["pass"]


def water_report(client, name, **props):
    body = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [-83.0, 39.96]},
        "properties": {"point_name": name, "source_type": "borehole", "functional_status": "functional", **props},
    }
    r = client.post("/api/layers/water_quality/reports", json=body)
    assert r.status_code == 201, r.get_json()
    return r.get_json()["id"]


def test_explanations_alerts_and_history(client, engine):
    for month in range(1, 5):
        rid = water_report(
            client,
            "Kiosk 7",
            sampled_at=f"2026-0{month}-10T09:00:00Z",
            e_coli_cfu_100ml=0,
            turbidity_ntu=0.8,
            ph=7.1,
            nitrate_mg_l=12,
            arsenic_mg_l=0.002,
        )
    alert_id = water_report(
        client,
        "Kiosk 7",
        sampled_at="2026-05-10T09:00:00Z",
        e_coli_cfu_100ml=40,
        alert=True,
        alert_text="children sick",
    )
    doc = client.get(f"/api/scores/water_quality/{rid}").get_json()
    score = doc["scores"][0]
    assert score["method"] == "water_quality" and score["method_version"].startswith("who-jmp-ccme/")
    assert (
        score["inputs"] == 5
        and score["reports_used"] == 5
        and "WHO Guidelines" in score["parameters"]["guidelines_source"]
    )
    assert score["result"]["safety"] == "unsafe" and score["result"]["e_coli"]["band"] == "high"
    assert score["result"]["alert"]["state"] == "alert — unverified"
    assert "E. coli detected" in doc["summary"] and "CCME Water Quality Index" in doc["summary"]
    first_run = score["run_id"]

    utility = create_api_token(engine, "utility", "t")
    assert client.post(f"/api/reports/{alert_id}/alert-decision", json={"decision": "verify"}).status_code == 401
    police = {"Authorization": f"Bearer {create_api_token(engine, 'police', 't')}"}
    r = client.post(f"/api/reports/{alert_id}/alert-decision", json={"decision": "verify"}, headers=police)
    assert r.status_code == 403
    r = client.post(
        f"/api/reports/{alert_id}/alert-decision",
        json={"decision": "verify", "note": "lab confirmed"},
        headers={"Authorization": f"Bearer {utility}"},
    )
    assert r.status_code == 200 and r.get_json()["status"] == "verified"
    doc = client.get(f"/api/scores/water_quality/{rid}").get_json()
    assert doc["scores"][0]["result"]["alert"]["state"] == "alert — verified"
    assert doc["scores"][0]["run_id"] != first_run
    with engine.connect() as conn:  # the earlier run is kept, not rewritten
        old = conn.execute(text("SELECT result FROM scores WHERE run_id = :r"), {"r": first_run}).scalar()
        assert old["alert"]["state"] == "alert — unverified"
        # one run per report written (5) and one for the decision, each in the transaction of its write
        assert conn.execute(text("SELECT count(*) FROM score_runs WHERE method = 'water_quality'")).scalar() == 6
    assert client.get(f"/api/reports/{alert_id}/alert-decision").status_code == 405


def test_health_centres_ranked_by_bayesian_average_and_filtered_by_service(client, engine, registry):
    def centre(name, rating, services):
        body = {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [-83.0, 39.96]},
            "properties": {"centre_name": name, "rating": rating, "services": services, "complaint": "waited 4 h"},
        }
        r = client.post("/api/layers/health_centres/reports", json=body)
        assert r.status_code == 201
        return r.get_json()["id"]

    ids = [centre("One Star Wonder", 5, ["primary_care"])]
    for r in (5, 5, 4, 5, 4, 5, 5, 4):
        ids.append(centre("Many Good", r, ["sexual_reproductive_health", "primary_care"]))
    ids.append(centre("Poor", 1, ["sexual_reproductive_health"]))
    scoring.run_ratings(engine, registry.get("health_centres"))  # complaints wait for moderation: none counted
    assert client.get("/api/scores/health_centres").get_json()["scores"]["ratings"]["results"] == []
    publish(client.application, *ids)
    scoring.run_ratings(engine, registry.get("health_centres"))
    ranked = client.get("/api/scores/health_centres").get_json()["scores"]["ratings"]["results"]
    assert [r["subject"] for r in ranked] == ["Many Good", "One Star Wonder", "Poor"]
    assert ranked[1]["mean"] == 5 and ranked[1]["bayesian_average"] < ranked[0]["bayesian_average"]
    assert ranked[0]["complaints"] == 8 and "waited" not in str(ranked)
    srh = client.get("/api/scores/health_centres?service=sexual_reproductive_health").get_json()
    assert [r["subject"] for r in srh["scores"]["ratings"]["results"]] == ["Many Good", "Poor"]


@given(st.lists(st.integers(1, 5), max_size=50), st.floats(1, 5), st.floats(0.5, 20))
@settings(max_examples=200)
def test_bayesian_average_properties(values, mean, weight):
    p = ratings.Prior(mean, weight, "")
    b = ratings.bayesian_average(values, p)
    lo = min([mean] + values)
    hi = max([mean] + values)
    assert lo - 1e-9 <= b <= hi + 1e-9
    if values:
        sample = sum(values) / len(values)
        assert min(mean, sample) - 1e-9 <= b <= max(mean, sample) + 1e-9
        more = ratings.bayesian_average(values * 10, p)
        assert abs(more - sample) <= abs(b - sample) + 1e-9  # more ratings, closer to their mean
    else:
        assert b == pytest.approx(mean)


# --- urban life and land use ---------------------------------------------------------------------------------
def test_livability_by_area_and_land_use_by_district(engine, clean, registry, client):
    rng = np.random.default_rng(5)
    n = 200
    urban = gpd.GeoDataFrame(
        {
            "sentiment": rng.choice(["positive", "negative"], n),
            "theme": rng.choice(["safety", "noise"], n),
        },
        geometry=shapely.points(rng.uniform(-83.02, -82.98, n), rng.uniform(39.95, 39.97, n)),
        crs=4326,
    )
    import_frame(engine, registry.get("urban_life"), urban, "u")
    scoring.run_livability(engine, registry.get("urban_life"))
    areas = client.get("/ogc/collections/urban_life-areas/items?limit=1000").get_json()["features"]
    assert sum(a["properties"]["reports"] for a in areas) == n
    assert sum(a["properties"]["positive"] for a in areas) == int((urban["sentiment"] == "positive").sum())
    for a in areas:
        p = a["properties"]
        assert p["livability_low"] <= p["livability"] <= p["livability_high"]

    land = gpd.GeoDataFrame(
        {
            "land_class": ["public_space", "residential", "green_space", "residential"],
            "district": ["North", "North", "South", "South"],
            "population": [0, 1000, 0, 500],
        },
        geometry=[
            shapely.box(-83, 39.9, -82.99, 39.91),
            shapely.box(-82.99, 39.9, -82.98, 39.91),
            shapely.box(-83, 39.91, -82.995, 39.915),
            shapely.box(-82.995, 39.91, -82.98, 39.92),
        ],
        crs=4326,
    )
    import_frame(engine, registry.get("land_use"), land, "l")
    scoring.run_land_use(engine, registry.get("land_use"))
    districts = {
        f["properties"]["district"]: f["properties"]
        for f in client.get("/ogc/collections/land_use-districts/items").get_json()["features"]
    }
    with engine.connect() as conn:
        areas_db = dict(
            conn.execute(
                text(
                    "SELECT properties->>'district', sum(ST_Area(geom::geography)) FROM reports "
                    "WHERE layer = 'land_use' GROUP BY 1"
                )
            ).all()
        )
    north = districts["North"]
    assert north["area_m2"] == pytest.approx(areas_db["North"])
    assert north["public_space_share"] == pytest.approx(0.5, abs=0.01)  # two equal boxes, one public
    assert north["public_space_per_person_m2"] == pytest.approx(north["public_space_m2"] / 1000)
    fid = client.get("/ogc/collections/land_use-districts/items").get_json()["features"][0]["id"]
    assert "public or green space" in client.get(f"/api/scores/land_use-districts/{fid}").get_json()["summary"]


def test_mapper_score_command(cli_env, engine, clean, registry):
    import subprocess

    import_frame(engine, registry.get("crime"), crime_points(200), "pts")
    r = subprocess.run(["mapper", "score", "crime"], env=cli_env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "crime hotspots:" in r.stdout and "hot" in r.stdout
    assert subprocess.run(["mapper", "score", "nope"], env=cli_env, capture_output=True).returncode != 0
    r = subprocess.run(
        [
            "mapper",
            "score",
            "crime",
            "--where",
            "category=theft",
            "--cell-size",
            "400",
            "--scale",
            "knn:6",
            "--window-days",
            "3650",
        ],
        env=cli_env,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    with engine.connect() as conn:
        p, n = conn.execute(text("SELECT params, inputs FROM score_runs ORDER BY id DESC LIMIT 1")).one()
        thefts = conn.execute(text("SELECT count(*) FROM reports WHERE properties->>'category' = 'theft'")).scalar()
    assert p["filter"] == {"category": ["theft"]} and p["cell"]["edge_m"] == 400 and p["scale"]["value"] == 6
    assert n == thefts < 200 and p["window_days"] == 3650
    bad = subprocess.run(
        ["mapper", "score", "crime", "--where", "category=arson"], env=cli_env, capture_output=True, text=True
    )
    assert bad.returncode != 0 and "--where" in bad.stderr
    for args, says in (
        (["--window-days", "-3"], "--window-days"),
        (["--cell-size", "0"], "--cell-size"),
        (["--scale", "knn:2.5"], "K a whole number"),
        (["--cell-size", "1e9"], "does not fit"),
    ):
        bad = subprocess.run(["mapper", "score", "crime", *args], env=cli_env, capture_output=True, text=True)
        assert bad.returncode != 0 and says in bad.stderr and "Traceback" not in bad.stderr, bad.stderr


def test_a_writer_scores_only_its_water_point_and_the_run_equals_a_full_one(client, engine, registry):
    """Each water write rescores the points it touched and carries the others over in SQL: the newest run holds
    exactly what scoring every point afresh gives, after new samples, an alert and its verification, and a
    sample hidden by a moderator."""
    from mapper.services import lifecycle

    def newest(conn):
        run = conn.execute(
            text("SELECT id, inputs FROM score_runs WHERE method = 'water_quality' ORDER BY computed_at DESC, id DESC")
        ).first()
        scores = conn.execute(
            text("SELECT subject, report_ids, result FROM scores WHERE run_id = :r ORDER BY subject"), {"r": run.id}
        ).all()
        return run.inputs, [(s.subject, s.report_ids, s.result) for s in scores]

    ids = [water_report(client, f"Kiosk {i % 3}", sampled_at=f"2026-0{1 + i % 6}-10T09:00:00Z",
                        e_coli_cfu_100ml=i * 3) for i in range(7)]  # fmt: skip
    alert = water_report(client, "Kiosk 1", sampled_at="2026-07-01T09:00:00Z", e_coli_cfu_100ml=80, alert=True)
    moderator = lifecycle.Actor("user:1", "moderator")
    lifecycle.transition(engine, registry, alert, {"to": "verified"}, moderator)
    lifecycle.transition(engine, registry, ids[3], {"to": "hidden"}, moderator)
    with engine.connect() as conn:
        details = conn.execute(text("SELECT inputs FROM score_runs WHERE method = 'water_quality'")).scalars().all()
        incremental = newest(conn)
    assert len(details) == 10 and incremental[0] == 7  # a run per write; 8 samples, one hidden
    assert {s for s, _, _ in incremental[1]} == {"Kiosk 0", "Kiosk 1", "Kiosk 2"}
    assert next(r for s, _, r in incremental[1] if s == "Kiosk 1")["alert"]["state"] == "alert — verified"
    scoring.run_water_quality(engine, registry.get("water_quality"))  # every point afresh
    with engine.connect() as conn:
        assert newest(conn) == incremental
