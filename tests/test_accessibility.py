"""Every HTML page in a real Chromium: no serious or critical axe-core violation of WCAG 2.0/2.1 A and AA, no
failed request or console error, a non-blank screenshot at desktop and phone width (``browser_checks``); the
report form and the skip link with the keyboard alone.

A new page is one more line in ``PAGES``.
"""

from __future__ import annotations

import re

import pytest
import requests
from playwright.sync_api import Page, expect

from mapper.services import access_log
from mapper.services.staff import create_user
from tests.browser_checks import (
    SCREENS,
    Target,
    assert_accessible,
    assert_not_blank,
    axe_violations,
    new_context,
    open_target,
    screenshot,
    screenshot_dir,
    sign_in,
)
from tests.reports import published
from tests.test_report_browser import Watch, expect_result, focused_id, tab_to, the_report

pytestmark = pytest.mark.browser
STAFF_EMAIL, STAFF_PASSWORD = "ana@example.org", "correct horse battery"
ADMIN_EMAIL = "root@example.org"


def post_sign_in_without_token(page: Page) -> None:
    """The sign-in form sent without its CSRF token: the refusal page."""
    page.locator('input[name="csrf_token"]').evaluate("el => el.remove()")
    page.fill("#email", STAFF_EMAIL)
    page.fill("#password", STAFF_PASSWORD)
    page.press("#password", "Enter")


MAP_DRAWN = "html[data-map-drawn-at]"  # static/maps.js: the viewport's features are drawn
PAGES = [
    Target("landing", "/"),
    Target("report", "/report", ready="#map.leaflet-container"),
    Target("map", "/map", ready=MAP_DRAWN),
    Target("map-water", "/maps/water", ready=MAP_DRAWN),
    Target("map-health", "/maps/health", ready=MAP_DRAWN),
    Target("map-hotspots", "/maps/hotspots/crime", ready=MAP_DRAWN),
    Target("map-transit", "/maps/transit", ready=MAP_DRAWN),
    Target("map-planning", "/maps/planning", ready=MAP_DRAWN),
    Target("map-police", "/maps/hotspots/crime", ready=MAP_DRAWN, signed_in=True),
    Target("signin", "/staff/login"),
    Target("track", "/track/{token}"),
    Target("staff", "/staff", signed_in=True),
    Target("staff-queue", "/staff/queue", signed_in=True),
    Target("staff-report", "/staff/reports/{crime_id}", signed_in=True),
    Target("access-log", "/staff/access-log", ready="#access-log", signed_in="admin"),
    Target("ogc-landing", "/ogc?f=html"),
    Target("ogc-collections", "/ogc/collections?f=html"),
    Target("ogc-items", "/ogc/collections/crime/items?f=html"),
    Target("ogc-item", "/ogc/collections/crime/items/{crime_id}?f=html"),
    Target("not-found", "/no-such-page", status=404, ready="h1"),
    Target("refused", "/staff/login", status=400, then=post_sign_in_without_token),
]

# Pages that do not pass axe yet, each with why; strict, so the mark must go when the page is fixed.
KNOWN_DEFECTS: dict = {}


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory):
    return screenshot_dir(tmp_path_factory)


@pytest.fixture
def seeded(live_server, clean) -> dict:
    """A staff account and one public crime report (through the API, as a citizen sends it)."""
    create_user(clean, STAFF_EMAIL, "police", STAFF_PASSWORD)
    create_user(clean, ADMIN_EMAIL, "admin", STAFF_PASSWORD)
    feature = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [-83.0, 39.96]},
        "properties": {"category": "theft", "severity": 2, "occurred_at": "2026-05-01T14:30:00Z"},
    }
    resp = requests.post(f"{live_server}/api/layers/crime/reports", json=feature, timeout=10)
    assert resp.status_code == 201, resp.text
    access_log.record_view(clean, actor="user:1", role="police", layer="crime", what="exact_location",
                           route="/ogc/collections/crime/items?limit=100", report_id=resp.json()["id"])  # fmt: skip
    return {"crime_id": published(clean, resp.json()["id"]), "token": resp.json()["tracking_token"]}


@pytest.mark.parametrize("screen", list(SCREENS))
@pytest.mark.parametrize("target", [pytest.param(t, id=t.name, marks=KNOWN_DEFECTS.get(t.name, ())) for t in PAGES])
def test_page_is_accessible_and_drawn(browser, live_server, seeded, screenshots, target: Target, screen: str):
    ctx = new_context(browser, live_server, screen)
    try:
        page = ctx.new_page()
        if target.signed_in:
            sign_in(page, ADMIN_EMAIL if target.signed_in == "admin" else STAFF_EMAIL, STAFF_PASSWORD)
        watch = open_target(page, target, seeded)
        screenshot(page, screenshots, f"{target.name}-{screen}")
        assert watch.problems() == []
        assert_accessible(page, f"{target.name} ({screen})")
    finally:
        ctx.close()


