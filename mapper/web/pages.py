"""Pages for citizens: the landing page, the report form and the public map."""

from __future__ import annotations

import math

from flask import Blueprint, current_app, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import text

from mapper.db import get_engine
from mapper.domain.errors import Conflict, ValidationFailed
from mapper.services import tracking
from mapper.services.public_map import public_layers
from mapper.web import access, maps
from mapper.web.auth import current_role
from mapper.web.photos import image_response
from mapper.web.rate_limits import limited
from mapper.web.security import embeddable, secret_url, service_worker_script

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
    doc = tracking.report_status(get_engine(), registry(), token)
    layer = registry().report_layer(doc["layer"])
    return render_template("track.html", doc=doc, layer=layer, token=token, answered=request.args.get("answered"))


@bp.get("/track/<token>/photos/<int:position>")
@access.public
@limited("tracking")
@secret_url
def track_photo(token: str, position: int):
    """A photo the reporter sent, for them (their tracking page's)."""
    return image_response(tracking.reporter_photo(get_engine(), token, position), thumbnail=False)


@bp.get("/track/<token>/photos/<int:position>/thumbnail")
@access.public
@limited("tracking")
@secret_url
def track_thumbnail(token: str, position: int):
    """The thumbnail of a photo the reporter sent, for them."""
    return image_response(tracking.reporter_photo(get_engine(), token, position, thumbnail=True), thumbnail=True)


@bp.post("/track/<token>/feedback")
@access.public
@limited("tracking")
@secret_url
def track_feedback(token: str):
    """The tracking page's "is it solved?" form (CSRF-checked): confirm, or dispute (reopens the report)."""
    body = {"verdict": request.form.get("verdict"), "comment": request.form.get("comment") or None}
    try:
        tracking.give_feedback(get_engine(), registry(), token, body)
    except (Conflict, ValidationFailed) as refused:
        doc = tracking.report_status(get_engine(), registry(), token)
        layer = registry().report_layer(doc["layer"])
        page = render_template("track.html", doc=doc, layer=layer, token=token, refused=refused.detail)
        return page, 409 if isinstance(refused, Conflict) else 422
    return redirect(url_for("pages.track", token=token, answered=body["verdict"]), 303)


@bp.get("/map")
@access.public
@embeddable
def public_map():
    """The public map of every layer (generalised locations for sensitive layers)."""
    layers = public_layers(registry(), current_role(), int(current_app.config["MAP_DETAIL_LIMIT"]))
    return maps.map_page(_("Map of reports"), layers, list_layers=[ml for ml in layers if ml.layer.table == "reports"])


@bp.get("/sw.js")
@access.public
@service_worker_script
def service_worker():
    """The report form's service worker (``static/sw.js``), from the site's root so it may control ``/report``;
    never cached (a deploy's new worker is found at once), its offline cache named by ``?v=`` (the asset
    version the page registers it with)."""
    resp = current_app.send_static_file("sw.js")
    resp.headers["Content-Type"] = "text/javascript; charset=utf-8"
    resp.headers["Cache-Control"] = "no-cache"
    return resp


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
