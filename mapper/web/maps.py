"""Map pages in the site's layout (``map_page``), and what they read besides the feeds: report counts per
square of the screen, for zooms at which a layer holds too many reports to draw each one."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, render_template, request, url_for
from flask_babel import gettext as _

from mapper.db import get_engine
from mapper.services import feeds, map_pages, planning_map
from mapper.web import access
from mapper.web.auth import current_role
from mapper.web.http_cache import etag_for, not_modified, set_validators
from mapper.web.ogc import layer_view
from mapper.web.security import embeddable, with_nonce

bp = Blueprint("maps", __name__)
GEOJSON = "application/geo+json"


def tiles_settings() -> dict:
    return {
        "url": current_app.config["TILES_URL"],
        "attribution": current_app.config["TILES_ATTRIBUTION"],
        "center": current_app.config["MAP_CENTER"],
        "zoom": current_app.config["MAP_ZOOM"],
    }


def map_page(
    title: str,
    layers: list,
    *,
    list_layers=(),
    intro: str = "",
    template: str = "map_page.html",
    page_scripts=(),
    **extra,
):
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
        page_scripts=list(page_scripts),  # static/maps-*.js of this page, run before the map is attached
        **extra,
    )
    return Response(with_nonce(html), mimetype="text/html")


@bp.get("/api/maps/<layer_id>/counts")
@access.public
def counts(layer_id: str):
    """Reports of a layer per square of about 64 px at ``zoom`` in ``bbox`` (filters as for items), as
    GeoJSON points with ``report_count``, and ``numberMatched``. When that number is at most ``limit`` the
    squares are left out: the map reads the reports themselves from the feed."""
    view = layer_view(layer_id)
    args = request.args.to_dict()
    zoom = feeds.parse_zoom(args.pop("zoom", None))
    q = feeds.parse_query(view, args)
    version, changed_at = feeds.data_version(get_engine(), view)
    etag = etag_for(version, view.exact, request.full_path)
    cached = not_modified(etag, changed_at)
    if cached:
        return cached
    c = feeds.count_cells(get_engine(), q, zoom)
    features = c.features if c.matched > q.limit else ""
    text = (
        f'{{"type":"FeatureCollection","numberMatched":{int(c.matched)},"cellSize":{float(c.cell_m)!r},'
        f'"features":[{features}]}}'
    )
    return set_validators(Response(text, mimetype=GEOJSON), etag, changed_at, max_age=60)


@bp.get("/maps/planning")
@access.public
@embeddable
def planning():
    """Land use by class, public-space share per district, and "export this view" (the /export endpoints)."""
    layers = planning_map.planning_layers(current_app.extensions["mapper.registry"], current_role())
    return map_page(
        _("Land use and planning"),
        layers,
        list_layers=[ml for ml in layers if ml.layer.table == "reports"],
        intro=_("Land parcels by class and each district's share of public space. Export what the map shows."),
        template="map_planning.html",
        page_scripts=[url_for("static", filename="maps-planning.js")],
        export_formats=planning_map.format_choices(),
    )
