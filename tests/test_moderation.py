"""Moderation "before" (crime, health_centres): a citizen's report is absent from every public output — feeds,
single items, counts (what the map pages draw from), tiles, exports, Atom feeds, score inputs — until it is
verified, while staff who see the layer's exact view have it to moderate; bulk imports are published unless they
ask otherwise. Real PostGIS, the app's routes."""

from __future__ import annotations

import json

import feedparser
import pytest

from mapper.domain.errors import Conflict, ValidationFailed
from mapper.services import scoring
from mapper.services.importer import import_frame
from mapper.services.scoring import ScoreRefused
from mapper.services.tokens import create_api_token
from tests.reports import publish
from tests.test_feeds import tile_of
from tests.test_scores import crime_points

X, Y = -83.00411, 39.96377
BOX = "-83.1,39.9,-82.9,40.1"


def crime(x=X, y=Y):
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [x, y]},
        "properties": {"category": "theft", "severity": 2, "occurred_at": "2026-11-20T10:00:00Z"},
    }


def public_outputs(client, ids) -> dict:
    """What an anonymous caller gets of the crime layer from each public output."""
    z, tx, ty = tile_of(X, Y, 12)
    geojson = client.get(f"/export/crime.geojson?bbox={BOX}")
    csv = client.get(f"/export/crime.csv?bbox={BOX}").get_data(as_text=True).strip().splitlines()
    items = client.get(f"/ogc/collections/crime/items?bbox={BOX}").get_json()
    atom = feedparser.parse(client.get(f"/feeds/crime.atom?bbox={BOX}").get_data())
    assert not atom.bozo
    return {
        "atom": len(atom.entries),
        "items": items["numberMatched"],
        "item": [client.get(f"/ogc/collections/crime/items/{i}").status_code for i in ids],
        "tile": client.get(f"/tiles/crime/{z}/{tx}/{ty}.mvt").status_code,
        "counts": client.get(f"/api/maps/crime/counts?bbox={BOX}&zoom=12").get_json()["numberMatched"],
        "export": len(json.loads(geojson.get_data(as_text=True))["features"]),
        "csv rows": len(csv) - 1,
    }


def test_a_new_crime_report_is_public_nowhere_until_verified(client, engine):
    ids = [client.post("/api/layers/crime/reports", json=crime(X + 0.001 * i, Y)).get_json()["id"] for i in range(3)]
    unpublished = {"atom": 0, "items": 0, "item": [404] * 3, "tile": 204, "counts": 0, "export": 0, "csv rows": 0}
    assert public_outputs(client, ids) == unpublished
    police = {"Authorization": f"Bearer {create_api_token(engine, 'police', 'moderation-test')}"}
    staff = client.get(f"/ogc/collections/crime/items?bbox={BOX}", headers=police).get_json()
    assert staff["numberMatched"] == 3  # the exact view has them, to moderate
    publish(client.application, *ids[:2])
    shown = public_outputs(client, ids)
    assert shown == {
        "atom": 2,
        "items": 2,
        "item": [200, 200, 404],
        "tile": 200,
        "counts": 2,
        "export": 2,
        "csv rows": 2,
    }


def test_unpublished_reports_are_no_score_input(engine, registry, clean):
    layer = registry.get("crime")
    import_frame(engine, layer, crime_points(600), "waiting.gpkg", publish=False)
    with pytest.raises(ScoreRefused, match="0 reports match"):
        scoring.run_hotspots(engine, layer)
    import_frame(engine, layer, crime_points(600), "published.gpkg")
    assert scoring.run_hotspots(engine, layer).inputs == 600


def test_an_import_publishes_unless_it_asks_and_after_layers_have_nothing_to_hold(client, engine, registry):
    import geopandas as gpd
    from shapely.geometry import Point

    gdf = gpd.GeoDataFrame(
        {"category": ["theft"], "severity": [2], "occurred_at": ["2026-11-20T10:00:00Z"]},
        geometry=[Point(X, Y)],
        crs="EPSG:4326",
    )
    import_frame(engine, registry.get("crime"), gdf, "published.csv")
    assert client.get(f"/ogc/collections/crime/items?bbox={BOX}").get_json()["numberMatched"] == 1
    import_frame(engine, registry.get("crime"), gdf, "held.csv", publish=False)
    assert client.get(f"/ogc/collections/crime/items?bbox={BOX}").get_json()["numberMatched"] == 1
    urban = gdf.assign(sentiment="negative", theme="lighting")[["sentiment", "theme", "geometry"]]
    with pytest.raises(ValidationFailed, match="publishes reports at once"):
        import_frame(engine, registry.get("urban_life"), urban, "held.csv", publish=False)


def test_an_unverified_report_of_a_moderated_layer_cannot_be_closed_into_public(client, engine, registry):
    from mapper.services import lifecycle

    rid = client.post("/api/layers/crime/reports", json=crime()).get_json()["id"]
    police = lifecycle.Actor("user:1", "police")
    with pytest.raises(Conflict, match="cannot become closed"):
        lifecycle.transition(engine, registry, rid, {"to": "closed", "reason": "no_action_needed"}, police)
    assert lifecycle.history(engine, registry, rid, "police")["allowed"] == ["verified", "rejected"]
