"""The citizen report form (/report) driven by a real headless Chromium against the live app and real PostGIS.

One Chromium for the module, a fresh browser context (cookies, storage, viewport) per test. Each test checks
what the citizen sees in the page *and* what the database holds afterwards.
"""

from __future__ import annotations

import json
import math
import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import text

from tests.conftest import count

pytestmark = pytest.mark.browser

# The citizen's clock: datetime-local values are local time and must reach the server converted to UTC.
TIMEZONE = "America/New_York"  # UTC-4 in May (EDT)
REPORTS_URL = re.compile(r"/api/layers/[a-z_]+/reports$")
PX_TOLERANCE = 3  # pixels: Leaflet rounds the map's pixel origin

expect.set_options(timeout=10_000)


class Watch:
    """Everything that went wrong in a page: failed requests, HTTP errors, console errors, uncaught exceptions."""

    def __init__(self, page: Page):
        self.requests: list[str] = []
        self.failed: list[str] = []
        self.http_errors: list[str] = []
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []
        self.posts = []  # report submissions (playwright Request objects)
        page.on("request", self._request)
        page.on("requestfailed", lambda r: self.failed.append(f"{r.method} {r.url}: {r.failure}"))
        page.on("response", lambda r: r.status >= 400 and self.http_errors.append(f"{r.status} {r.url}"))
        page.on("console", lambda m: m.type == "error" and self.console_errors.append(f"{m.text} ({m.location})"))
        page.on("pageerror", lambda e: self.page_errors.append(str(e)))

    def _request(self, r) -> None:
        self.requests.append(r.url)
        if r.method == "POST" and REPORTS_URL.search(r.url):
            self.posts.append(r)

    def problems(self) -> list[str]:
        return self.failed + self.http_errors + self.console_errors + self.page_errors


@pytest.fixture
def new_page(browser, live_server, clean):
    """Factory of pages, each in a fresh context; every page is watched (``page.watch``)."""
    contexts = []

    def make(**options) -> tuple[Page, Watch]:
        opts = dict(base_url=live_server, locale="en-US", timezone_id=TIMEZONE, viewport={"width": 1280, "height": 900})
        opts.update(options)
        ctx = browser.new_context(**opts)
        ctx.set_default_timeout(10_000)
        contexts.append(ctx)
        page = ctx.new_page()
        return page, Watch(page)

    yield make
    for ctx in contexts:
        ctx.close()


@pytest.fixture
def page_watch(new_page):
    return new_page()


# --- helpers ---------------------------------------------------------------------------------------------
def open_form(page: Page) -> None:
    page.goto("/report", wait_until="networkidle")
    expect(page.locator("#map.leaflet-container")).to_be_visible()  # Leaflet started
    expect(page.locator("#submit")).to_be_enabled()


def lonlat_at(center: list[float], zoom: int, dx: float, dy: float) -> tuple[float, float]:
    """Web Mercator: the lon/lat ``dx, dy`` CSS pixels away from the map centre ``[lat, lon]`` at ``zoom``."""
    scale = 256 * 2**zoom
    lat, lon = center
    s = math.sin(math.radians(lat))
    x = (lon + 180) / 360 * scale + dx
    y = (0.5 - math.log((1 + s) / (1 - s)) / (4 * math.pi)) * scale + dy
    return x / scale * 360 - 180, math.degrees(math.atan(math.sinh(math.pi - 2 * math.pi * y / scale)))


def degrees_per_px(zoom: int) -> float:
    return 360 / (256 * 2**zoom)


def map_centre_px(page: Page) -> tuple[float, float]:
    m = page.locator("#map")
    m.scroll_into_view_if_needed()
    box = m.bounding_box()
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def rows(engine, sql: str, **params) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(text(sql), params).mappings().all()]


def the_report(engine) -> dict:
    found = rows(
        engine,
        "SELECT id, layer, status, source, properties, private, observed_at, "
        "GeometryType(geom) AS gtype, ST_IsValid(geom) AS valid, ST_AsGeoJSON(geom) AS geojson "
        "FROM reports",
    )
    assert len(found) == 1, found
    r = found[0]
    r["geometry"] = json.loads(r.pop("geojson"))
    r["history"] = rows(engine, "SELECT status, note, changed_by FROM status_history WHERE report_id = :id", id=r["id"])
    return r


