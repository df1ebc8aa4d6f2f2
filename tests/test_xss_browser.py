"""Citizens' input is shown as text on every page that shows it, in a real Chromium; no page breaks its CSP.

Reports are filed through the API with script payloads in every public text field of every layer; then every
page that shows reports is opened (the public map with every popup opened, the items pages) and checked: the
payload reads as text, no element or handler came out of it, no dialog opened, and Chromium reported no
Content-Security-Policy violation on any page.
"""

from __future__ import annotations

import pytest
import requests

from tests.reports import published
from tests.test_report_browser import Watch

pytestmark = pytest.mark.browser

PAYLOADS = [
    "<img src=x onerror=alert(1)>",
    '"><svg onload=alert(2)>',
    "'><script>alert(3)</script>",
    "javascript:alert(4)",
    "{{7*7}} ${alert(5)} #{alert(6)}",
    "</script><script>alert(7)</script>",
    '<a href="javascript:alert(8)">click</a>',
    "<iframe srcdoc='<script>parent.alert(9)</script>'>",
]
WHEN = "2026-11-01T21:30:00Z"
# Elements no citizen text may turn into.
INJECTED = "img, svg, script:not([nonce]), iframe, a[href^='javascript'], [onerror], [onload]"
RECORD_CSP = """
window.__csp = [];
document.addEventListener("securitypolicyviolation",
    e => window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`));
"""


def value_for(field, payload: str):
    if field.type == "text":
        return payload[: field.max_length]
    if field.type == "enum":
        return [field.values[0]] if field.multiple else field.values[0]
    if field.type == "datetime":
        return WHEN
    if field.type == "date":
        return WHEN[:10]
    if field.type in ("integer", "number"):
        return field.min if field.min is not None else 1
    return False


def geometry(layer) -> dict:
    x, y = -83.0, 39.96
    if layer.geometry == "polygon":
        return {
            "type": "Polygon",
            "coordinates": [[[x, y], [x + 0.01, y], [x + 0.01, y + 0.01], [x, y + 0.01], [x, y]]],
        }
    return {"type": "Point", "coordinates": [x, y]}


@pytest.fixture
def hostile_reports(live_server, registry, clean):
    """One report per payload per layer, every public text field holding the payload; {layer: [ids]}."""
    made = {}
    for layer in registry:
        texts = [f for f in layer.public_fields if f.type == "text"]
        if not texts:
            continue
        for payload in PAYLOADS:
            props = {f.name: value_for(f, payload) for f in layer.fields if f.required or f in texts}
            r = requests.post(
                f"{live_server}/api/layers/{layer.id}/reports",
                json={"type": "Feature", "geometry": geometry(layer), "properties": props},
                timeout=30,
            )
            assert r.status_code == 201, r.text
            made.setdefault(layer.id, []).append(
                published(clean, r.json()["id"]) if layer.moderation == "before" else r.json()["id"]
            )
    assert len(made) >= 4
    return made


@pytest.fixture
def page(browser, live_server):
    ctx = browser.new_context(base_url=live_server)
    ctx.add_init_script(RECORD_CSP)
    page = ctx.new_page()
    page.watch = Watch(page)
    page.dialogs = []
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
    yield page
    ctx.close()


def assert_clean(page, where: str) -> None:
    assert page.evaluate("window.__csp") == [], where
    assert page.dialogs == [], where
    assert page.watch.problems() == [], where


SHOW_EVERY_LAYER = "() => window.civicMap.layers.forEach(l => window.civicMap.map.addLayer(l.group))"
COUNT_FEATURES = "window.civicMap.layers.reduce((n, l) => n + l.data.getLayers().length, 0)"
OPEN_EVERY_POPUP = """
() => {
    // Open the popup of every feature of every layer, as a visitor clicking each would, and read it.
    const map = window.civicMap.map, out = [];
    window.civicMap.layers.forEach(layer => layer.data.eachLayer(feature => {
        feature.openPopup(feature.getLatLng ? feature.getLatLng() : feature.getBounds().getCenter());
        const node = feature.getPopup().getElement().querySelector(".leaflet-popup-content");
        out.push({id: feature.feature.id, text: node.innerText,
                  injected: node.querySelectorAll("%s").length,
                  links: [...node.querySelectorAll("a")].map(a => a.getAttribute("href"))});
        map.closePopup();
    }));
    return out;
}
"""


def test_the_public_map_shows_payloads_as_text(page, hostile_reports, registry):
    page.goto("/map", wait_until="networkidle")
    expected = sum(len(ids) for ids in hostile_reports.values())
    page.evaluate(SHOW_EVERY_LAYER)
    page.wait_for_function(f"() => {COUNT_FEATURES} >= {expected}")
    popups = page.evaluate(OPEN_EVERY_POPUP.replace("%s", INJECTED))
    assert len(popups) >= expected
    shown = "\n".join(p["text"] for p in popups)
    for payload in PAYLOADS:
        assert payload[:40] in shown, payload  # as typed: no HTML, and no template evaluated it
    assert all(p["injected"] == 0 for p in popups), [p for p in popups if p["injected"]]
    scored = {lid for lid in hostile_reports if registry.get(lid).scores}
    for p in popups:  # the only link in a popup is the score explanation, built from the id
        assert all(href.startswith("/api/scores/") and href.endswith(f"/{p['id']}") for href in p["links"]), p
    assert scored and any(p["links"] for p in popups)
    assert_clean(page, "/map")


def test_the_items_pages_show_payloads_as_text(page, hostile_reports):
    for layer_id, ids in hostile_reports.items():
        for path in (
            f"/ogc/collections/{layer_id}/items?f=html&limit=100",
            f"/ogc/collections/{layer_id}/items/{ids[0]}?f=html",
        ):
            page.goto(path, wait_until="networkidle")
            assert page.locator(f"main :is({INJECTED})").count() == 0, path
            text = page.locator("main").inner_text()
            for payload in PAYLOADS if "/items?" in path else PAYLOADS[:1]:
                assert payload[:40] in text, (path, payload)
            assert_clean(page, path)


def test_pages_keep_to_their_csp(page, hostile_reports):
    for path in ("/", "/report", "/ogc?f=html", "/ogc/collections?f=html", "/ogc/conformance?f=html"):
        page.goto(path, wait_until="networkidle")
        assert_clean(page, path)
