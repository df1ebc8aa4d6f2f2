"""/maps/planning in a real Chromium against granian: land-use polygons coloured by class, the public-space
share per district as a choropleth, and "export this view" downloading exactly what the map shows (bounds and
filters) through /export, read back with pyogrio; private fields only ever reach the planner."""

from __future__ import annotations

import pyogrio
import pytest
import requests
from playwright.sync_api import expect

from mapper.services import planning_map, scoring
from mapper.services.staff import create_user
from tests.browser_checks import sign_in
from tests.test_maps_browser import PASSWORD, post, settle
from tests.test_report_browser import Watch

pytestmark = pytest.mark.browser
CENTRE = (-83.0, 39.965)  # MAP_CENTER
FAR = (-82.5, 39.965)  # half a degree east: outside the first view at zoom 12
SECRET = "Ada Privatperson 4411"


def parcel(x: float, y: float, land_class: str, ref: str, district: str, d: float = 0.002) -> dict:
    ring = [[x, y], [x + d, y], [x + d, y + d], [x, y + d], [x, y]]
    return {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "properties": {
            "land_class": land_class,
            "plan_reference": ref,
            "district": district,
            "area_m2": 40000,
            "population": 120,
            "reporter_name": SECRET,
        },
    }


@pytest.fixture
def parcels(live_server, clean, registry):
    x, y = CENTRE
    fx, fy = FAR
    for p in (
        parcel(x - 0.006, y - 0.004, "residential", "IN-1", "Centre"),
        parcel(x + 0.002, y - 0.004, "green_space", "IN-2", "Centre"),
        parcel(x - 0.002, y + 0.003, "public_space", "IN-3", "Centre"),
        parcel(fx, fy, "industrial", "OUT-1", "East"),
        parcel(fx + 0.004, fy, "green_space", "OUT-2", "East"),
    ):
        post(live_server, "land_use", p)
    summary = scoring.run_land_use(clean, registry.get("land_use"))
    assert summary.detail == "2 districts", summary
    return clean


def drawn(page) -> dict:
    """Fill colours of what each layer of the client has drawn, by collection id."""
    return page.evaluate(
        "() => Object.fromEntries(civicMap.layers.map("
        "l => [l.spec.id, l.data.getLayers().map(x => x.options.fillColor)]))"
    )


def download(page, fmt: str, tmp_path, layer: str = "land_use"):
    page.locator("#export-layer").select_option(layer)
    page.locator("#export-format").select_option(fmt)
    href = page.locator("#export-link").get_attribute("href")
    assert "bbox=" in href and f"/export/{layer}.{fmt}?" in href
    with page.expect_download() as info:
        page.locator("#export-link").click()
    target = tmp_path / f"{fmt}-{len(list(tmp_path.iterdir()))}-{info.value.suggested_filename}"
    info.value.save_as(target)
    return target, href


def refs(path) -> list[str]:
    return sorted(pyogrio.read_dataframe(path)["plan_reference"])


