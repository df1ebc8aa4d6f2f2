"""/api/reports/{id}/photos/{position}[/thumbnail]: a report's photos as their report's visibility allows;
moderators hide and show one (``services.photos``)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

from mapper.db import get_engine
from mapper.services import lifecycle, photos
from mapper.web import access, http_cache
from mapper.web.auth import current_actor, current_role

bp = Blueprint("photos", __name__, url_prefix="/api/reports")


def _served(report_id: int, position: int, thumbnail: bool) -> Response:
    registry = current_app.extensions["mapper.registry"]
    found = photos.photo(get_engine(), registry, report_id, position, current_role(), thumbnail=thumbnail)
    return image_response(found, thumbnail)


def image_response(found: photos.Served, thumbnail: bool) -> Response:
    """A photo as served: its type, nosniff, inline, validators (revalidated on every use)."""
    # Revalidated on every use (no-cache): a photo a moderator hides leaves every cache at its next request.
    etag = http_cache.etag_for(found.sha256.hex(), "thumbnail" if thumbnail else "image")
    resp = http_cache.not_modified(etag, found.created_at) or Response(found.data, mimetype=found.content_type)
    http_cache.set_validators(resp, etag, found.created_at)
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Content-Disposition"] = "inline"
    return resp


@bp.get("/<int:report_id>/photos/<int:position>")
@access.public
def photo(report_id: int, position: int):
    """One photo of a report (re-encoded, without metadata): public once its report is, unless hidden."""
    return _served(report_id, position, thumbnail=False)


@bp.get("/<int:report_id>/photos/<int:position>/thumbnail")
@access.public
def thumbnail(report_id: int, position: int):
    """A photo's thumbnail (WebP, at most 320 px), seen by whoever may see the photo."""
    return _served(report_id, position, thumbnail=True)


@bp.post("/<int:report_id>/photos/<int:position>/hide")
@access.permission("moderate")
def hide(report_id: int, position: int):
    """Hide one photo from the public (its report stays as it is); recorded with who hid it."""
    actor = lifecycle.Actor(current_actor(), current_role())
    return jsonify(photos.set_hidden(get_engine(), report_id, position, actor, hidden=True))


@bp.post("/<int:report_id>/photos/<int:position>/unhide")
@access.permission("moderate")
def unhide(report_id: int, position: int):
    """Show a hidden photo again."""
    actor = lifecycle.Actor(current_actor(), current_role())
    return jsonify(photos.set_hidden(get_engine(), report_id, position, actor, hidden=False))
