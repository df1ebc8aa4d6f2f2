"""Map pages in the site's layout (``map_page``), and what they read besides the feeds: report counts per
square of the screen, for zooms at which a layer holds too many reports to draw each one."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, render_template, request, url_for
from flask_babel import gettext as _

from mapper.db import get_engine
from mapper.domain import policy
from mapper.domain.errors import NotFound
from mapper.services import (
    audience_maps,
    explain,
    feeds,
    gtfs_import,
    hotspot_map,
    map_pages,
    planning_map,
    transit_map,
)
from mapper.web import access
from mapper.web.audit import records_reads
from mapper.web.auth import current_role
from mapper.web.http_cache import etag_for, not_modified, set_validators
from mapper.web.i18n import layer_title
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
    bounds: list[float] | None = None,
    opening_filters: dict | None = None,
    **extra,
):
    """A Folium map page in the site's layout: the map (at the city's centre, or fitted to ``bounds``), its
    filters, legend and list of reports in view."""
    m = map_pages.build_map(tiles_settings(), layers, bounds)
    specs = [map_pages.client_spec(ml) for ml in layers]
    scores = map_pages.scores_shown(_registry(), layers)
    runs = explain.latest_runs(get_engine(), [(layer.id, method) for layer, method in scores])
    html = render_template(
        template,
        title=title,
        intro=intro,
        folium=map_pages.page_parts(m),
        config=map_pages.client_config(specs, opening_filters),
        opening_filters=opening_filters or {},
        legends=[(ml, map_pages.legend_entries(ml)) for ml in layers],
        filters=[(ml, c) for ml, spec in zip(layers, specs, strict=True) if (c := map_pages.filter_choices(ml, spec))],
        time_filter=any(spec["timeFilter"] for spec in specs),
        score_runs=[(layer, method, runs.get((layer.id, method))) for layer, method in scores],
        list_layers=list(list_layers),
        report_url=url_for("pages.report_form"),
        page_scripts=list(page_scripts),  # static/maps-*.js of this page, run before the map is attached
        atom_feeds=[  # <link rel="alternate">: each report layer's Atom feed, for feed readers to discover
            (layer_title(ml.layer), url_for("atom.layer_feed", layer_id=ml.layer.id))
            for ml in layers
            if ml.layer.table == "reports"
        ],
        **extra,
    )
    return Response(with_nonce(html), mimetype="text/html")


@bp.get("/api/maps/<layer_id>/counts")
@access.public
@records_reads(with_fields=False)
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


def _registry():
    return current_app.extensions["mapper.registry"]


@bp.get("/maps/water")
@access.public
@embeddable
def water_map():
    """Water points by E. coli risk band, citizens' alerts, measurements against WHO values; staff who may
    decide alerts verify or dismiss them from the popup (their requests carry the session's CSRF token)."""
    role = current_role()
    layers = audience_maps.water_layers(_registry(), role, int(current_app.config["MAP_DETAIL_LIMIT"]))
    return map_page(
        _("Water points and their safety"),
        layers,
        list_layers=layers,
        intro=_("Each point is coloured by the E. coli risk band of its latest sample (WHO/JMP)."),
        template="map_water.html",
        page_scripts=[url_for("static", filename="maps-water.js")],
        may_decide=policy.may(role, "decide_alerts", layers[0].layer),
        decision_url="/api/reports/{id}/alert-decision",
    )


@bp.get("/maps/health")
@access.public
@embeddable
def health_map():
    """Health centres filtered by service, with their Bayesian rating and n, complaints per month (counts
    only), the nearest transit stop and its departures per day."""
    layers = audience_maps.health_layers(_registry(), current_role(), int(current_app.config["MAP_DETAIL_LIMIT"]))
    return map_page(
        _("Health centres"),
        layers,
        list_layers=layers,
        intro=_("Choose a service to see the centres offering it; open a centre for its rating and transit."),
        page_scripts=[url_for("static", filename="maps-health.js")],
    )


@bp.get("/maps/hotspots/<layer_id>")
@access.public
@embeddable
def hotspots(layer_id: str):
    """Hot and cold spots of a layer (Gi* cells by confidence), its reports in a chosen window, a heat map."""
    layers = hotspot_map.hotspot_layers(
        _registry(), layer_id, current_role(), int(current_app.config["MAP_DETAIL_LIMIT"])
    )
    window = hotspot_map.parse_window(request.args.get("window"))
    try:
        run = explain.latest(get_engine(), layers[1].view, "hotspots")
    except NotFound:
        run = None
    window_from = hotspot_map.window_start(window)
    layers[1].extra["windowFrom"] = window_from
    return map_page(
        _("Hot spots: %(layer)s", layer=layer_title(layers[1].layer)),
        layers,
        list_layers=[layers[1]],
        template="map_hotspots.html",
        page_scripts=["/vendor/leaflet.heat/dist/leaflet-heat.js", url_for("static", filename="maps-hotspots.js")],
        opening_filters={"from": window_from},
        window=window,
        windows=hotspot_map.window_labels(),
        run=hotspot_map.run_summary(run),
    )


@bp.get("/maps/transit")
@access.public
@embeddable
def transit():
    """Transit routes in their GTFS colours, stops sized by departures per day."""
    layers = transit_map.transit_layers(_registry(), current_role())
    stops = next(ml for ml in layers if ml.layer.id == "transit_stops")
    return map_page(
        _("Transit"),
        layers,
        template="map_transit.html",
        bounds=feeds.collection_summary(get_engine(), stops.view)["bbox"],  # the feeds' stops, not the city
        gtfs_feeds=gtfs_import.feeds(get_engine()),
    )


@bp.get("/maps/planning")
@access.public
@embeddable
def planning():
    """Land use by class, public-space share per district, and "export this view" (the /export endpoints)."""
    layers = planning_map.planning_layers(_registry(), current_role())
    return map_page(
        _("Land use and planning"),
        layers,
        list_layers=[ml for ml in layers if ml.layer.table == "reports"],
        intro=_("Land parcels by class and each district's share of public space. Export what the map shows."),
        template="map_planning.html",
        page_scripts=[url_for("static", filename="maps-planning.js")],
        export_formats=planning_map.format_choices(),
    )
