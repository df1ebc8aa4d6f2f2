"""Pages for citizens: the landing page, the report form and the public map."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, render_template, url_for
from flask_babel import gettext as _
from sqlalchemy import text

from mapper.db import get_engine
from mapper.services import map_pages
from mapper.services.public_map import public_layers
from mapper.web import access
from mapper.web.auth import current_role
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
    layers = public_layers(registry(), current_role(), int(current_app.config["MAP_DETAIL_LIMIT"]))
    return map_page(_("Map of reports"), layers, list_layers=[ml for ml in layers if ml.layer.table == "reports"])


def map_page(title: str, layers: list, *, list_layers=(), intro: str = "", template: str = "map_page.html", **extra):
    """A Folium map page in the site's layout: the map, its filters, legend and list of reports in view."""
    m = map_pages.build_map(tiles_settings(), layers)
    html = render_template(
        template,
        title=title,
        intro=intro,
        folium=map_pages.page_parts(m),
        config=map_pages.client_config(layers),
        legends=[(ml, map_pages.legend_entries(ml)) for ml in layers],
        filters=[(ml, c) for ml in layers if (c := map_pages.filter_choices(ml))],
        time_filter=any(map_pages.client_spec(ml)["timeFilter"] for ml in layers),
        list_layers=list(list_layers),
        report_url=url_for("pages.report_form"),
        **extra,
    )
    return Response(with_nonce(html), mimetype="text/html")


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
