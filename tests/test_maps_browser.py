"""The map pages in a real Chromium against granian: layers read from the feeds for the viewport (never inlined),
counts per square where a viewport holds too many, popups and the list of reports in view, filters and the
layer control re-querying the feeds, and the privacy of sensitive layers checked on the network responses."""

from __future__ import annotations

import json
import time

import pytest
import requests
from playwright.sync_api import expect

from mapper.services.staff import create_user
from tests.browser_checks import sign_in
from tests.reports import published
from tests.servers import granian
from tests.test_report_browser import Watch

pytestmark = pytest.mark.browser
PASSWORD = "correct horse battery"
CENTRE = (-82.99, 39.96)  # the demo city's MAP_CENTER (Columbus, OH)


def crime(x: float, y: float, category: str = "theft", when: str = "2026-11-01T21:30:00Z") -> dict:
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [x, y]},
        "properties": {"category": category, "severity": 2, "occurred_at": when, "description": "private words"},
    }


def water(x: float, y: float, name: str) -> dict:
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [x, y]},
        "properties": {
            "point_name": name,
            "source_type": "borehole",
            "functional_status": "functional",
            "sampled_at": "2026-11-02T08:00:00Z",
            "e_coli_cfu_100ml": 12,
        },
    }


def post(server: str, layer: str, feature: dict) -> int:
    r = requests.post(f"{server}/api/layers/{layer}/reports", json=feature, timeout=30)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def settle(page, timeout: float = 10.0) -> dict:
    """Wait until the map client has no request in flight and has drawn since the last change; its dataset."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        d = page.evaluate("() => ({...document.documentElement.dataset})")
        if d.get("mapPending") == "0" and "mapDrawnAt" in d:
            time.sleep(0.15)  # a debounce-free client: a second look confirms nothing new started
            again = page.evaluate("() => ({...document.documentElement.dataset})")
            if again.get("mapPending") == "0" and again.get("mapDrawnAt") == d.get("mapDrawnAt"):
                return again
        time.sleep(0.05)
    raise AssertionError(f"the map did not settle: {d}")


def drawn_points(page) -> int:
    return page.locator(".leaflet-overlay-pane path.leaflet-interactive").count()


@pytest.fixture
def seeded(live_server, clean):
    x, y = CENTRE
    ids = {
        "crime": [
            published(clean, post(live_server, "crime", crime(x + 0.004 * i, y + 0.003 * i, cat)))
            for i, cat in enumerate(["theft", "theft", "burglary", "assault"])
        ],
        "water": [post(live_server, "water_quality", water(x - 0.01, y - 0.005, "Pozo Único 7781"))],
    }
    return ids


def test_public_map_reads_feeds_and_shows_text_popups(browser, live_server, seeded):
    context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    watch = Watch(page)
    html = requests.get(f"{live_server}/map", timeout=30).text
    assert "Pozo Único 7781" not in html  # reports are read by the browser, never put in the page
    page.goto("/map")
    settle(page)
    assert drawn_points(page) == 4  # crime drawn (generalised points), water off at first
    assert page.locator(".map-legend #legend-crime").is_visible()
    assert page.locator("#legend-water_quality").is_hidden()
    # the layer control adds the water layer: read from its feed, drawn, its legend shown
    page.locator(".leaflet-control-layers").hover()  # the layer control opens on hover, focus or tap
    page.get_by_role("checkbox", name="Water points and water quality").check()
    settle(page)
    assert drawn_points(page) == 5
    assert page.locator("#legend-water_quality").is_visible()
    assert any("/ogc/collections/water_quality/items?" in u and "bbox=" in u for u in watch.requests)
    # a click opens a popup with the public fields as text and the "how is this computed" link
    page.locator("#list-layer").select_option("water_quality")
    settle(page)
    page.locator("#map-list-items button").first.click()
    popup = page.locator(".leaflet-popup-content .report-popup")
    expect(popup).to_contain_text("Pozo Único 7781")
    expect(popup.get_by_role("link", name="How is this computed?")).to_have_attribute(
        "href", f"/api/scores/water_quality/{seeded['water'][0]}"
    )
    assert not watch.problems(), watch.problems()
    context.close()


def test_filters_and_list_requery_the_feeds(browser, live_server, seeded):
    context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    watch = Watch(page)
    page.goto("/map")
    settle(page)
    items = page.locator("#map-list-items li")
    assert items.count() == 4
    listed = [int(i) for i in items.evaluate_all("els => els.map(e => e.dataset.id)")]
    assert listed == sorted(seeded["crime"], reverse=True)  # newest first
    page.locator("#value-crime").select_option("theft")
    page.get_by_role("button", name="Apply").click()
    settle(page)
    assert drawn_points(page) == 2
    assert items.count() == 2
    assert any("category=theft" in u for u in watch.requests)
    page.locator("#filter-from").fill("2026-12-01")
    page.get_by_role("button", name="Apply").click()
    settle(page)
    assert drawn_points(page) == 0
    expect(page.locator("#map-list-status")).to_have_text("No reports in view. Zoom out or move the map.")
    page.get_by_role("button", name="Clear").click()
    settle(page)
    assert drawn_points(page) == 4
    assert not watch.problems(), watch.problems()
    context.close()


def test_counts_per_square_when_a_viewport_holds_too_many(browser, database_url, tmp_path, clean):
    with granian(database_url, tmp_path, workers=1, MAP_DETAIL_LIMIT=3) as server:
        x, y = CENTRE
        for i in range(8):
            published(clean, post(server.url, "crime", crime(x + 0.0005 * i, y)))  # one square at the first zoom
        context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 900})
        page = context.new_page()
        watch = Watch(page)
        page.goto("/map")
        settle(page)
        badges = page.locator(".count-marker .count-badge")
        assert badges.count() >= 1
        assert sum(int(t) for t in badges.all_text_contents()) == 8
        assert drawn_points(page) == 0
        zoom = page.evaluate("() => window.civicMap.map.getZoom()")
        page.locator(".count-marker").first.focus()  # a count is reached with the keyboard; Enter zooms in
        page.keyboard.press("Enter")
        page.wait_for_function(f"() => window.civicMap.map.getZoom() > {zoom}")
        settle(page)
        # the hot spot page's heat map weighs each square by the reports it stands for
        page.goto("/maps/hotspots/crime?window=12m")
        settle(page)
        page.locator("#heat-toggle").check()
        assert page.locator(".count-marker").count() >= 1 and drawn_points(page) == 0
        heat = page.evaluate("() => ({...document.documentElement.dataset})")
        assert int(heat["heatWeight"]) == 8 and int(heat["heatPoints"]) == page.locator(".count-marker").count()
        assert page.locator("canvas.leaflet-heatmap-layer").count() == 1
        assert not watch.problems(), watch.problems()
        context.close()


def crime_coordinates(responses: list) -> set[tuple[float, float]]:
    out = set()
    for body in responses:
        for f in json.loads(body).get("features", []):
            out.add(tuple(round(c, 6) for c in f["geometry"]["coordinates"]))
    return out


def open_map_collecting(page, path: str = "/map") -> list[str]:
    bodies: list[str] = []

    def keep(r):
        if "/ogc/collections/crime/items" in r.url and r.status == 200:
            bodies.append(r.text())

    page.on("response", keep)
    page.goto(path)
    settle(page)
    return bodies


POLICE, UTILITY = "pol@example.org", "wat@example.org"


def responses_seen_by(browser, live_server, engine, path: str) -> dict:
    """The bodies of the map's data responses on ``path`` for an anonymous visitor, a utility and a police user
    (each signed in through the form, in a context of their own), by e-mail (None: anonymous)."""
    create_user(engine, POLICE, "police", PASSWORD)
    create_user(engine, UTILITY, "utility", PASSWORD)
    seen = {}
    for who in (None, UTILITY, POLICE):
        context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900})
        page = context.new_page()
        if who:
            sign_in(page, who, PASSWORD)
        seen[who] = open_map_collecting(page, path)
        assert seen[who], f"the crime feed was read ({who})"
        context.close()
    return seen


def test_sensitive_locations_stay_generalised_unless_the_role_may_see_them(browser, live_server, clean):
    x, y = -82.98713, 39.96421
    published(clean, post(live_server, "crime", crime(x, y)))
    bodies = responses_seen_by(browser, live_server, clean, "/map")
    for who in (None, UTILITY):  # private fields are the exact audience's too
        assert all("private words" not in b for b in bodies[who])
    seen = {who: crime_coordinates(b) for who, b in bodies.items()}
    assert (x, y) not in seen[None] and (x, y) not in seen[UTILITY]
    assert seen[None] == seen[UTILITY]
    assert (x, y) in seen[POLICE]


def test_map_page_stays_small_whatever_the_layers_hold(live_server, clean):
    before = len(requests.get(f"{live_server}/map", timeout=30).content)
    with clean.begin() as conn:
        conn.exec_driver_sql(
            """INSERT INTO reports (layer, geom, properties, private, status, observed_at, source)
               SELECT 'crime', ST_SetSRID(ST_MakePoint(-83.1 + random() * 0.2, 39.9 + random() * 0.1), 4326),
                      jsonb_build_object('category', 'theft', 'severity', 1, 'occurred_at', now()::text,
                                         'reported_to_police', false, 'description', NULL),
                      '{}'::jsonb, 'submitted', now(), 'import'
               FROM generate_series(1, 5000)"""
        )
    after = len(requests.get(f"{live_server}/map", timeout=30).content)
    assert after < 300_000
    assert abs(after - before) < 2_000  # nothing of the reports is in the page (only nonces and tokens differ)


def test_report_a_problem_here_opens_the_form_at_the_maps_centre(browser, live_server, clean):
    context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    watch = Watch(page)
    page.goto("/map")
    settle(page)
    centre = page.evaluate("() => { const c = civicMap.map.getCenter(); return [c.lat, c.lng]; }")
    with page.expect_navigation():
        page.get_by_role("button", name="Report a problem here").click()
    assert "/report?lat=" in page.url
    assert abs(float(page.locator("#lat").input_value()) - centre[0]) < 1e-6
    assert abs(float(page.locator("#lon").input_value()) - centre[1]) < 1e-6
    expect(page.locator("#map path.leaflet-interactive")).to_have_count(1)  # the report's point, placed
    assert not watch.problems(), watch.problems()
    context.close()
    # what is not a point on Earth is ignored: an empty form, never an error
    for query in ("lat=91&lon=0", "lat=nan&lon=1", "lat=1&lon=%3Cscript%3E", "lat=1"):
        r = requests.get(f"{live_server}/report?{query}", timeout=30)
        lat_input = r.text.split('id="lat"')[1].split(">")[0]
        assert r.status_code == 200 and "value=" not in lat_input, query
