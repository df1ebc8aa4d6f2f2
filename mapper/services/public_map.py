"""The public Folium map: one toggleable group per layer, public fields only, built from PostGIS GeoJSON."""

from __future__ import annotations

import json

import folium
from sqlalchemy import Engine

from mapper.domain.layers import Layer
from mapper.domain.privacy import view_for
from mapper.services.feeds import FeedQuery, stream_features

MAX_FEATURES_PER_LAYER = 2000
NEWEST = 2**62  # a "before" cursor above every id: the newest reports


def build_public_map(engine: Engine, layers: list[Layer], tiles: dict) -> folium.Map:
    """A Folium map of the newest public reports of each layer (at most MAX_FEATURES_PER_LAYER each), read
    through the same public view as the feeds."""
    m = folium.Map(location=tiles["center"], zoom_start=tiles["zoom"], tiles=None, control_scale=True)
    if tiles["url"]:
        folium.TileLayer(tiles=tiles["url"], attr=tiles["attribution"], name="Base map").add_to(m)
    for layer in layers:
        newest = FeedQuery(view_for(layer, None), limit=MAX_FEATURES_PER_LAYER, before=NEWEST)
        fc = json.loads('{"type": "FeatureCollection", "features": [' + "".join(stream_features(engine, newest)) + "]}")
        group = folium.FeatureGroup(name=f"{layer.title} ({len(fc['features'])})")
        if fc["features"]:
            fields = [f.name for f in layer.public_fields][:6] + ["status"]
            labels = [(layer.field(n).label if layer.field(n) else n) for n in fields]
            if layer.scores:  # every scored feature links to how its score was computed
                for feature in fc["features"]:
                    feature["properties"]["score"] = (
                        f'<a href="/api/scores/{layer.id}/{feature["id"]}" target="_blank">how it is scored</a>'
                    )
                fields.append("score")
                labels.append("Score")
            folium.GeoJson(
                fc,
                name=layer.title,
                marker=folium.CircleMarker(radius=6, weight=1, fill=True, fill_opacity=0.8),
                style_function=lambda _f, c=layer.color: {"color": c, "fillColor": c, "weight": 1, "fillOpacity": 0.5},
                popup=folium.GeoJsonPopup(fields=fields, aliases=labels),
            ).add_to(group)
        group.add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    return m
