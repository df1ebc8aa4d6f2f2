"""The planners' map: land-use polygons coloured by class, the public-space share per district as a
choropleth, and the export formats its "export this view" control offers (the ``/export`` endpoints)."""

from __future__ import annotations

from flask_babel import gettext as _

from mapper.domain.layers import Registry
from mapper.domain.privacy import view_for
from mapper.services.exports import FORMATS
from mapper.services.map_pages import MapLayer

LAND_USE, DISTRICTS = "land_use", "land_use-districts"
CLASS_COLORS = {  # one colour per land-use class of layers/land_use.toml (ColorBrewer Paired + Set3)
    "residential": "#f4c542",
    "commercial": "#e31a1c",
    "industrial": "#6a3d9a",
    "mixed_use": "#ff7f00",
    "public_space": "#1f78b4",
    "green_space": "#33a02c",
    "agricultural": "#b2df8a",
    "informal_settlement": "#fb9a99",
    "titled": "#a6cee3",
    "demarcated": "#cab2d6",
    "reserved": "#8c6d31",
    "vacant": "#969696",
}
FALLBACK_COLOR = "#636363"
SHARE_BREAKS = (0.0, 0.1, 0.2, 0.35, 0.5)  # public-space share: lower bounds of the choropleth's classes
SHARE_COLORS = ("#edf8e9", "#bae4b3", "#74c476", "#31a354", "#006d2c")  # ColorBrewer Greens, 5 classes


def format_choices() -> list[tuple[str, str]]:
    labels = {
        "gpkg": _("GeoPackage"),
        "geojson": _("GeoJSON"),
        "csv": _("CSV (geometry as WKT)"),
        "shp.zip": _("Shapefile (zipped)"),
    }
    return [(fmt, labels.get(fmt, fmt)) for fmt in sorted(FORMATS, key=list(labels).index)]


def land_class_items(values) -> list[dict]:
    return [{"value": v, "color": CLASS_COLORS.get(v, FALLBACK_COLOR), "label": _(v.replace("_", " "))} for v in values]


def share_items() -> list[dict]:
    items = []
    for i, (low, color) in enumerate(zip(SHARE_BREAKS, SHARE_COLORS, strict=True)):
        if i + 1 < len(SHARE_BREAKS):
            high = SHARE_BREAKS[i + 1]
            label = _("%(low)s–%(high)s %%", low=round(low * 100), high=round(high * 100))
            items.append({"min": low, "max": high, "color": color, "label": label})
        else:
            items.append({"min": low, "color": color, "label": _("%(low)s %% or more", low=round(low * 100))})
    return items


def planning_layers(registry: Registry, role: str | None) -> list[MapLayer]:
    """Land use by class (its legend lists every class) and districts by public-space share."""
    land_use, districts = registry.get(LAND_USE), registry.get(DISTRICTS)
    classes = land_class_items(land_use.field("land_class").values)
    by_class = {"field": "land_class", "items": classes}
    out = [MapLayer(view_for(land_use, role), _("Land use"), counts=False, classes=by_class)]
    if districts is not None:
        note = _("Share of each district's area that is public or green space, from the latest land-use score run.")
        out.append(
            MapLayer(
                view_for(districts, role),
                _("Land use"),
                counts=False,
                classes={"field": "public_space_share", "items": share_items()},
                legend_note=note,
            )
        )
    return out
