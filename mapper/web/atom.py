"""Atom feeds to subscribe to (services.atom): ``/feeds/{layer}.atom`` (``?bbox=``), a layer's newest public
reports, and ``/api/reports/{token}/feed.atom``, one report's public updates for the holder of its tracking token."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, request, url_for

from mapper.db import get_engine
from mapper.domain.errors import BadRequest, FieldProblem, NotFound
from mapper.services import atom, feeds, tracking
from mapper.web import access
from mapper.web.http_cache import enable_cors, etag_for, not_modified, set_validators
from mapper.web.i18n import COOKIE, current_language
from mapper.web.rate_limits import limited
from mapper.web.security import secret_url

bp = Blueprint("atom", __name__)
enable_cors(bp)
PARAMETERS = ("bbox", COOKIE)


def _authority() -> str:
    return urlsplit(request.host_url).hostname or "localhost"


def _atom(body: bytes) -> Response:
    return Response(body, content_type=atom.ATOM)


@bp.get("/feeds/<layer_id>.atom")
@access.public
def layer_feed(layer_id: str):
    """The layer's newest public reports, new or updated (``bbox``: within minLon,minLat,maxLon,maxLat)."""
    layer = current_app.extensions["mapper.registry"].report_layer(layer_id)
    if layer is None:
        raise NotFound(f"There is no layer {layer_id!r}.", [FieldProblem("layer", "unknown layer")])
    unknown = sorted(set(request.args) - set(PARAMETERS))
    if unknown:
        raise BadRequest("Unknown parameter.", [FieldProblem(n, "unknown parameter; use bbox") for n in unknown])
    raw_bbox = request.args.get("bbox", "")
    bboxes = feeds.parse_bbox(raw_bbox) if raw_bbox else []
    engine = get_engine()
    version, changed_at = feeds.data_version(engine, atom.public_view(layer))
    etag = etag_for(version, request.root_url, request.full_path, current_language())
    cached = not_modified(etag, changed_at)
    if cached:
        return cached
    links = atom.Links(
        authority=_authority(),
        self_url=request.url,
        alternate_url=url_for("pages.public_map", _external=True),
        item_url=url_for("ogc.items", layer_id=layer.id, _external=True) + "/{id}",
    )
    body = atom.layer_feed(engine, layer, links, bboxes=bboxes, bbox_text=raw_bbox, changed_at=changed_at)
    return set_validators(_atom(body), etag, changed_at, max_age=60)


@bp.get("/api/reports/<token>/feed.atom")
@access.public
@limited("tracking")
@secret_url
def report_feed(token: str):
    """One report's public updates (status changes, public comments, dates) for the holder of its token."""
    doc = tracking.report_status(get_engine(), current_app.extensions["mapper.registry"], token)
    layer = current_app.extensions["mapper.registry"].report_layer(doc["layer"])
    links = atom.Links(
        authority=_authority(),
        self_url=request.base_url,
        alternate_url=url_for("pages.track", token=token, _external=True),
    )
    return _atom(atom.report_feed(doc, layer, links))
