"""The water and health maps' collections: water points coloured by their E. coli risk band (the bands of
``domain.water``, read from the public measurement), health centres filtered by service."""

from __future__ import annotations

import math

from flask_babel import gettext as _

from mapper.domain import water
from mapper.domain.layers import Registry
from mapper.domain.privacy import view_for
from mapper.services.map_pages import MapLayer

BAND_COLOURS = {"low": "#1a9850", "moderate": "#fee08b", "high": "#f46d43", "very high": "#a50026"}
ALERT_COLOUR = "#111111"  # the outline of a point carrying a citizen's alert (maps-water.js)


def e_coli_classes() -> dict:
    """The JMP/WHO E. coli bands of ``domain.water`` as the client's range classes (one rule, one place)."""
    items, low = [], 0.0
    for limit, name in water.E_COLI_BANDS:
        item = {"min": low, "color": BAND_COLOURS[name], "label": _("E. coli: %(band)s risk", band=_(name))}
        if not math.isinf(limit):
            item["max"] = float(limit)
        items.append(item)
        low = float(limit)
    return {"field": water.E_COLI, "items": items}


def water_strings() -> dict:
    return {
        "measurements": _("Measurements against WHO guideline values"),
        "parameter": _("Measurement"),
        "value": _("Value"),
        "guideline": _("WHO value"),
        "result": _("Result"),
        "pass": _("within"),
        "fail": _("outside"),
        "safety": _("Safety"),
        "alert": _("Citizen's alert"),
        "verify": _("Verify alert"),
        "dismiss": _("Dismiss alert"),
        "decided": _("Decision recorded: %(status)s"),
        "refused": _("The decision was refused (%(status)s)."),
        "loading": _("Loading…"),
        "noScore": _("Not scored yet."),
    }


def health_strings() -> dict:
    return {
        "rating": _("Rating (Bayesian average)"),
        "ratingValue": _("%(score)s of 5 from %(n)s rating(s)"),
        "noRating": _("No rating yet"),
        "complaints": _("Complaints per month"),
        "noComplaints": _("No complaint filed"),
        "stop": _("Nearest transit stop"),
        "stopValue": _("%(stop)s, %(m)s m away"),
        "departures": _("Departures per day within reach"),
        "noTransit": _("Transit access unknown"),
        "loading": _("Loading…"),
    }


def water_layers(registry: Registry, role: str | None, detail_limit: int) -> list[MapLayer]:
    layer = registry.get("water_quality")
    note = _("Points with a citizen's alert have a thick dark outline; points in blue have no E. coli test.")
    return [
        MapLayer(
            view_for(layer, role),
            _("Water"),
            classes=e_coli_classes(),
            detail_limit=detail_limit,
            legend_note=note,
            extra={"alertField": "alert", "alertColor": ALERT_COLOUR, "pageStrings": water_strings()},
        )
    ]


def health_layers(registry: Registry, role: str | None, detail_limit: int) -> list[MapLayer]:
    layer = registry.get("health_centres")
    return [
        MapLayer(
            view_for(layer, role),
            _("Health"),
            detail_limit=detail_limit,
            extra={
                "filterField": "services",
                "ratingsUrl": "/api/scores/health_centres?f=json",
                "pageStrings": health_strings(),
            },
        )
    ]
