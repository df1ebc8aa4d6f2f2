"""The public Folium map: one toggleable group per layer, read by the browser from the public feeds.

No citizen's input is ever put into the page: Folium (through branca) renders the output of its elements as
Jinja templates once more, so a report reading ``{{ … }}`` would be evaluated on the server. Each layer is
fetched from its OGC API items feed (the public view: public fields, generalised locations) and its popups
show values as text (``map_popups.TextPopup``).
"""

from __future__ import annotations

import folium

from mapper.domain.layers import Layer
from mapper.services.map_popups import FeedLayer, TextPopup

MAX_FEATURES_PER_LAYER = 2000
NEWEST = "b999999999999999999"  # a "before" cursor above every id: the newest reports


def build_public_map(layers: list[Layer], tiles: dict) -> folium.Map:
    """A Folium map of the newest public reports of each layer (at most MAX_FEATURES_PER_LAYER each)."""
    m = folium.Map(location=tiles["center"], zoom_start=tiles["zoom"], tiles=None, control_scale=True)
    if tiles["url"]:
        folium.TileLayer(tiles=tiles["url"], attr=tiles["attribution"], name="Base map").add_to(m)
    for layer in layers:
        group = folium.FeatureGroup(name=layer.title)
        url = f"/ogc/collections/{layer.id}/items?limit={MAX_FEATURES_PER_LAYER}&cursor={NEWEST}"
        feed = FeedLayer(url, layer.color).add_to(group)
        fields = [f.name for f in layer.public_fields] + ["status"]
        labels = [(layer.field(n).label if layer.field(n) else n) for n in fields]
        TextPopup(fields, labels, f"/api/scores/{layer.id}/" if layer.scores else "").add_to(feed)
        group.add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    return m
