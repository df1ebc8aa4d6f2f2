"""The hot spot and transit map pages in Chromium: cells, window, privacy of exact points on the network."""

from __future__ import annotations

import pytest
import requests
from playwright.sync_api import expect

from tests.reports import published
from tests.test_maps_browser import POLICE, UTILITY, crime, crime_coordinates, post, responses_seen_by, settle
from tests.test_report_browser import Watch

pytestmark = pytest.mark.browser


def test_hotspot_page_for_a_layer_without_hotspots_is_a_404_problem(live_server, clean):
    r = requests.get(f"{live_server}/maps/hotspots/water_quality", timeout=30)
    assert r.status_code == 404
    assert r.headers["Content-Type"].startswith("application/problem+json")
    assert requests.get(f"{live_server}/maps/hotspots/crime?window=7y", timeout=30).status_code == 400


def test_hotspot_page_loads_with_window_legend_and_slider(browser, live_server, clean):
    context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    watch = Watch(page)
    page.goto("/maps/hotspots/crime?window=4w")
    settle(page)
    expect(page.locator("#legend-crime-hotspots")).to_contain_text("Getis-Ord Gi*")
    expect(page.locator("#legend-crime-hotspots")).to_contain_text("99 % confidence")
    page.locator("#week-slider").fill("2")
    settle(page)
    assert any("/ogc/collections/crime/items?" in u and "datetime=" in u for u in watch.requests)
    page.locator("#heat-toggle").check()
    assert not watch.problems(), watch.problems()
    context.close()


def test_exact_crime_points_only_for_police(browser, live_server, clean):
    x, y = -82.98713, 39.96421
    published(clean, post(live_server, "crime", crime(x, y, when="2026-11-30T10:00:00Z")))
    bodies = responses_seen_by(browser, live_server, clean, "/maps/hotspots/crime?window=12m")
    seen = {who: crime_coordinates(b) for who, b in bodies.items()}
    assert (x, y) not in seen[None] and (x, y) not in seen[UTILITY]
    assert (x, y) in seen[POLICE]


def test_cells_drawn_and_the_run_stated_after_a_score_run(browser, live_server, clean, registry):
    from mapper.services.scoring import score_layer
    from tests.test_maps_browser import CENTRE

    x, y = CENTRE
    with clean.begin() as conn:
        conn.exec_driver_sql(
            f"""INSERT INTO reports (layer, geom, properties, private, status, observed_at, source)
               SELECT 'crime', ST_SetSRID(ST_MakePoint({x} + (g %% 20) * 0.002 + (g %% 3) * 0.0002,
                                                      {y} + (g / 20) * 0.002), 4326),
                      jsonb_build_object('category', 'theft', 'severity', 1 + (g %% 5 = 0)::int * 4,
                                         'occurred_at', now()::text, 'reported_to_police', false),
                      '{{}}'::jsonb, 'verified', now(), 'import'
               FROM generate_series(1, 400) g"""
        )
    score_layer(clean, registry.get("crime"))
    page = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900}).new_page()
    watch = Watch(page)
    page.goto("/maps/hotspots/crime")
    settle(page)
    expect(page.locator("#hotspot-run")).to_contain_text("from 400 reports")
    cells = page.evaluate(
        "() => window.civicMap.layers.find(l => l.spec.id === 'crime-hotspots').data.getLayers().length"
    )
    assert cells > 0
    # every map says when its scores were computed: here the hot spots; the public map too
    expect(page.locator('#score-runs li[data-layer="crime"][data-method="hotspots"]')).to_contain_text("400 reports")
    page.goto("/map")
    expect(page.locator('#score-runs li[data-layer="crime"][data-method="hotspots"]')).to_contain_text("400 reports")
    expect(page.locator('#score-runs li[data-layer="urban_life"]').first).to_contain_text("not computed yet")
    assert not watch.problems(), watch.problems()