def expect_result(page: Page) -> str:
    """Wait for the thank-you section; return the tracking token it shows."""
    result = page.locator("#result")
    expect(result).to_be_visible()
    expect(result).to_be_focused()
    expect(page.locator("#report-form")).to_be_hidden()
    expect(page.locator("#result-status")).to_have_text("submitted")
    token = page.locator("#result-token")
    expect(token).to_have_text(re.compile(r"^[A-Za-z0-9_-]{20,}$"))
    return token.inner_text()


def fill_crime(page: Page, lat="39.961", lon="-83.004", category="theft") -> None:
    page.select_option("#layer", "crime")
    page.fill("#lat", lat)
    page.fill("#lon", lon)
    page.select_option("#crime-category", category)
    page.fill("#crime-severity", "2")
    page.fill("#crime-occurred_at", "2026-05-01T14:30")


# --- 1. the page loads cleanly, from the app's own origin ----------------------------------------------------
def test_form_loads_without_errors_and_only_from_the_app(page_watch, live_server, registry):
    page, watch = page_watch
    open_form(page)
    expect(page.locator("#map .leaflet-control-zoom-in")).to_be_visible()

    assert watch.problems() == []
    assert watch.requests, "no request seen"
    origin = urlsplit(live_server)
    foreign = [u for u in watch.requests if (urlsplit(u).scheme, urlsplit(u).netloc) != (origin.scheme, origin.netloc)]
    assert foreign == [], f"requests outside the app (CDN?): {foreign}"
    assert any(u.endswith("/vendor/leaflet/dist/leaflet.js") for u in watch.requests)

    # The form is generated from the layer definitions; only the first layer's fields are shown and enabled.
    assert page.locator("#layer option").evaluate_all("os => os.map(o => o.value)") == registry.ids()
    first = registry.ids()[0]
    for layer_id in registry.ids():
        fs = page.locator(f'fieldset.layer-fields[data-layer="{layer_id}"]')
        if layer_id == first:
            expect(fs).to_be_visible()
        else:
            expect(fs).to_be_hidden()
        assert fs.evaluate("fs => fs.disabled") == (layer_id != first)  # hidden fields are not sent
    for f in registry.get(first).fields:
        expect(page.locator(f"#err-{first}-{f.name}")).to_have_count(1)
    # Contact fields are one-line inputs with the right keyboard on phones (Enter submits, no newline).
    expect(page.locator(f"input#{first}-reporter_email")).to_have_attribute("type", "email")
    expect(page.locator(f"input#{first}-reporter_phone")).to_have_attribute("type", "tel")
    # A point layer shows the coordinate inputs, not the outline (the `hidden` attribute must really hide).
    expect(page.locator("#lat")).to_be_visible()
    expect(page.locator("#polygon")).to_be_hidden()


