"""The "how is this computed" pages: /api/scores/… answers HTML to browsers and JSON to clients; each kind of
score shows its summary, inputs and an SVG chart whose drawn values are the stored ones; in Chromium the pages
keep to their CSP and load nothing that fails."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET

import geopandas as gpd
import numpy as np
import pytest
import requests
import shapely
from markupsafe import escape
from sqlalchemy import text

from mapper.services import explain, scoring
from mapper.services.importer import import_frame
from mapper.services.tokens import create_api_token
from tests.reports import publish
from tests.test_report_browser import Watch
from tests.test_scores import crime_points, water_report
from tests.test_xss_browser import RECORD_CSP

SVG = "{http://www.w3.org/2000/svg}"
CHROMIUM_ACCEPT = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,"
    "application/signed-exchange;v=b3;q=0.7"
)
THRESHOLDS = [-2.576, -1.96, -1.645, 1.645, 1.96, 2.576]


# --- reading the drawn charts --------------------------------------------------------------------------------
def chart(html: str, chart_id: str) -> ET.Element:
    """The inline SVG with id ``chart_id``, parsed as XML (it must be well-formed)."""
    m = re.search(rf'<svg [^>]*id="{re.escape(chart_id)}".*?</svg>', html, re.S)
    assert m, f"no chart {chart_id!r}"
    svg = ET.fromstring(m[0])
    assert svg.get("role") == "img" and svg.find(f"{SVG}title").text and svg.find(f"{SVG}desc").text
    return svg


def ticks(svg: ET.Element) -> dict[float, float]:
    """Tick value → x pixel of the horizontal axis."""
    return {
        float(g.get("data-tick")): float(g.find(f"{SVG}line").get("x1"))
        for g in svg.iter(f"{SVG}g")
        if g.get("class") == "tick"
    }


def x_of(axis: dict[float, float], value: float, log: bool = False) -> float:
    """Where ``value`` lies on an axis, interpolated between its two neighbouring ticks (log: in log10(1 + v))."""
    f = (lambda v: math.log10(1 + v)) if log else (lambda v: v)
    points = sorted(axis.items())
    for (v0, x0), (v1, x1) in zip(points, points[1:], strict=False):
        if v0 <= value <= v1:
            return x0 + (f(value) - f(v0)) / (f(v1) - f(v0)) * (x1 - x0)
    raise AssertionError(f"{value} is off the axis {points}")


def elements(svg: ET.Element, tag: str, css: str) -> list[ET.Element]:
    return [e for e in svg.iter(f"{SVG}{tag}") if e.get("class") == css]


def html_page(client, url: str, **headers):
    r = client.get(url, headers={"Accept": CHROMIUM_ACCEPT, **headers})
    assert r.status_code == 200 and r.mimetype == "text/html", (r.status_code, r.data[:300])
    return r.get_data(as_text=True)


def stored_result(engine, run_id: int) -> dict:
    with engine.connect() as conn:
        return conn.execute(text("SELECT result FROM scores WHERE run_id = :r"), {"r": run_id}).scalar_one()


# --- negotiation ---------------------------------------------------------------------------------------------
@pytest.fixture
def water_point(client):
    """One water point whose latest sample has E. coli, a nitrate value over its guideline and a low pH."""
    return water_report(
        client,
        "Kiosk <b>9</b>",
        sampled_at="2026-05-10T09:00:00Z",
        e_coli_cfu_100ml=40,
        turbidity_ntu=0.8,
        ph=6.2,
        nitrate_mg_l=62,
        arsenic_mg_l=0.002,
        alert=True,
        alert_text="<script>alert(1)</script> private words",
    )


@pytest.mark.parametrize(
    "accept,query,html",
    [
        (CHROMIUM_ACCEPT, "", True),  # a browser's navigation
        ("*/*", "", False),  # curl
        (requests.utils.default_headers()["Accept"], "", False),  # requests
        ("application/json", "", False),
        ("text/html", "?f=json", False),  # f=json forces JSON
        ("*/*", "?f=html", True),
        ("application/json", "?f=html", True),
    ],
)
def test_html_for_browsers_json_for_clients(client, water_point, accept, query, html):
    r = client.get(f"/api/scores/water_quality/{water_point}{query}", headers={"Accept": accept})
    assert r.status_code == 200
    assert "Accept" in r.headers["Vary"]
    if html:
        assert r.mimetype == "text/html" and "<svg" in r.get_data(as_text=True)
        assert "nonce-" in r.headers["Content-Security-Policy"]
    else:
        assert r.mimetype == "application/json" and r.get_json()["scores"][0]["method"] == "water_quality"


def test_an_unknown_format_is_a_problem(client, water_point):
    r = client.get(f"/api/scores/water_quality/{water_point}?f=xml", headers={"Accept": CHROMIUM_ACCEPT})
    assert r.status_code == 400 and r.mimetype == "application/problem+json"
    assert r.get_json()["errors"] == [{"field": "f", "reason": "must be one of html, json"}]


@pytest.mark.parametrize("url", ["/api/scores/water_quality/999999", "/api/scores/nope/1", "/api/scores/nope"])
def test_a_missing_subject_is_a_page_for_browsers_and_a_problem_for_clients(client, url):
    page = client.get(url, headers={"Accept": CHROMIUM_ACCEPT})
    assert page.status_code == 404 and page.mimetype == "text/html" and "Accept" in page.headers["Vary"]
    body = page.get_data(as_text=True)
    assert "There is nothing to explain here" in body and 'role="alert"' in body and "<header" in body
    problem = client.get(url)
    assert problem.status_code == 404 and problem.mimetype == "application/problem+json"
    assert problem.get_json()["status"] == 404 and "Accept" in problem.headers["Vary"]


# --- water: each measurement against its WHO value ------------------------------------------------------------
def test_water_page_draws_each_measurement_against_its_who_value(client, engine, water_point):
    doc = client.get(f"/api/scores/water_quality/{water_point}").get_json()
    score = next(s for s in doc["scores"] if s["method"] == "water_quality")
    stored = stored_result(engine, score["run_id"])
    html = html_page(client, f"/api/scores/water_quality/{water_point}")
    assert str(escape(score["summary"])) in html  # the plain words, escaped
    assert "Kiosk &lt;b&gt;9&lt;/b&gt;" in html and "<b>9</b>" not in html  # the citizen's name, escaped
    assert "private words" not in html and "<script>alert" not in html  # the private alert text never shows

    ecoli = chart(html, "water-e_coli_cfu_100ml")
    (bar,) = elements(ecoli, "rect", "bar")
    assert float(bar.get("data-value")) == stored["checks"]["e_coli_cfu_100ml"]["value"] == 40
    axis = ticks(ecoli)
    assert {0.0, 1.0, 10.0, 100.0} <= set(axis)  # a log axis of 1 + value: 0 at the origin
    assert (axis[10.0] - axis[0.0]) / (axis[100.0] - axis[0.0]) == pytest.approx(
        math.log10(11) / math.log10(101), abs=1e-3
    )
    assert float(bar.get("x")) + float(bar.get("width")) == pytest.approx(x_of(axis, 40, log=True), abs=0.5)
    (who,) = elements(ecoli, "line", "threshold")
    assert float(who.get("data-value")) == 0 and float(who.get("x1")) == pytest.approx(axis[0.0])

    nitrate = chart(html, "water-nitrate_mg_l")
    (bar,) = elements(nitrate, "rect", "bar")
    axis = ticks(nitrate)
    assert float(bar.get("data-value")) == 62
    assert float(bar.get("x")) + float(bar.get("width")) == pytest.approx(x_of(axis, 62), abs=0.5)
    (who,) = elements(nitrate, "line", "threshold")
    assert float(who.get("data-value")) == 50 and float(who.get("x1")) == pytest.approx(x_of(axis, 50), abs=0.5)

    ph = chart(html, "water-ph")  # a range: both ends drawn
    axis = ticks(ph)
    lines = sorted(float(t.get("data-value")) for t in elements(ph, "line", "threshold"))
    assert lines == [6.5, 8.5]
    for line in elements(ph, "line", "threshold"):
        assert float(line.get("x1")) == pytest.approx(x_of(axis, float(line.get("data-value"))), abs=0.5)
    # the numbers of every chart are in a table beside it, for screen readers
    assert re.search(r'<table class="chart-data"><caption>[^<]*Nitrate[^<]*</caption>.*?<td>62</td>', html, re.S)


# --- rating: raw mean, city mean, Bayesian score, n -----------------------------------------------------------
def centre(client, name, rating, complaint=None):
    props = {"centre_name": name, "rating": rating, "services": ["primary_care"]}
    if complaint:
        props["complaint"] = complaint
    body = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [-83.0, 39.96]}, "properties": props}
    r = client.post("/api/layers/health_centres/reports", json=body)
    assert r.status_code == 201, r.get_json()
    publish(client.application, r.get_json()["id"])  # complaints are moderated before they are published
    return r.get_json()["id"]


def test_rating_page_shows_raw_mean_city_mean_and_shrunk_score(client, engine, registry):
    rid = centre(client, "One Star", 2, complaint="rude <i>staff</i>")
    for r in (5, 5, 4, 5):
        centre(client, "Many", r)
    layer = registry.get("health_centres")
    run = scoring.run_ratings(engine, layer)
    scoring.run_transit_access(engine, layer)  # no GTFS feed: transit access is unknown, and says so
    with engine.connect() as conn:
        stored, params = conn.execute(
            text(
                "SELECT s.result, r.params FROM scores s JOIN score_runs r ON r.id = s.run_id "
                "WHERE s.run_id = :r AND s.subject = 'One Star'"
            ),
            {"r": run.run_id},
        ).one()
    html = html_page(client, f"/api/scores/health_centres/{rid}")
    svg = chart(html, "rating")
    drawn = {b.get("data-value") for b in elements(svg, "rect", "bar")}
    assert {repr(stored["mean"]), repr(params["prior_mean"]), repr(stored["bayesian_average"])} == drawn
    assert stored["mean"] == 2 and params["prior_mean"] == pytest.approx(21 / 5)
    axis = ticks(svg)
    assert min(axis) == 0 and max(axis) == 5
    for bar in elements(svg, "rect", "bar"):
        end = float(bar.get("x")) + float(bar.get("width"))
        assert end == pytest.approx(x_of(axis, float(bar.get("data-value"))), abs=0.5)
    assert "Its mean (n = 1)" in html
    assert "rude" not in html  # complaint texts are private
    assert chart(html, "complaints") is not None  # one complaint, by month
    assert "Access to public transport" in html and "no GTFS feed imported" in html

    ranking = html_page(client, "/api/scores/health_centres")
    svg = chart(ranking, "ranking")
    assert [float(b.get("data-value")) for b in elements(svg, "rect", "bar")] == pytest.approx(
        [
            r["bayesian_average"]
            for r in client.get("/api/scores/health_centres").get_json()["scores"]["ratings"]["results"]
        ]
    )
    assert "One Star" in ranking and "Many" in ranking


# --- hot spot cell: the Moran's I curve and the cell's z ------------------------------------------------------
def broad_clusters(n=1500, sd=0.03, seed=1):
    """Two broad clusters (σ ≈ 3 km) over a uniform background: Moran's I z peaks at a distance band."""
    rng = np.random.default_rng(seed)
    k = n // 3
    lon = np.concatenate([rng.normal(-83.0, sd, k), rng.normal(-82.9, sd, k), rng.uniform(-83.1, -82.8, n - 2 * k)])
    lat = np.concatenate([rng.normal(39.95, sd, k), rng.normal(40.05, sd, k), rng.uniform(39.88, 40.12, n - 2 * k)])
    return gpd.GeoDataFrame(
        {"category": ["theft"] * n, "severity": rng.integers(1, 6, n), "occurred_at": ["2026-10-01T12:00:00Z"] * n},
        geometry=shapely.points(lon, lat),
        crs=4326,
    )


