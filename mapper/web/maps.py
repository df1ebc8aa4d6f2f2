"""What the map pages read besides the feeds: report counts per square of the screen, for zooms at which a
layer holds too many reports to draw each one."""

from __future__ import annotations

from flask import Blueprint, Response, request

from mapper.db import get_engine
from mapper.services import feeds
from mapper.web import access
from mapper.web.http_cache import etag_for, not_modified, set_validators
from mapper.web.ogc import layer_view

bp = Blueprint("maps", __name__)
GEOJSON = "application/geo+json"


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