# --- 2. click the map, fill a crime report, submit, find it in PostGIS ---------------------------------------
def test_click_on_map_and_submit_a_crime_report(page_watch, engine, app):
    page, watch = page_watch
    open_form(page)
    page.select_option("#layer", "crime")

    cx, cy = map_centre_px(page)
    dx, dy = 70, -45  # east and north of the centre
    page.mouse.click(cx + dx, cy + dy)
    expect(page.locator("#lat")).not_to_have_value("")
    expect(page.locator("#lon")).not_to_have_value("")
    expect(page.locator("#map path.leaflet-interactive")).to_have_count(1)  # the marker
    lat, lon = float(page.input_value("#lat")), float(page.input_value("#lon"))
    zoom = int(app.config["MAP_ZOOM"])
    want_lon, want_lat = lonlat_at(app.config["MAP_CENTER"], zoom, dx, dy)
    tol = PX_TOLERANCE * degrees_per_px(zoom)
    assert abs(lon - want_lon) < tol and abs(lat - want_lat) < tol, ((lon, lat), (want_lon, want_lat))

    page.select_option("#crime-category", "burglary")
    page.fill("#crime-severity", "3")
    page.fill("#crime-occurred_at", "2026-05-01T14:30")
    page.fill("#crime-description", "Back door forced open during the night")
    page.check("#crime-reported_to_police")
    page.click("#submit")
    token = expect_result(page)

    r = the_report(engine)
    assert r["layer"] == "crime" and r["status"] == "submitted" and r["source"] == "web"
    assert r["gtype"] == "POINT"
    x, y = r["geometry"]["coordinates"]
    assert (round(x, 6), round(y, 6)) == (lon, lat)  # exactly what the inputs showed
    assert abs(x - want_lon) < tol and abs(y - want_lat) < tol
    assert r["private"]["description"] == "Back door forced open during the night"
    assert "description" not in r["properties"]  # a private field stays out of the public properties
    assert r["properties"]["category"] == "burglary" and r["properties"]["severity"] == 3
    assert r["properties"]["reported_to_police"] is True
    assert r["observed_at"].isoformat() == "2026-05-01T18:30:00+00:00"  # 14:30 in New York = 18:30 UTC
    assert [h["status"] for h in r["history"]] == ["submitted"]

    expect(page.locator("#result-id")).to_have_text(str(r["id"]))
    resp = page.request.get(f"/api/reports/{token}")
    assert resp.status == 200
    status = resp.json()
    assert status["id"] == r["id"] and status["status"] == "submitted" and status["layer"] == "crime"
    assert [h["status"] for h in status["history"]] == ["submitted"]
    assert "private" not in status and "geometry" not in status
    # the thank-you links the reporter's tracking page, which follows the report
    expect(page.locator("#result-link")).to_have_attribute("href", f"/track/{token}")
    page.locator("#result-link").click()
    expect(page.locator("#track-status")).to_have_text("submitted")
    assert watch.problems() == []


# --- 3. the server's messages appear next to their fields ------------------------------------------------------
def test_out_of_range_ph_typed_by_keyboard_is_shown_next_to_the_field(page_watch, engine):
    page, watch = page_watch
    open_form(page)
    page.select_option("#layer", "water_quality")
    page.fill("#lat", "39.97")
    page.fill("#lon", "-83.02")
    page.select_option("#water_quality-source_type", "borehole")
    page.select_option("#water_quality-functional_status", "functional")
    ph = page.locator("#water_quality-ph")
    ph.focus()
    page.keyboard.type("15")
    with page.expect_response(REPORTS_URL) as answer:
        page.click("#submit")
    assert answer.value.status == 422

    expect(page.locator("#err-water_quality-ph")).to_have_text("Must be <= 14.")
    expect(ph).to_have_attribute("aria-invalid", "true")
    expect(ph).to_be_focused()
    expect(page.locator("#err-water_quality-source_type")).to_be_hidden()  # empty: no message where none is due
    expect(page.locator("#water_quality-source_type")).not_to_have_attribute("aria-invalid", "true")
    expect(page.locator("#report-form")).to_be_visible()
    assert count(engine) == 0 and count(engine, "idempotency_keys") == 0

    # Corrected, the same form goes through (the rejected attempt must not block the next one).
    ph.fill("7.2")
    page.click("#submit")
    expect_result(page)
    r = the_report(engine)
    assert r["layer"] == "water_quality" and r["properties"]["ph"] == 7.2
    assert watch.page_errors == []


def test_missing_and_invalid_values_each_get_their_message(page_watch, engine):
    page, watch = page_watch
    open_form(page)
    fill_crime(page, lat="95")  # latitude out of range; the browser does not stop it (novalidate)
    page.select_option("#crime-category", "")  # required enum left unchosen
    page.fill("#crime-severity", "9")
    page.fill("#crime-occurred_at", "")
    with page.expect_response(REPORTS_URL) as answer:
        page.click("#submit")
    assert answer.value.status == 422

    expect(page.locator("#err-crime-category")).to_have_text("Is required.")
    expect(page.locator("#err-crime-severity")).to_have_text("Must be <= 5.")
    expect(page.locator("#err-crime-occurred_at")).to_have_text("Is required.")
    expect(page.locator("#err-geometry")).to_have_text("Latitude must be between -90 and 90.")
    for sel in ("#crime-category", "#crime-severity", "#crime-occurred_at", "#lat", "#lon"):
        expect(page.locator(sel)).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#crime-description")).not_to_have_attribute("aria-invalid", "true")
    assert count(engine) == 0
    assert watch.page_errors == []