SEEDS = {"distance band": broad_clusters, "k nearest neighbours": lambda: crime_points(1500)}


@pytest.fixture(params=list(SEEDS))
def hotspot_cell(request, engine, clean, registry):
    """The hottest published cell of a hot spot run whose scale is of the kind the parameter names."""
    import_frame(engine, registry.get("crime"), SEEDS[request.param](), "pts")
    run = scoring.run_hotspots(engine, registry.get("crime"))
    assert request.param in run.detail
    with engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT id, (properties->>'gi_z')::float8 AS z FROM derived_features "
                "WHERE layer = 'crime-hotspots' AND status = 'published' ORDER BY (properties->>'gi_z')::float8 DESC "
                "LIMIT 1"
            )
        ).one()


def test_hotspot_page_draws_the_moran_curve_and_the_cell_z(app, engine, hotspot_cell):
    client = app.test_client()
    doc = client.get(f"/api/scores/crime-hotspots/{hotspot_cell.id}").get_json()
    curve_stored = doc["parameters"]["scale"]["morans_i_z"]
    assert len(curve_stored) == 10  # the incremental spatial autocorrelation curve is kept with the run
    html = html_page(client, f"/api/scores/crime-hotspots/{hotspot_cell.id}")
    # the cell's class in the words of the map's legend
    assert "Reports in the cell" in html and explain.confidence_label(doc["result"]["confidence"]) in html

    curve = chart(html, "moran-curve")
    dots = elements(curve, "circle", "dot")
    assert [(float(d.get("data-x")), float(d.get("data-value"))) for d in dots] == [tuple(p) for p in curve_stored]
    xs = [float(d.get("cx")) for d in dots]
    assert xs == sorted(xs) and len(set(xs)) == 10
    scale = doc["parameters"]["scale"]
    marks = elements(curve, "line", "mark")
    if scale["kind"] == "distance band":
        (mark,) = marks
        assert float(mark.get("data-value")) == scale["value"]
        chosen = next(d for d in dots if float(d.get("data-x")) == round(scale["value"], 1))
        assert float(mark.get("x1")) == pytest.approx(float(chosen.get("cx")), abs=1)
    else:
        assert marks == []

    z = chart(html, "cell-z")
    (dot,) = elements(z, "circle", "dot")
    assert float(dot.get("data-value")) == hotspot_cell.z == doc["result"]["gi_z"]
    axis = ticks(z)
    assert float(dot.get("cx")) == pytest.approx(x_of(axis, hotspot_cell.z), abs=0.5)
    lines = {float(t.get("data-value")): float(t.get("x1")) for t in elements(z, "line", "threshold")}
    assert sorted(lines) == THRESHOLDS
    for value, x in lines.items():
        assert x == pytest.approx(x_of(axis, value), abs=0.5)