# --- the checks themselves can fail ------------------------------------------------------------------------------
def test_axe_and_the_blank_check_refuse_what_they_should(browser):
    page = browser.new_page(viewport={"width": 640, "height": 400})
    try:
        page.set_content("<html><body><img src='data:,'><p style='color:#eee'>faint</p><input></body></html>")
        found = {v["id"] for v in axe_violations(page)}
        assert {"html-has-lang", "image-alt", "color-contrast", "label"} <= found, found
        with pytest.raises(pytest.fail.Exception, match="image-alt"):
            assert_accessible(page, "bad page")

        page.set_content("<html lang='en'><body></body></html>")
        with pytest.raises(AssertionError, match="blank"):
            assert_not_blank(page.screenshot(), "empty page")
        page.set_content("<html lang='en'><body><h1>Heading</h1><p>Some words on the page.</p></body></html>")
        assert_not_blank(page.screenshot(), "page with text")
    finally:
        page.close()


# --- the keyboard alone ------------------------------------------------------------------------------------------
# What Tab should reach, in document order: every visible, enabled focusable element (no positive tabindex is
# used, so the order is the document's). Each is tagged with its index for the walk below.
TAG_FOCUSABLES = """() => {
  const all = [...document.querySelectorAll('a[href], button, input, select, textarea, [tabindex]')].filter(el =>
    !el.disabled && el.tabIndex >= 0 && el.type !== "hidden" && el.checkVisibility({visibilityProperty: true}));
  all.forEach((el, i) => { el.dataset.a11yOrder = i; });
  return all.map(el => el.id || el.getAttribute("aria-label") || el.textContent.trim() || el.name);
}"""
# The focused element, whether it shows a focus ring (:focus-visible with an outline) and the ring's contrast:
# the better of its outline's and its box-shadow's colour against the background behind it (WCAG 1.4.11: 3:1).
FOCUSED = """() => {
  const el = document.activeElement, s = getComputedStyle(el);
  const rgb = c => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = c => c.slice(0, 3).map(v => (v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4)
    .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
  const contrast = (a, b) => {
    const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x);
    return (hi + .05) / (lo + .05);
  };
  let bg = [255, 255, 255];
  for (let p = el.parentElement; p; p = p.parentElement) {
    const c = rgb(getComputedStyle(p).backgroundColor);
    if (c.length === 3 || c[3] > 0) { bg = c; break; }
  }
  const shadow = s.boxShadow.startsWith("rgb") ? rgb(s.boxShadow.split(")")[0]) : null;
  return {order: el.dataset.a11yOrder ?? null, visible: el.matches(":focus-visible"),
          outline: s.outlineStyle === "none" ? 0 : parseFloat(s.outlineWidth),
          contrast: Math.max(contrast(rgb(s.outlineColor), bg), shadow ? contrast(shadow, bg) : 1)};
}"""
MIN_OUTLINE_PX = 2
MIN_RING_CONTRAST = 3
SEGMENTS_MAX = 8


@pytest.fixture
def desktop(browser, live_server, clean):
    ctx = new_context(browser, live_server, "desktop")
    page = ctx.new_page()
    yield page, Watch(page)
    ctx.close()


def from_the_top(page: Page) -> None:
    """Put the keyboard's starting point at the top of the page, as a fresh load does (not at an autofocus)."""
    page.evaluate("() => { document.body.tabIndex = -1; document.body.focus(); }")


def press_tab_through(page: Page) -> list[dict]:
    """Tab from the top of the page through every control once; where the focus went at each press."""
    names = page.evaluate(TAG_FOCUSABLES)
    from_the_top(page)
    seen = []
    for _ in names:
        for _segment in range(SEGMENTS_MAX):  # a date/time input takes one Tab per segment (mm, dd, yyyy, …)
            page.keyboard.press("Tab")
            now = page.evaluate(FOCUSED)
            if not seen or now["order"] != seen[-1]["order"]:
                break
        seen.append(now)
    return names, seen


