"""The public map: every public collection (civic layers, their scores, transit), read from the feeds."""

from __future__ import annotations

from flask_babel import gettext as _

from mapper.domain.layers import Registry
from mapper.domain.privacy import view_for
from mapper.services.map_pages import MapLayer

DERIVED_GROUP, TRANSIT_GROUP = "Scores", "Transit"
ON_AT_FIRST = 3  # the first civic layers drawn on arrival; the rest are one click away


def public_layers(registry: Registry, role: str | None, detail_limit: int) -> list[MapLayer]:
    """Civic layers first (the first ON_AT_FIRST on), then derived score collections, then transit (off)."""
    out = []
    for i, layer in enumerate(registry):
        out.append(MapLayer(view_for(layer, role), _("Civic layers"), on=i < ON_AT_FIRST, detail_limit=detail_limit))
    for layer in registry.collections():
        if layer.id in registry.ids():
            continue
        transit = layer.id.startswith("transit_")
        group = _(TRANSIT_GROUP) if transit else _(DERIVED_GROUP)
        out.append(MapLayer(view_for(layer, role), group, on=False, counts=False, detail_limit=5000))
    return out
