"""Pages for citizens: the landing page, the report form and the public map."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, render_template
from flask_babel import gettext as _
from sqlalchemy import text

from mapper.db import get_engine
from mapper.services.public_map import public_layers
from mapper.web import access, maps
from mapper.web.auth import current_role
from mapper.web.security import embeddable

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
    """The citizen's report form, generated from the layer definitions."""
    return render_template("report.html", layers=list(registry()), map=maps.tiles_settings())


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
