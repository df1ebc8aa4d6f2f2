"""Atom feeds (services.atom): a layer's newest public reports through the public view, within a bbox, and one
report's public updates by its tracking token; parsed with feedparser as feed readers do."""

from __future__ import annotations

import re

import feedparser
import pytest

from mapper.services import lifecycle
from tests.test_access_log import CRIME, URBAN

MODERATOR = lifecycle.Actor("user:99", "moderator")


def submit(client, layer: str, feature: dict) -> dict:
    r = client.post(f"/api/layers/{layer}/reports", json=feature)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def move(engine, registry, rid: int, to: str, **body) -> None:
    lifecycle.transition(engine, registry, rid, {"to": to, **body}, MODERATOR)


def atom(client, url: str) -> feedparser.FeedParserDict:
    r = client.get(url)
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.headers["Content-Type"] == "application/atom+xml; charset=utf-8"
    parsed = feedparser.parse(r.get_data())
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    return parsed


def at(lon: float, lat: float, feature: dict, **props) -> dict:
    return {**feature, "geometry": {"type": "Point", "coordinates": [lon, lat]},
            "properties": {**feature["properties"], **props}}  # fmt: skip


def test_a_layer_feed_lists_published_reports_at_their_public_location(client, engine, registry):
    verified = submit(client, "crime", CRIME)["id"]
    move(engine, registry, verified, "verified")
    submitted = submit(client, "crime", CRIME)["id"]  # moderation "before": unpublished until verified
    hidden = submit(client, "crime", CRIME)["id"]
    move(engine, registry, hidden, "verified")
    move(engine, registry, hidden, "hidden")

    feed = atom(client, "/feeds/crime.atom")
    assert [e.link for e in feed.entries] == [f"http://localhost/ogc/collections/crime/items/{verified}"]
    assert submitted != hidden and feed.feed.title == "Crime and insecurity"
    assert any(link.rel == "self" and link.href == "http://localhost/feeds/crime.atom" for link in feed.feed.links)
    assert any(link.rel == "alternate" and link.href == "http://localhost/map" for link in feed.feed.links)
    (entry,) = feed.entries
    assert entry.id == f"tag:localhost,2026:reports/{verified}" and entry.title == "Crime and insecurity: theft"
    assert entry.updated_parsed and entry.published_parsed
    assert "bike stolen" not in entry.summary  # a private field
    assert "Severity: 2" in entry.summary and "Status: verified" in entry.summary
    lat, lon = (float(v) for v in entry.where["coordinates"][::-1])
    public = client.get(f"/ogc/collections/crime/items/{verified}").get_json()["geometry"]["coordinates"]
    assert [lon, lat] == pytest.approx(public) and [lon, lat] != pytest.approx(CRIME["geometry"]["coordinates"])


def test_the_newest_update_comes_first_and_the_bbox_filters(client, engine, registry):
    west = submit(client, "urban_life", at(-83.1, 39.9, URBAN))["id"]
    east = submit(client, "urban_life", at(-82.9, 39.9, URBAN))["id"]
    assert [e.id.rsplit("/", 1)[1] for e in atom(client, "/feeds/urban_life.atom").entries] == [str(east), str(west)]
    move(engine, registry, west, "verified", comment="seen")
    assert [e.id.rsplit("/", 1)[1] for e in atom(client, "/feeds/urban_life.atom").entries] == [str(west), str(east)]
    inside = atom(client, "/feeds/urban_life.atom?bbox=-83.0,39.8,-82.8,40.0")
    assert [e.id.rsplit("/", 1)[1] for e in inside.entries] == [str(east)]
    assert inside.feed.id != atom(client, "/feeds/urban_life.atom").feed.id
    bad = client.get("/feeds/urban_life.atom?bbox=1,2,3")
    assert bad.status_code == 400 and bad.get_json()["errors"][0]["field"] == "bbox"
    assert client.get("/feeds/urban_life.atom?limit=5").status_code == 400


def test_citizens_text_comes_out_as_text(client):
    hostile = '<script>alert(1)</script><img src=x onerror=alert(2)> & "quotes" ]]>'
    submit(client, "urban_life", at(-83.0, 39.9, URBAN, comment=hostile))
    body = client.get("/feeds/urban_life.atom").get_data(as_text=True)
    assert "<script" not in body and "<img" not in body and "&lt;script&gt;" in body
    (entry,) = atom(client, "/feeds/urban_life.atom").entries
    assert entry.summary_detail.type == "text/plain" and hostile in entry.summary


def test_validators_and_unknown_layers(client):
    submit(client, "urban_life", URBAN)
    r = client.get("/feeds/urban_life.atom")
    assert r.headers["ETag"] and r.headers["Last-Modified"] and "public" in r.headers["Cache-Control"]
    assert client.get("/feeds/urban_life.atom", headers={"If-None-Match": r.headers["ETag"]}).status_code == 304
    missing = client.get("/feeds/nope.atom")
    assert missing.status_code == 404 and missing.content_type == "application/problem+json"
    assert missing.get_json()["errors"][0]["field"] == "layer"
    assert client.get("/feeds/hotspots_crime.atom").status_code == 404  # derived collections have no reports


def test_the_tracking_feed_shows_public_comments_and_never_internal_notes(client, engine, registry):
    made = submit(client, "crime", CRIME)
    token, rid = made["tracking_token"], made["id"]
    move(engine, registry, rid, "verified", comment="Thanks, a patrol will pass", note="suspect known: J. Doe")
    r = client.get(f"/api/reports/{token}/feed.atom")
    assert r.headers["Referrer-Policy"] == "no-referrer" and "no-store" in r.headers["Cache-Control"]
    feed = atom(client, f"/api/reports/{token}/feed.atom")
    body = r.get_data(as_text=True)
    assert "J. Doe" not in body and "user:99" not in body and "moderator" not in body
    assert [e.title for e in feed.entries] == ["Status: verified", "Status: submitted"]
    assert feed.entries[0].summary == "Thanks, a patrol will pass"
    assert feed.feed.title.startswith(f"Your report {rid}") and token not in feed.feed.id
    assert client.get("/api/reports/nope/feed.atom").status_code == 404


def test_pages_and_the_api_description_point_to_the_feeds(client):
    made = submit(client, "crime", CRIME)
    page = client.get("/map").get_data(as_text=True)
    for layer in ("crime", "urban_life", "water_quality"):
        assert re.search(
            f'<link rel="alternate" type="application/atom[+]xml" title="[^"]+" href="/feeds/{layer}.atom">', page
        )
    track = client.get(f"/track/{made['tracking_token']}").get_data(as_text=True)
    assert f'href="/api/reports/{made["tracking_token"]}/feed.atom"' in track
    paths = client.get("/api/openapi.json").get_json()["paths"]
    assert "application/atom+xml" in paths["/feeds/crime.atom"]["get"]["responses"]["200"]["content"]
    assert "/api/reports/{tracking_token}/feed.atom" in paths