def test_a_suppressed_cell_has_no_page_for_the_public_but_has_one_for_police(app, engine, hotspot_cell):
    with engine.connect() as conn:
        small = conn.execute(
            text("SELECT id FROM derived_features WHERE layer = 'crime-hotspots' AND status = 'suppressed' LIMIT 1")
        ).scalar()
    if small is None:
        pytest.skip("this seed leaves no suppressed cell")
    client = app.test_client()
    page = client.get(f"/api/scores/crime-hotspots/{small}", headers={"Accept": CHROMIUM_ACCEPT})
    assert page.status_code == 404 and page.mimetype == "text/html"
    police = {"Authorization": f"Bearer {create_api_token(engine, 'police', 't')}"}
    html = html_page(client, f"/api/scores/crime-hotspots/{small}", **police)
    assert "no: fewer than" in html


# --- areas and districts ---------------------------------------------------------------------------------------
def test_livability_and_land_use_pages(engine, clean, registry, app):
    client = app.test_client()
    rng = np.random.default_rng(5)
    urban = gpd.GeoDataFrame(
        {"sentiment": rng.choice(["positive", "negative"], 200), "theme": rng.choice(["safety", "noise"], 200)},
        geometry=shapely.points(rng.uniform(-83.02, -82.98, 200), rng.uniform(39.95, 39.97, 200)),
        crs=4326,
    )
    import_frame(engine, registry.get("urban_life"), urban, "u")
    scoring.run_livability(engine, registry.get("urban_life"))
    area = client.get("/ogc/collections/urban_life-areas/items?limit=1").get_json()["features"][0]
    html = html_page(client, f"/api/scores/urban_life-areas/{area['id']}")
    p = area["properties"]
    (dot,) = elements(chart(html, "livability"), "circle", "dot")
    assert float(dot.get("data-value")) == pytest.approx(100 * p["livability"])
    assert f"<td>{p['positive']}</td>" in html and f"<td>{p['negative']}</td>" in html

    land = gpd.GeoDataFrame(
        {
            "land_class": ["public_space", "residential"],
            "district": ["North <em>", "North <em>"],
            "population": [0, 800],
        },
        geometry=[shapely.box(-83, 39.9, -82.99, 39.91), shapely.box(-82.99, 39.9, -82.98, 39.91)],
        crs=4326,
    )
    import_frame(engine, registry.get("land_use"), land, "l")
    scoring.run_land_use(engine, registry.get("land_use"))
    district = client.get("/ogc/collections/land_use-districts/items").get_json()["features"][0]
    html = html_page(client, f"/api/scores/land_use-districts/{district['id']}")
    assert "North &lt;em&gt;" in html and "North <em>" not in html
    bars = [float(b.get("data-value")) for b in elements(chart(html, "land-use"), "rect", "bar")]
    props = district["properties"]
    assert bars == pytest.approx([props["public_space_m2"] / 1e4, (props["area_m2"] - props["public_space_m2"]) / 1e4])