@pytest.mark.parametrize("layer_id", ["crime", "water_quality", "urban_life", "land_use", "health_centres"])
def test_tab_reaches_every_control_of_the_report_form_in_order_with_visible_focus(desktop, layer_id):
    page, watch = desktop
    page.goto("/report", wait_until="networkidle")
    page.select_option("#layer", layer_id)
    names, seen = press_tab_through(page)
    assert "map" in names and "Zoom in" in names and "submit" in names, names
    reached = [s["order"] for s in seen]
    out_of_order = [(i, n, at) for i, (n, at) in enumerate(zip(names, reached, strict=True)) if at != str(i)]
    assert out_of_order == [], f"(expected position, control, position reached): {out_of_order}"
    unmarked = [
        (n, s)
        for n, s in zip(names, seen, strict=True)
        if not s["visible"] or s["outline"] < MIN_OUTLINE_PX or s["contrast"] < MIN_RING_CONTRAST
    ]
    assert unmarked == [], f"focused without a visible focus ring: {unmarked}"
    page.keyboard.press("Shift+Tab")  # and back
    assert page.evaluate(FOCUSED)["order"] == str(len(names) - 2)
    assert watch.problems() == []


@pytest.mark.parametrize(
    "path, first_in_main", [("/", "Report a problem"), ("/report", "layer"), ("/staff/login", "email")]
)
def test_skip_link_is_the_first_stop_is_seen_and_goes_to_the_content(desktop, path, first_in_main):
    page, watch = desktop
    page.goto(path, wait_until="networkidle")
    from_the_top(page)
    page.keyboard.press("Tab")
    skip = page.locator("a.skip")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport(ratio=1)
    assert page.evaluate(FOCUSED)["outline"] >= MIN_OUTLINE_PX
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    page.keyboard.press("Tab")
    focused = page.evaluate("[document.activeElement.id, document.activeElement.textContent.trim()]")
    assert first_in_main in focused, focused
    assert page.evaluate("document.activeElement.closest('main') !== null")
    assert watch.problems() == []


def pan(page: Page, key: str) -> None:
    """An arrow key on the focused map, then wait for Leaflet's pan to end (it ignores keys while one runs)."""
    page.keyboard.press(key)
    expect(page.locator(".leaflet-map-pane.leaflet-pan-anim")).to_have_count(0)


def marker_centre_offset(page: Page) -> float:
    """How far (CSS px) the drawn marker is from the middle of the map."""
    m = page.locator("#map").bounding_box()
    p = page.locator("#map path.leaflet-interactive").bounding_box()
    return max(
        abs(p["x"] + p["width"] / 2 - (m["x"] + m["width"] / 2)),
        abs(p["y"] + p["height"] / 2 - (m["y"] + m["height"] / 2)),
    )


def test_report_placed_on_the_map_and_sent_with_the_keyboard_alone(desktop, engine, app, registry):
    page, watch = desktop
    page.goto("/report", wait_until="networkidle")
    from_the_top(page)
    tab_to(page, "layer")
    while page.input_value("#layer") != "crime":
        page.keyboard.press("ArrowDown")

    tab_to(page, "map")
    mid = page.locator("#map").bounding_box()
    mid = {"x": mid["x"] + mid["width"] / 2 - 20, "y": mid["y"] + mid["height"] / 2 - 20, "width": 40, "height": 40}
    assert_not_blank(page.screenshot(clip=mid), "cross-hair on the focused map")  # a plain grey map without it
    pan(page, "ArrowUp")  # Leaflet pans: the centre moves north-east
    pan(page, "ArrowRight")
    page.keyboard.press("Enter")
    expect(page.locator("#lat")).not_to_have_value("")
    expect(page.locator("#map path.leaflet-interactive")).to_have_count(1)
    centre_lat, centre_lon = app.config["MAP_CENTER"]
    lat, lon = float(page.input_value("#lat")), float(page.input_value("#lon"))
    assert lat > centre_lat and lon > centre_lon, ((lat, lon), (centre_lat, centre_lon))
    assert marker_centre_offset(page) <= 3
    expect(page.locator("#map")).to_be_focused()  # Enter placed the point; it did not send the form

    tab_to(page, "submit")
    page.keyboard.press("Enter")  # required fields missing: the messages, and the focus on the first
    expect(page.locator("#err-crime-category")).to_have_text("Is required.")
    expect(page.locator("#crime-category")).to_be_focused()
    assert_accessible(page, "report form showing errors")

    page.keyboard.press("ArrowDown")
    page.keyboard.press("Tab")
    assert focused_id(page) == "crime-severity"
    page.keyboard.type("3")
    page.keyboard.press("Tab")
    assert focused_id(page) == "crime-occurred_at"
    page.keyboard.type("05012026")
    page.keyboard.press("Tab")
    page.keyboard.type("0230P")
    tab_to(page, "crime-reported_to_police")
    page.keyboard.press("Space")
    tab_to(page, "submit")
    page.keyboard.press("Enter")
    expect_result(page)
    assert_accessible(page, "report form's thank-you section")

    r = the_report(engine)
    assert r["layer"] == "crime" and r["geometry"]["coordinates"] == [lon, lat]
    assert r["properties"]["category"] == registry.get("crime").field("category").values[0]
    assert r["properties"]["severity"] == 3 and r["properties"]["reported_to_police"] is True
    # the first, refused attempt is the only error (its 422, which Chromium also logs to the console)
    assert [e.split()[0] for e in watch.http_errors] == ["422"]
    assert [p for p in watch.problems() if not ("422" in p and "/api/layers/crime/reports" in p)] == []


