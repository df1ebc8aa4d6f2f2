"""The transit map in Chromium on a real GTFS feed (Cairns 2014): routes in their colours, a stop's popup."""

from __future__ import annotations

import datetime as dt

import pytest
import requests
from playwright.sync_api import expect
from sqlalchemy import text

from mapper.services.gtfs_import import import_feed
from tests.conftest import SHARED_DATA
from tests.test_maps_browser import settle
from tests.test_report_browser import Watch

pytestmark = pytest.mark.browser
CAIRNS = SHARED_DATA / "gtfs" / "cairns-2014.zip"


def test_transit_map_draws_routes_in_their_colours_and_stop_popups(browser, live_server, clean):
    with clean.begin() as conn:
        conn.execute(text("TRUNCATE gtfs_feeds CASCADE; DELETE FROM derived_features"))
    import_feed(clean, CAIRNS, "cairns", service_date=dt.date(2014, 5, 30))
    routes = requests.get(f"{live_server}/ogc/collections/transit_routes/items", params={"limit": 1000}).json()
    colours = {
        "#" + f["properties"]["route_color"].lower().lstrip("#")
        for f in routes["features"]
        if f["properties"]["route_color"]
    }
    assert colours
    stop = requests.get(f"{live_server}/ogc/collections/transit_stops/items", params={"limit": 1}).json()["features"][0]
    x, y = stop["geometry"]["coordinates"]
    context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    watch = Watch(page)
    page.goto("/maps/transit")
    settle(page)
    # the map opens on the feeds' stops (Cairns), not on the city's centre (Columbus), with stops drawn
    west, south, east, north = page.evaluate("() => window.civicMap.map.getBounds().toBBoxString()").split(",")
    assert float(west) <= x <= float(east) and float(south) <= y <= float(north)
    assert int(page.evaluate("() => document.documentElement.dataset.mapFeatures")) > 0
    expect(page.locator("#transit-feed")).to_contain_text("cairns")
    expect(page.locator("#transit-feed")).to_contain_text("2014-05-30")
    page.evaluate(f"() => window.civicMap.map.setView([{y}, {x}], 14)")
    settle(page)
    strokes = set(
        page.locator(".leaflet-overlay-pane path.leaflet-interactive").evaluate_all(
            "els => els.map(e => (e.getAttribute('stroke') || '').toLowerCase())"
        )
    )
    assert colours & strokes, (colours, strokes)
    page.evaluate(
        "() => { const l = window.civicMap.layers.find(l => l.spec.id === 'transit_stops');"
        " l.data.getLayers()[0].fire('click'); }"
    )
    popup = page.locator(".leaflet-popup-content")
    expect(popup).to_contain_text("Routes")
    expect(popup).to_contain_text("Mean headway")
    assert not watch.problems(), watch.problems()
    context.close()
