"""The transit map: GTFS routes in their own colours and stops sized by departures per day."""

from __future__ import annotations

from flask_babel import gettext as _

from mapper.domain.layers import Registry
from mapper.domain.privacy import view_for
from mapper.services.map_pages import MapLayer


def transit_layers(registry: Registry, role: str | None) -> list[MapLayer]:
    by_id = {c.id: c for c in registry.collections()}
    group = _("Transit")
    return [
        MapLayer(
            view_for(by_id["transit_routes"], role),
            group,
            counts=False,
            detail_limit=5000,
            legend_note=_("Each route is drawn in its own colour from the GTFS feed."),
            extra={"colorField": "route_color"},
        ),
        MapLayer(
            view_for(by_id["transit_stops"], role),
            group,
            counts=False,
            detail_limit=5000,
            legend_note=_("The larger the circle, the more departures a day."),
            extra={"radiusField": "trips_per_day", "radiusScale": 0.4},
        ),
    ]