def test_outline_drawn_corner_by_corner_with_the_keyboard(desktop, engine):
    page, watch = desktop
    page.goto("/report", wait_until="networkidle")
    page.select_option("#layer", "land_use")
    from_the_top(page)
    tab_to(page, "map")
    page.keyboard.press("Enter")
    pan(page, "ArrowRight")
    page.keyboard.press("Space")
    pan(page, "ArrowDown")
    page.keyboard.press("Enter")
    expect(page.locator("#polygon")).to_have_value(re.compile(r"^([-\d.]+, [-\d.]+\n){2}[-\d.]+, [-\d.]+$"))
    expect(page.locator("#map path.leaflet-interactive")).to_have_count(1)
    tab_to(page, "land_use-land_class")
    page.keyboard.press("ArrowDown")
    tab_to(page, "submit")
    page.keyboard.press("Enter")
    expect_result(page)
    r = the_report(engine)
    assert r["gtype"] == "POLYGON" and r["valid"] and len(r["geometry"]["coordinates"][0]) == 4
    assert watch.problems() == []


def focused(page: Page) -> dict:
    return page.evaluate(
        """() => { const e = document.activeElement;
                   return {id: e.id, tag: e.tagName, cls: e.className || '',
                           text: (e.innerText || e.value || '').trim()}; }"""
    )


def tab_until(page: Page, wanted, limit: int = 120) -> dict:
    """Press Tab until the focused element satisfies ``wanted``; fail if it never comes."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        now = focused(page)
        if wanted(now):
            return now
    pytest.fail(f"not reached with Tab: {wanted.__doc__ or wanted}")


def test_the_maps_controls_work_with_the_keyboard_alone(desktop, live_server, seeded):
    """On /map, with the keyboard only: open the layer control and turn a layer on, filter by category, open a
    report from the list of reports in view (a count is zoomed into with Enter: test_maps_browser)."""
    from tests.test_maps_browser import drawn_points, settle

    page, watch = desktop
    requests.post(
        f"{live_server}/api/layers/water_quality/reports",
        json={
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [-82.99, 39.95]},
            "properties": {
                "point_name": "Kiosk 12",
                "source_type": "borehole",
                "functional_status": "functional",
                "sampled_at": "2026-11-02T08:00:00Z",
                "e_coli_cfu_100ml": 0,
            },
        },
        timeout=10,
    ).raise_for_status()
    page.goto("/map")
    settle(page)
    before = drawn_points(page)
    from_the_top(page)
    # the layer control opens from the keyboard; Space on a layer's checkbox turns it on
    tab_until(page, lambda f: "leaflet-control-layers-toggle" in f["cls"])
    page.keyboard.press("Enter")
    expect(page.locator(".leaflet-control-layers")).to_have_class(re.compile("leaflet-control-layers-expanded"))
    tab_until(
        page,
        lambda f: (
            f["tag"] == "INPUT"
            and "Water points" in page.evaluate("() => document.activeElement.closest('label').innerText")
        ),
    )
    page.keyboard.press("Space")
    settle(page)
    assert drawn_points(page) == before + 1
    # a category filter chosen and applied with the keyboard
    tab_until(page, lambda f: f["id"] == "value-crime")
    while page.input_value("#value-crime") in ("", "theft"):  # a category the seeded theft is not in
        page.keyboard.press("ArrowDown")
    tab_until(page, lambda f: f["tag"] == "BUTTON" and f["text"] == "Apply")
    page.keyboard.press("Enter")
    settle(page)
    assert drawn_points(page) == before  # the theft is filtered out, the water point stays
    # the list of reports in view switched to the water points, and one opened: its popup shows it
    tab_until(page, lambda f: f["id"] == "list-layer")
    while page.input_value("#list-layer") != "water_quality":
        page.keyboard.press("ArrowDown")
    settle(page)
    tab_until(
        page,
        lambda f: (
            f["tag"] == "BUTTON"
            and bool(page.evaluate("() => document.activeElement.closest('#map-list-items') !== null"))
        ),
    )
    page.keyboard.press("Enter")
    expect(page.locator(".leaflet-popup-content .report-popup")).to_contain_text("Kiosk 12")
    assert not watch.problems(), watch.problems()
