"""Pages for citizens: the landing page, the report form and the public map."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, render_template
from sqlalchemy import text

from mapper.db import get_engine
from mapper.services.public_map import build_public_map
from mapper.web import access
from mapper.web.security import embeddable, with_nonce

bp = Blueprint("pages", __name__)


def registry():
    return current_app.extensions["mapper.registry"]


def tiles_settings() -> dict:
    return {
        "url": current_app.config["TILES_URL"],
        "attribution": current_app.config["TILES_ATTRIBUTION"],
        "center": current_app.config["MAP_CENTER"],
        "zoom": current_app.config["MAP_ZOOM"],
    }


@bp.get("/")
@access.public
def index():
    """Landing page: what the platform holds and where to go."""
    return render_template("index.html", layers=list(registry()))


@bp.get("/report")
@access.public
def report_form():
    """The citizen's report form, generated from the layer definitions."""
    return render_template("report.html", layers=list(registry()), map=tiles_settings())


@bp.get("/map")
@access.public
@embeddable
def public_map():
    """The public map of every layer (generalised locations for sensitive layers)."""
    m = build_public_map(list(registry()), tiles_settings())
    return Response(with_nonce(m.get_root().render()), mimetype="text/html")


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
