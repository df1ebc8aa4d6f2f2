"""The hot spot map of a layer: Gi* cells by class, the reports of a chosen window, and the run behind the cells."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask_babel import gettext as _

from mapper.domain.errors import BadRequest, NotFound
from mapper.domain.hotspots import CONFIDENCE
from mapper.domain.layers import Registry
from mapper.domain.privacy import view_for
from mapper.services.explain import confidence_label
from mapper.services.map_pages import MapLayer

WINDOWS = {"4w": 28, "3m": 91, "12m": 365}  # the page's ?window=, in days
DEFAULT_WINDOW = "3m"
HOT = ("#b2182b", "#ef8a62", "#fddbc7")  # 99, 95, 90 %
COLD = ("#2166ac", "#67a9cf", "#d1e5f0")
NOT_SIGNIFICANT = "#bdbdbd"


def window_labels() -> dict:
    return {"4w": _("last 4 weeks"), "3m": _("last 3 months"), "12m": _("last 12 months")}


def parse_window(value: str | None) -> str:
    if value in (None, ""):
        return DEFAULT_WINDOW
    if value not in WINDOWS:
        raise BadRequest(f"window must be one of {', '.join(WINDOWS)}.")
    return value


def window_start(window: str, now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return (now - timedelta(days=WINDOWS[window])).date().isoformat()


def confidence_classes() -> dict:
    """Cells coloured by their confidence bin (gi_z's sign and 99/95/90 %, 0 = not significant)."""
    levels = [level for _alpha, level in CONFIDENCE]
    items = [{"value": c, "color": col, "label": confidence_label(c, _)} for c, col in zip(levels, HOT, strict=True)]
    items += [
        {"value": -c, "color": col, "label": confidence_label(-c, _)} for c, col in zip(levels, COLD, strict=True)
    ]
    items.append({"value": 0, "color": NOT_SIGNIFICANT, "label": confidence_label(0, _)})
    return {"field": "confidence", "items": items}


def hotspot_layers(registry: Registry, layer_id: str, role: str | None, detail_limit: int) -> list[MapLayer]:
    """The cells (``{layer}-hotspots``) and the layer's reports through the role's View (exact for its exact
    audiences, generalised for everyone else)."""
    layer = registry.get(layer_id)
    if layer is None or layer.hotspots is None:
        raise NotFound(f"There is no hot spot map for {layer_id!r}.")
    cells = next(c for c in registry.collections() if c.id == f"{layer_id}-hotspots")
    method = _("Getis-Ord Gi* on a hexagon grid, p-values corrected for the false discovery rate (Benjamini–Hochberg).")
    return [
        MapLayer(
            view_for(cells, role),
            _("Hot spots"),
            counts=False,
            classes=confidence_classes(),
            detail_limit=5000,
            extra={"whole": True, "canvas": True},  # a few thousand cells: read once, drawn on one canvas
            legend_note=method,
        ),
        MapLayer(view_for(layer, role), _("Reports"), detail_limit=detail_limit, extra={"heat": True}),
    ]


def run_summary(doc: dict | None) -> dict:
    """When the cells were computed, from how many reports, for which time window (from explain.latest)."""
    if doc is None:
        return {}
    inputs, params = doc.get("inputs"), doc.get("parameters") or {}
    reports = inputs if isinstance(inputs, int) else None
    days = params.get("window_days")
    return {
        "computed_at": doc["computed_at"][:16].replace("T", " "),
        "reports": reports,
        "window": _("last %(n)s days", n=days) if days else _("all reports"),
    }