# --- in Chromium -----------------------------------------------------------------------------------------------
@pytest.mark.browser
def test_pages_in_chromium_keep_to_their_csp(browser, live_server, engine, registry, hotspot_cell, tmp_path):
    point = water_report_live(live_server)
    ctx = browser.new_context(base_url=live_server)
    ctx.add_init_script(RECORD_CSP)
    try:
        page = ctx.new_page()
        watch = Watch(page)
        response = page.goto("/api/scores/water_quality")
        assert response.status == 200 and page.locator("table.results tbody tr").count() == 1
        for url in (f"/api/scores/water_quality/{point}", f"/api/scores/crime-hotspots/{hotspot_cell.id}"):
            response = page.goto(url)
            assert response.status == 200 and response.headers["content-type"].startswith("text/html"), url
            assert page.locator("svg.chart").count() >= 1, url
            box = page.locator("svg.chart").first.bounding_box()
            assert box and box["width"] > 200 and box["height"] > 40, url  # drawn, with the stylesheet applied
            assert page.evaluate("window.__csp") == [], url
            page.screenshot(path=tmp_path / f"explain-{url.split('/')[3]}.png", full_page=True)
        assert watch.problems() == []
        response = page.goto("/api/scores/water_quality/999999")  # Chromium logs the 404 itself; nothing else
        assert response.status == 404 and page.locator("h1").inner_text() == "There is nothing to explain here"
        assert page.evaluate("window.__csp") == [] and watch.failed == watch.page_errors == []
    finally:
        ctx.close()


def water_report_live(base: str) -> int:
    body = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [-83.0, 39.96]},
        "properties": {
            "point_name": "Tap '\"<svg onload=alert(1)>",
            "source_type": "borehole",
            "functional_status": "functional",
            "sampled_at": "2026-05-10T09:00:00Z",
            "e_coli_cfu_100ml": 3,
            "ph": 7.0,
        },
    }
    r = requests.post(f"{base}/api/layers/water_quality/reports", json=body, timeout=30)
    assert r.status_code == 201, r.text
    return r.json()["id"]
