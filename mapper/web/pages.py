"""Pages for citizens: the landing page, the report form and the public map."""

from __future__ import annotations

import math

from flask import Blueprint, current_app, jsonify, render_template, request
from flask_babel import gettext as _
from sqlalchemy import text

from mapper.db import get_engine
from mapper.services.intake import report_status
from mapper.services.public_map import public_layers
from mapper.web import access, maps
from mapper.web.auth import current_role
from mapper.web.rate_limits import limited
from mapper.web.security import embeddable, secret_url

bp = Blueprint("pages", __name__)


def registry():
    return current_app.extensions["mapper.registry"]


@bp.get("/")
@access.public
def index():
    """Landing page: what the platform holds and where to go."""
    return render_template("index.html", layers=list(registry()))


@bp.get("/report")
@access.public
def report_form():
    """The citizen's report form, generated from the layer definitions. ``?lat=&lon=`` (a map's "report a
    problem here") places the report there; ``?layer=`` chooses the layer. Anything else is ignored."""
    settings = maps.tiles_settings()
    point = prefilled_point(request.args.get("lat"), request.args.get("lon"))
    if point:
        settings = {**settings, "center": list(point), "zoom": max(int(settings["zoom"]), 17)}
    layers = list(registry())
    chosen = request.args.get("layer") if request.args.get("layer") in {layer.id for layer in layers} else None
    return render_template("report.html", layers=layers, map=settings, point=point, chosen=chosen)


def prefilled_point(lat: str | None, lon: str | None) -> tuple[float, float] | None:
    """A (lat, lon) on Earth from the query's text, or None."""
    try:
        point = float(lat or ""), float(lon or "")
    except ValueError:
        return None
    if not all(math.isfinite(v) for v in point) or abs(point[0]) > 90 or abs(point[1]) > 180:
        return None
    return round(point[0], 6), round(point[1], 6)


@bp.get("/track/<token>")
@access.public
@limited("tracking")
@secret_url
def track(token: str):
    """The citizen's page for their report: its current status and every public comment with its date (never
    internal notes nor who wrote them); the same as ``/api/reports/{token}``."""
    doc = report_status(get_engine(), token)
    layer = registry().report_layer(doc["layer"])
    return render_template("track.html", doc=doc, layer=layer, token=token)


@bp.get("/map")
@access.public
@embeddable
def public_map():
    """The public map of every layer (generalised locations for sensitive layers)."""
    layers = public_layers(registry(), current_role(), int(current_app.config["MAP_DETAIL_LIMIT"]))
    return maps.map_page(_("Map of reports"), layers, list_layers=[ml for ml in layers if ml.layer.table == "reports"])


@bp.get("/favicon.ico")
@access.public
def favicon():
    """The site icon (browsers ask for it on every page, the Folium map included)."""
    return current_app.send_static_file("favicon.svg")


@bp.get("/healthz")
@access.public
def healthz():
    """Liveness and database readiness, for load balancers and docker-compose."""
    with get_engine().connect() as conn:
        conn.execute(text("SELECT 1"))
    return jsonify({"status": "ok", "layers": len(registry())})
