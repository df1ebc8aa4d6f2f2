"""/maps/water and /maps/health in a real Chromium against the live server: water points coloured by their
E. coli band, alerts outlined, measurements against WHO values in the popup, alert decisions by a signed-in
utility user (with the session's CSRF token; refused without it and for anonymous users); health centres
filtered by service with their rating, complaints per month (counts, never text) and transit."""

from __future__ import annotations

import pytest
import requests
from playwright.sync_api import expect

from mapper.services import scoring
from mapper.services.audience_maps import BAND_COLOURS, e_coli_classes
from mapper.services.staff import create_user
from tests.browser_checks import sign_in
from tests.reports import published
from tests.test_maps_browser import CENTRE, PASSWORD, drawn_points, post, settle
from tests.test_report_browser import Watch

pytestmark = pytest.mark.browser


def water(x, y, name, e_coli, alert=False, **more):
    props = {
        "point_name": name,
        "source_type": "borehole",
        "functional_status": "functional",
        "sampled_at": "2026-11-02T08:00:00Z",
        "e_coli_cfu_100ml": e_coli,
        "alert": alert,
        **more,
    }
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [x, y]}, "properties": props}


def test_e_coli_classes_follow_the_domain_bands():
    items = e_coli_classes()["items"]
    assert [(i.get("min"), i.get("max")) for i in items] == [(0.0, 1.0), (1.0, 11.0), (11.0, 101.0), (101.0, None)]
    assert [i["color"] for i in items] == list(BAND_COLOURS.values())


@pytest.fixture
def points(live_server, clean):
    x, y = CENTRE
    return {
        "clean": post(live_server, "water_quality", water(x, y, "Clean tap", 0, ph=7.2)),
        "high": post(live_server, "water_quality", water(x + 0.01, y, "Bad well", 50, ph=9.1)),
        "alert": post(
            live_server,
            "water_quality",
            water(x - 0.01, y, "Alert spring", 3, alert=True, alert_text="<b>sick</b> kids"),
        ),
    }


def popup_of(page, name):
    return page.locator(".leaflet-popup-content .report-popup", has_text=name)


def fill_of(page, report_id):
    return page.evaluate(
        """id => { let c = null; window.civicMap.layers[0].data.eachLayer(l => {
             if (l.feature.id === id) c = {fill: l.options.fillColor, weight: l.options.weight}; });
           return c; }""",
        report_id,
    )


def test_water_map_colours_bands_outlines_alerts_and_shows_who_checks(browser, live_server, points):
    html = requests.get(f"{live_server}/maps/water", timeout=30).text
    assert "Alert spring" not in html and "csrf-token" not in html
    context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    watch = Watch(page)
    page.goto("/maps/water")
    settle(page)
    assert drawn_points(page) == 3
    assert fill_of(page, points["clean"])["fill"] == BAND_COLOURS["low"]
    assert fill_of(page, points["high"])["fill"] == BAND_COLOURS["high"]
    alert = fill_of(page, points["alert"])
    assert alert["fill"] == BAND_COLOURS["moderate"] and alert["weight"] == 4
    assert fill_of(page, points["clean"])["weight"] != 4
    # the popup: measurements against WHO values, from the score's explanation
    page.locator(f"#map-list-items li[data-id='{points['high']}'] button").click()
    popup = popup_of(page, "Bad well")
    table = popup.locator("table.who-checks")
    expect(table).to_be_visible()
    expect(table.locator("tr.check-fail")).to_have_count(2)  # E. coli 50 > 0, pH 9.1 > 8.5
    expect(popup).to_contain_text("unsafe")
    expect(popup.locator(".alert-actions")).to_have_count(0)  # anonymous: no buttons
    page.locator(f"#map-list-items li[data-id='{points['alert']}'] button").click()
    popup = popup_of(page, "Alert spring")
    expect(popup.locator(".water-alert-state")).to_contain_text("alert — unverified")
    expect(popup.locator(".alert-actions")).to_have_count(0)
    expect(popup).to_contain_text("<b>sick</b> kids")  # a citizen's text, shown as text
    expect(popup.locator("b")).to_have_count(0)
    assert not watch.problems(), watch.problems()
    # anonymous POSTs are refused
    r = requests.post(
        f"{live_server}/api/reports/{points['alert']}/alert-decision", json={"decision": "verify"}, timeout=30
    )
    assert r.status_code in (401, 403)
    context.close()