def open_page(browser, server: str):
    context = browser.new_context(base_url=server, viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    return context, page, Watch(page)


@pytest.fixture
def planning(browser, live_server, parcels):
    """The planning page, opened and settled; at the end nothing went wrong in it."""
    context, page, watch = open_page(browser, live_server)
    page.goto("/maps/planning")
    settle(page)
    yield page
    assert not watch.problems(), watch.problems()
    context.close()


def test_land_use_by_class_and_districts_by_public_space_share(planning):
    page = planning
    colours = drawn(page)
    c = planning_map.CLASS_COLORS
    assert sorted(colours["land_use"]) == sorted([c["residential"], c["green_space"], c["public_space"]])
    # the polygons are painted: SVG paths with those fills
    fills = page.locator(".leaflet-overlay-pane path.leaflet-interactive").evaluate_all(
        "els => els.map(e => e.getAttribute('fill'))"
    )
    assert set(colours["land_use"]) <= set(fills)
    # one district in view (Centre), coloured by its public-space share: 2 of 3 parcels public or green
    assert len(colours["land_use-districts"]) == 1
    share = page.evaluate("() => civicMap.layers[1].data.getLayers()[0].feature.properties.public_space_share")
    hit = [i for i in planning_map.share_items() if i["min"] <= share < i.get("max", 2)]
    assert colours["land_use-districts"] == [hit[0]["color"]]
    assert 0.6 < share < 0.7
    legend = page.locator("#legend-land_use li")
    assert legend.count() == len(c)  # every class, not only those drawn
    expect(page.locator("#legend-land_use")).to_contain_text("informal settlement")
    ranges = page.locator("#legend-land_use-districts li")
    assert ranges.all_text_contents()[0].strip() == "0–10 %"
    assert ranges.all_text_contents()[-1].strip() == "50 % or more"


def test_export_this_view_downloads_what_the_map_shows(planning, tmp_path):
    page = planning
    for fmt in ("gpkg", "csv", "geojson"):
        path, _ = download(page, fmt, tmp_path)
        assert refs(path) == ["IN-1", "IN-2", "IN-3"], fmt
    path, _ = download(page, "shp.zip", tmp_path)
    assert len(pyogrio.read_dataframe(f"/vsizip/{path}")) == 3
    # the districts in view, as a GeoPackage
    path, _ = download(page, "gpkg", tmp_path, layer="land_use-districts")
    assert list(pyogrio.read_dataframe(path)["district"]) == ["Centre"]
    # a filter applied changes the link
    page.locator("#value-land_use").select_option("green_space")
    page.get_by_role("button", name="Apply").click()
    settle(page)
    path, href = download(page, "csv", tmp_path)
    assert "land_class=green_space" in href
    assert refs(path) == ["IN-2"]
    # the map moved: the link follows it
    page.evaluate(f"() => civicMap.map.setView([{FAR[1]}, {FAR[0]}], 14)")
    settle(page)
    path, _ = download(page, "gpkg", tmp_path)
    assert refs(path) == ["OUT-2"]
    page.get_by_role("button", name="Clear").click()
    settle(page)
    path, _ = download(page, "gpkg", tmp_path)
    assert refs(path) == ["OUT-1", "OUT-2"]


def test_export_link_is_reached_and_used_with_the_keyboard(planning, tmp_path):
    page = planning
    page.locator("#export-format").focus()
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.id") == "export-link"
    with page.expect_download() as info:
        page.keyboard.press("Enter")
    info.value.save_as(tmp_path / "kbd.gpkg")
    assert refs(tmp_path / "kbd.gpkg") == ["IN-1", "IN-2", "IN-3"]


def test_private_fields_reach_the_planner_only(browser, live_server, parcels, tmp_path):
    create_user(parcels, "plan@example.org", "planner", PASSWORD)
    create_user(parcels, "wat@example.org", "utility", PASSWORD)
    for who in (None, "wat@example.org", "plan@example.org"):
        context, page, watch = open_page(browser, live_server)
        bodies: list[bytes] = []

        def keep(r, bodies=bodies):
            if r.status == 200 and "/ogc/" in r.url:
                bodies.append(r.body())

        page.on("response", keep)
        if who:
            sign_in(page, who, PASSWORD)
        page.goto("/maps/planning")
        settle(page)
        assert bodies, "the land-use feed was read"
        files = [download(page, fmt, tmp_path)[0].read_bytes() for fmt in ("geojson", "csv")]
        seen = [SECRET.encode() in b for b in bodies + files]
        if who == "plan@example.org":
            assert all(seen[-2:])  # the exact audience's export has the private field
        else:
            assert not any(seen), who
        assert not watch.problems(), watch.problems()
        context.close()
    # and the page itself carries no report value
    assert "IN-1" not in requests.get(f"{live_server}/maps/planning", timeout=30).text