def test_values_the_browser_cannot_read_are_named_not_dropped(page_watch, engine):
    page, watch = page_watch
    open_form(page)
    fill_crime(page)
    page.fill("#lat", "")
    page.fill("#lon", "")
    page.click("#submit")  # no location yet: said at once, nothing sent
    expect(page.locator("#err-geometry")).to_have_text(re.compile(r"^Place the report on the map"))
    expect(page.locator("#lat")).to_be_focused()
    expect(page.locator("#lat")).to_have_attribute("aria-invalid", "true")

    page.fill("#lat", "39.96")
    page.fill("#lon", "-83.0")
    severity = page.locator("#crime-severity")
    severity.fill("")
    severity.focus()
    page.keyboard.type("2e")  # a number input's value is "" for this: it must not vanish silently
    page.click("#submit")
    expect(page.locator("#err-crime-severity")).to_have_text("Must be a whole number.")
    expect(severity).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#err-geometry")).to_be_hidden()
    assert watch.posts == [] and count(engine) == 0
    assert watch.problems() == []


# --- 4. a phone-sized screen ----------------------------------------------------------------------------------
def test_phone_screen_no_horizontal_scroll_and_report_with_typed_coordinates(new_page, engine, registry):
    page, watch = new_page(
        viewport={"width": 375, "height": 667}, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    open_form(page)

    def no_horizontal_scroll(where: str) -> None:
        sw, cw = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert sw <= cw, f"{where}: page is {sw}px wide on a {cw}px screen"

    for layer_id in registry.ids():  # every layer's fields fit
        page.select_option("#layer", layer_id)
        expect(page.locator(f'fieldset[data-layer="{layer_id}"]')).to_be_visible()
        no_horizontal_scroll(layer_id)

    page.select_option("#layer", "crime")
    m = page.locator("#map")
    expect(m).to_be_visible()
    box = m.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 375 and box["height"] >= 200, box

    # A tap on the map places the point too.
    cx, cy = map_centre_px(page)
    page.touchscreen.tap(cx, cy)
    expect(page.locator("#lat")).not_to_have_value("")

    # Typed coordinates replace it.
    page.locator("#lat").tap()
    page.locator("#lat").fill("39.9555")
    page.locator("#lon").tap()
    page.locator("#lon").fill("-82.9877")
    page.select_option("#crime-category", "vandalism")
    page.locator("#crime-severity").fill("1")
    page.locator("#crime-occurred_at").fill("2026-06-02T08:05")
    submit = page.locator("#submit")
    submit.scroll_into_view_if_needed()
    expect(submit).to_be_visible()
    expect(submit).to_be_in_viewport()
    sbox = submit.bounding_box()
    assert sbox["x"] + sbox["width"] <= 375 and sbox["height"] >= 44  # a finger-sized target
    submit.tap()
    expect_result(page)
    no_horizontal_scroll("result")

    r = the_report(engine)
    assert r["layer"] == "crime" and r["properties"]["category"] == "vandalism"
    assert r["geometry"]["coordinates"] == [-82.9877, 39.9555]
    assert watch.problems() == []


# --- 5. keyboard alone ----------------------------------------------------------------------------------------
def focused_id(page: Page) -> str:
    return page.evaluate("document.activeElement ? document.activeElement.id : ''")


def tab_to(page: Page, element_id: str, limit: int = 80) -> None:
    for _ in range(limit):
        page.keyboard.press("Tab")
        if focused_id(page) == element_id:
            return
    pytest.fail(f"#{element_id} cannot be reached with Tab")


def test_keyboard_only_report(page_watch, engine):
    page, watch = page_watch
    open_form(page)

    tab_to(page, "layer")
    for _ in range(10):
        if page.input_value("#layer") == "urban_life":
            break
        page.keyboard.press("ArrowDown")
    assert page.input_value("#layer") == "urban_life"
    expect(page.locator('fieldset[data-layer="urban_life"]')).to_be_visible()

    tab_to(page, "lat")
    page.keyboard.type("39.9712")
    page.keyboard.press("Tab")
    assert focused_id(page) == "lon"
    page.keyboard.type("-83.0105")

    tab_to(page, "urban_life-sentiment")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    expect(page.locator("#urban_life-sentiment")).to_have_value("negative")
    page.keyboard.press("Tab")
    assert focused_id(page) == "urban_life-theme"
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    expect(page.locator("#urban_life-theme")).to_have_value("lighting")
    page.keyboard.press("Tab")
    assert focused_id(page) == "urban_life-rating"
    page.keyboard.type("2")
    page.keyboard.press("Tab")
    assert focused_id(page) == "urban_life-observed_at"
    page.keyboard.type("05012026")  # en-US segments: mm dd yyyy, then hh mm AM/PM
    page.keyboard.press("Tab")
    page.keyboard.type("0230P")
    expect(page.locator("#urban_life-observed_at")).to_have_value("2026-05-01T14:30")
    tab_to(page, "urban_life-comment")
    page.keyboard.type("Street light out since Monday")
    tab_to(page, "urban_life-reporter_email")
    page.keyboard.type("ana@example.org")
    page.keyboard.press("Enter")  # implicit submission
    expect_result(page)

    r = the_report(engine)
    assert r["layer"] == "urban_life" and r["gtype"] == "POINT"
    assert r["geometry"]["coordinates"] == [-83.0105, 39.9712]
    assert {k: r["properties"][k] for k in ("sentiment", "theme", "rating", "comment")} == {
        "sentiment": "negative",
        "theme": "lighting",
        "rating": 2,
        "comment": "Street light out since Monday",
    }
    assert r["private"]["reporter_email"] == "ana@example.org" and "reporter_email" not in r["properties"]
    assert r["observed_at"].isoformat() == "2026-05-01T18:30:00+00:00"

    # From the thank-you section, Space on "Report something else" brings back an empty form.
    tab_to(page, "another", limit=5)
    page.keyboard.press("Space")
    expect(page.locator("#report-form")).to_be_visible()
    expect(page.locator("#result")).to_be_hidden()
    expect(page.locator("#layer")).to_be_focused()
    expect(page.locator("#lat")).to_have_value("")
    assert watch.problems() == []


# --- 6. a polygon layer ---------------------------------------------------------------------------------------
def test_land_use_outline_typed_unclosed_is_stored_as_a_valid_polygon(page_watch, engine):
    page, watch = page_watch
    open_form(page)
    page.select_option("#layer", "land_use")
    expect(page.locator("#polygon")).to_be_visible()
    expect(page.locator("#lat")).to_be_hidden()
    expect(page.locator("#locate")).to_be_hidden()

    ring = [(-83.0, 39.96), (-82.99, 39.96), (-82.99, 39.97), (-83.0, 39.97)]  # not closed: the form closes it
    outline = page.locator("#polygon")
    outline.fill("\n".join(f"{x}, {y}" for x, y in ring))
    outline.press("Tab")  # change event: the outline is drawn
    expect(page.locator("#map path.leaflet-interactive")).to_have_count(1)
    page.select_option("#land_use-land_class", "green_space")
    page.fill("#land_use-district", "Olde Towne East")
    page.fill("#land_use-area_m2", "950000")
    page.click("#submit")
    expect_result(page)

    r = the_report(engine)
    assert r["layer"] == "land_use" and r["gtype"] == "POLYGON" and r["valid"]
    stored = r["geometry"]["coordinates"]
    assert len(stored) == 1 and len(stored[0]) == 5 and stored[0][0] == stored[0][-1]
    assert {tuple(p) for p in stored[0]} == set(ring)
    assert rows(engine, "SELECT ST_IsPolygonCCW(geom) AS ccw FROM reports")[0]["ccw"]  # RFC 7946 orientation
    assert r["properties"]["land_class"] == "green_space" and r["properties"]["area_m2"] == 950000
    assert watch.problems() == []


def test_land_use_outline_clicked_corner_by_corner(page_watch, engine, app):
    page, watch = page_watch
    open_form(page)
    page.select_option("#layer", "land_use")
    cx, cy = map_centre_px(page)
    corners = [(-80, -50), (80, -50), (80, 50), (-80, 50)]
    for dx, dy in corners:
        page.mouse.click(cx + dx, cy + dy)
    expect(page.locator("#polygon")).to_have_value(re.compile(r"^([-\d.]+, [-\d.]+\n){3}[-\d.]+, [-\d.]+$"))
    expect(page.locator("#lat")).to_have_value("")  # clicks on a polygon layer do not place a point
    page.select_option("#land_use-land_class", "informal_settlement")
    page.click("#submit")
    expect_result(page)

    r = the_report(engine)
    assert r["gtype"] == "POLYGON" and r["valid"]
    stored = r["geometry"]["coordinates"][0]
    assert len(stored) == 5 and stored[0] == stored[-1]
    zoom = int(app.config["MAP_ZOOM"])
    tol = PX_TOLERANCE * degrees_per_px(zoom)
    for dx, dy in corners:
        want = lonlat_at(app.config["MAP_CENTER"], zoom, dx, dy)
        assert any(abs(x - want[0]) < tol and abs(y - want[1]) < tol for x, y in stored), (want, stored)
    assert watch.problems() == []


# --- submitted once only ----------------------------------------------------------------------------------------
def test_double_click_on_submit_stores_one_report(page_watch, engine):
    page, watch = page_watch
    open_form(page)
    fill_crime(page)
    page.locator("#submit").dblclick()
    expect_result(page)
    assert count(engine) == 1
    keys = {p.headers.get("idempotency-key") for p in watch.posts}
    assert len(keys) == 1 and None not in keys and "" not in keys, keys
    assert watch.problems() == []


def lose_first_response(page) -> list:
    """The server gets the first report posted, but the browser never hears back (the connection is reset);
    later posts go through. Returns the list that receives the lost answer's (status, JSON body)."""
    lost = []

    def route_handler(route):
        if not lost:
            resp = route.fetch()
            lost.append((resp.status, resp.json()))
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route(REPORTS_URL, route_handler)
    return lost


def test_retry_after_a_lost_response_does_not_store_twice(page_watch, engine):
    page, watch = page_watch
    open_form(page)
    first_answer = lose_first_response(page)
    fill_crime(page)
    page.click("#submit")
    expect(page.locator("#err-form")).to_contain_text("network problem")
    assert first_answer and first_answer[0][0] == 201
    assert count(engine) == 1

    with page.expect_response(REPORTS_URL) as answer:
        page.click("#submit")  # the citizen tries again
    assert answer.value.headers.get("idempotent-replayed") == "true"
    token = expect_result(page)
    assert token == first_answer[0][1]["tracking_token"]
    assert count(engine) == 1 and count(engine, "status_history") == 1

    keys = [p.headers.get("idempotency-key") for p in watch.posts]
    assert len(keys) == 2 and keys[0] and keys[0] == keys[1], keys

    # A new report with the very same content is a new report, not a replay of the first.
    page.click("#another")
    fill_crime(page)
    page.click("#submit")
    expect_result(page)
    assert count(engine) == 2
    assert len({p.headers.get("idempotency-key") for p in watch.posts}) == 2
    assert watch.page_errors == []


def test_edited_report_after_a_lost_response_is_not_refused_as_a_key_reuse(page_watch, engine):
    page, watch = page_watch
    open_form(page)
    lost = lose_first_response(page)
    fill_crime(page)
    page.click("#submit")
    expect(page.locator("#err-form")).to_contain_text("network problem")
    assert [status for status, _ in lost] == [201]

    page.fill("#crime-description", "Added after the network error")  # another body: not a retry
    with page.expect_response(REPORTS_URL) as answer:
        page.click("#submit")
    assert answer.value.status == 201, answer.value.text()  # the same key with another body would be a 409
    expect_result(page)
    assert count(engine) == 2
    assert count(engine, where="private->>'description' = 'Added after the network error'") == 1
    assert watch.page_errors == []