def test_utility_user_verifies_an_alert_and_a_forged_post_is_refused(browser, live_server, points, clean):
    create_user(clean, "wat@example.org", "utility", PASSWORD)
    context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    sign_in(page, "wat@example.org", PASSWORD)
    watch = Watch(page)
    url = f"/api/reports/{points['alert']}/alert-decision"
    # a forged request: the session cookie rides along, the CSRF token does not (or is wrong)
    forged = page.request.post(url, data={"decision": "dismiss"})
    assert forged.status in (401, 403), forged.text()
    wrong = page.request.post(url, data={"decision": "dismiss"}, headers={"X-CSRFToken": "forged"})
    assert wrong.status in (401, 403), wrong.text()
    page.goto("/maps/water")
    settle(page)
    page.locator(f"#map-list-items li[data-id='{points['alert']}'] button").click()
    popup = popup_of(page, "Alert spring")
    actions = popup.locator(".alert-actions")
    expect(actions.get_by_role("button", name="Verify alert")).to_be_visible()
    actions.get_by_role("button", name="Verify alert").click()
    expect(popup.locator(".decision-done")).to_contain_text("verified")
    settle(page)
    status = requests.get(f"{live_server}/ogc/collections/water_quality/items/{points['alert']}", timeout=30).json()
    assert status["properties"]["status"] == "verified"
    # a point without an alert offers no buttons
    page.locator(f"#map-list-items li[data-id='{points['clean']}'] button").click()
    popup = popup_of(page, "Clean tap")
    expect(popup.locator("table.who-checks")).to_be_visible()
    expect(popup.locator(".alert-actions")).to_have_count(0)
    assert not watch.problems(), watch.problems()
    context.close()


def centre(x, y, name, services, rating, complaint=None, visited="2026-10-05"):
    props = {"centre_name": name, "services": services, "rating": rating, "visited_on": visited, "complaint": complaint}
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [x, y]}, "properties": props}


def test_health_map_filters_by_service_and_shows_ratings_and_complaint_counts(browser, live_server, clean, app):
    x, y = CENTRE
    ids = [
        published(
            clean, post(live_server, "health_centres", centre(x, y, "Clínica Norte", ["maternity", "vaccination"], 5))
        ),
        published(
            clean,
            post(live_server, "health_centres", centre(x, y, "Clínica Norte", ["maternity"], 3, "rude staff secret")),
        ),
        published(
            clean,
            post(
                live_server,
                "health_centres",
                centre(x, y, "Clínica Norte", ["maternity"], 4, "long wait secret", visited="2026-11-12"),
            ),
        ),
        published(clean, post(live_server, "health_centres", centre(x + 0.01, y, "Posto Sul", ["dental"], 2))),
    ]
    layer = app.extensions["mapper.registry"].report_layer("health_centres")
    scoring.score_layer(clean, layer)
    context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    watch = Watch(page)
    bodies = []
    page.on("response", lambda r: bodies.append(r.text()) if "/api/scores/" in r.url or "/ogc/" in r.url else None)
    page.goto("/maps/health")
    settle(page)
    assert drawn_points(page) == 4
    page.locator("#value-health_centres").select_option("dental")
    page.get_by_role("button", name="Apply").click()
    settle(page)
    assert drawn_points(page) == 1
    page.locator("#value-health_centres").select_option("maternity")
    page.get_by_role("button", name="Apply").click()
    settle(page)
    assert drawn_points(page) == 3
    page.locator(f"#map-list-items li[data-id='{ids[2]}'] button").click()
    scores = page.locator(".leaflet-popup-content table.centre-scores")
    expect(scores).to_contain_text("from 3 rating(s)")
    expect(scores).to_contain_text("2026-10: 1, 2026-11: 1")
    expect(scores.locator("tr")).to_have_count(3)  # rating, complaints, transit (no feed: unknown)
    expect(scores).to_contain_text("Transit access unknown")
    settle(page)
    assert not any("secret" in b for b in bodies)  # complaint texts never reach the public
    assert not watch.problems(), watch.problems()
    context.close()
