"""Derived collections: what scoring publishes as layers (read-only, served by the same feeds and tiles)."""

from __future__ import annotations

from mapper.domain.layers import Field, Layer
from mapper.domain.policy import ROLES

HOTSPOT_FIELDS = (
    Field("reports", "integer", "Reports in the cell"),
    Field("weight", "number", "Weighted reports"),
    Field("gi_z", "number", "Gi* z-score"),
    Field("p_value", "number", "p-value (two-sided)"),
    Field("q_value", "number", "FDR-adjusted p-value (Benjamini–Hochberg)"),
    Field("confidence", "integer", "Confidence bin (±99/95/90, 0 = not significant)"),
    Field("class", "text", "Class"),
    Field("run_id", "integer", "Score run"),
)
AREA_FIELDS = (
    Field("positive", "integer", "Positive reports"),
    Field("negative", "integer", "Negative reports"),
    Field("reports", "integer", "Reports"),
    Field("livability", "number", "Share of positive reports"),
    Field("livability_low", "number", "Lower 95 % bound (Wilson)"),
    Field("livability_high", "number", "Upper 95 % bound (Wilson)"),
    Field("safety", "number", "Share of positive safety reports"),
    Field("safety_reports", "integer", "Safety reports"),
    Field("run_id", "integer", "Score run"),
)
DISTRICT_FIELDS = (
    Field("district", "text", "District"),
    Field("area_m2", "number", "Area", unit="m²"),
    Field("public_space_m2", "number", "Public and green space", unit="m²"),
    Field("public_space_share", "number", "Public space share"),
    Field("population", "integer", "Residents"),
    Field("public_space_per_person_m2", "number", "Public space per resident", unit="m²"),
    Field("run_id", "integer", "Score run"),
)


# What each derived collection holds, as its title says after its layer's title ("Crime: hot spots").
DERIVED_TITLES = {
    "hotspots": "hot spots",
    "areas": "safety and livability by area",
    "districts": "land use by district",
}


def _derived(layer: Layer, suffix: str, title: str, geometry: str, fields, description: str) -> Layer:
    return Layer(
        id=f"{layer.id}-{suffix}",
        title=f"{layer.title}: {title}",
        title_parts=(layer.title, title),
        description=description,
        geometry=geometry,
        fields=fields,
        precision_m=0.0,
        exact_audiences=layer.exact_audiences,
        color=layer.color,
        icon=layer.icon,
        table="derived_features",
        derived_from=layer.id,
    )


def derived_layers(layer: Layer) -> list[Layer]:
    """The collections scoring derives from ``layer``."""
    out = []
    if layer.hotspots:
        out.append(
            _derived(
                layer,
                "hotspots",
                DERIVED_TITLES["hotspots"],
                "polygon",
                HOTSPOT_FIELDS,
                "Getis-Ord Gi* hot and cold spots on a hexagon grid (cells with fewer than "
                f"{layer.hotspots.min_count} reports are not published).",
            )
        )
    if "livability" in layer.scores:
        out.append(
            _derived(
                layer,
                "areas",
                DERIVED_TITLES["areas"],
                "polygon",
                AREA_FIELDS,
                "Positive and negative reports per hexagon with Wilson 95 % intervals.",
            )
        )
    if "land_use" in layer.scores:
        out.append(
            _derived(
                layer,
                "districts",
                DERIVED_TITLES["districts"],
                "polygon",
                DISTRICT_FIELDS,
                "Area by class, public space share and public space per resident, per district.",
            )
        )
    return out


TRANSIT_LAYERS = (
    Layer(
        id="transit_stops",
        title="Transit stops (GTFS)",
        geometry="point",
        table="derived_features",
        description="Stops of the imported GTFS feeds with routes served, trips per day and headways "
        "(07:00–19:00, all routes pooled) on each feed's service date.",
        fields=(
            Field("feed", "text", "Feed"),
            Field("stop_id", "text", "Stop id"),
            Field("stop_name", "text", "Stop"),
            Field("routes", "text", "Routes"),
            Field("route_types", "text", "Route types"),
            Field("high_capacity", "boolean", "Rail, metro or ferry"),
            Field("trips_per_day", "integer", "Departures per day"),
            Field("mean_headway_min", "number", "Mean headway", unit="min"),
            Field("min_headway_min", "number", "Shortest headway", unit="min"),
            Field("service_date", "date", "Service date"),
        ),
        exact_audiences=ROLES,  # every staff role
        color="#16a085",
        icon="bus",
    ),
    Layer(
        id="transit_routes",
        title="Transit routes (GTFS)",
        geometry="line",
        table="derived_features",
        description="Routes of the imported GTFS feeds: shapes.txt where present, else the stop sequence of the "
        "route's most frequent trip pattern.",
        fields=(
            Field("feed", "text", "Feed"),
            Field("route_id", "text", "Route id"),
            Field("route_short_name", "text", "Route"),
            Field("route_long_name", "text", "Name"),
            Field("route_type", "integer", "Route type"),
            Field("route_color", "text", "Colour"),
            Field("route_text_color", "text", "Text colour"),
            Field("trips_per_day", "integer", "Trips per day"),
            Field("mean_headway_min", "number", "Mean headway", unit="min"),
            Field("geometry_source", "text", "Geometry from"),
            Field("service_date", "date", "Service date"),
        ),
        exact_audiences=ROLES,  # every staff role
        color="#2c3e50",
        icon="road",
    ),
)
