"""Report intake API for citizens and apps: layer schemas, report submission, tracking."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, jsonify, request

from mapper.db import get_engine
from mapper.domain import photos
from mapper.domain.errors import FieldProblem, Forbidden, NotFound, ValidationFailed
from mapper.services import duplicates, lifecycle, tracking
from mapper.services.intake import IntakeLimits, parse_json_body, submit_report
from mapper.web import access
from mapper.web.auth import current_actor, current_role
from mapper.web.bodies import JSON_TYPES, read_body, read_form
from mapper.web.i18n import current_language
from mapper.web.rate_limits import limited
from mapper.web.security import secret_url

bp = Blueprint("intake", __name__, url_prefix="/api")


def registry():
    return current_app.extensions["mapper.registry"]


MAX_FEEDBACK_BYTES = 16 * 1024


@bp.get("/layers")
@access.public
def list_layers():
    """Every layer's schema."""
    return jsonify({"layers": [layer.as_schema() for layer in registry()]})


@bp.get("/layers/<layer_id>")
@access.public
def get_layer(layer_id: str):
    """One layer's schema: fields, geometry, sensitivity, style."""
    layer = registry().report_layer(layer_id)
    if layer is None:
        raise NotFound(f"There is no layer {layer_id!r}.")
    return jsonify(layer.as_schema())


MULTIPART = "multipart/form-data"
PARTS_OVERHEAD = 64 * 1024  # the parts' headers and boundaries


def refuse_other_sites() -> None:
    """403 naming ``Origin`` for a multipart report sent by a browser from another site: unlike a JSON body, a
    form body needs no CORS preflight, so a cross-site form or ``no-cors`` fetch could send one. Clients that
    are not browsers send no ``Origin``; the report form sends ours."""
    origin = request.headers.get("Origin")
    if origin is not None and urlsplit(origin).netloc != request.host:
        raise Forbidden(
            "Reports with photos are taken from this site's own form or from API clients only.",
            [FieldProblem("Origin", "is another site's")],
        )


def report_parts(limits: IntakeLimits) -> tuple[bytes, list[photos.Upload]]:
    """A multipart report: the part ``feature`` (the GeoJSON Feature as JSON text, or a file) and up to
    ``photos.MAX_PHOTOS`` parts ``photo``; the body may hold that many photos of the largest size and a Feature."""
    refuse_other_sites()
    limit = photos.MAX_PHOTOS * photos.MAX_BYTES + limits.max_body_bytes + PARTS_OVERHEAD
    form, files = read_form(limit, limits.max_body_bytes + 1)
    unknown = sorted((set(form) | set(files)) - {"feature", "photo"})
    if unknown:
        raise ValidationFailed(
            "Unknown parts.", [FieldProblem(k, "is not a part of a report (feature, photo)") for k in unknown]
        )
    if "feature" in files:
        feature = files["feature"].stream.read(limits.max_body_bytes + 1)
    elif "feature" in form:
        feature = form["feature"].encode()
    else:
        raise ValidationFailed("The report has no Feature.", [FieldProblem("feature", "is missing")])
    if form.getlist("photo"):
        raise ValidationFailed("A photo was sent as text.", [FieldProblem("photo", "must be a file (with a filename)")])
    sent = [f for f in files.getlist("photo") if f.filename]  # an HTML form's empty file input has no name
    return feature, [
        photos.Upload(f"photo[{n}]", f.filename or "", f.stream.read(photos.MAX_BYTES + 1))
        for n, f in enumerate(sent, start=1)
    ]


@bp.post("/layers/<layer_id>/reports")
@access.public
@limited("intake")
def create_report(layer_id: str):
    """Submit a report as a GeoJSON Feature, or as multipart/form-data with the Feature and up to 3 photos;
    answers 201 with id, status and a private tracking token."""
    role = current_role()
    limits = IntakeLimits(int(current_app.config["MAX_BODY_BYTES"]), int(current_app.config["MAX_VERTICES"]))
    # Too large (413: declared, or once past the limit) or not JSON (415) is refused before the body is read.
    uploads = []
    if request.mimetype == MULTIPART:
        body, uploads = report_parts(limits)
    else:
        body = read_body(limits.max_body_bytes, JSON_TYPES)
    result = submit_report(
        get_engine(),
        registry(),
        layer_id,
        body,
        crs_param=request.args.get("crs"),
        idempotency_key=request.headers.get("Idempotency-Key"),
        secret=current_app.config["SECRET_KEY"],
        idempotency_ttl_hours=float(current_app.config["IDEMPOTENCY_TTL_HOURS"]),
        limits=limits,
        language=current_language(),
        photos=uploads,
        # A label of where the report came from, nothing more: anyone can send X-Mapper-Form, so "web" grants
        # nothing (no status, no trust, no visibility); only a staff token's role, checked, gives "api:<role>".
        source=f"api:{role}" if role else ("web" if request.headers.get("X-Mapper-Form") else "api"),
    )
    resp = jsonify(result.body)
    resp.status_code = result.status_code
    resp.headers["Location"] = result.body["tracking_url"]
    if result.replayed:
        resp.headers["Idempotent-Replayed"] = "true"
    return resp


@bp.post("/reports/<int:report_id>/transitions")
@access.staff
def transition(report_id: int):
    """Move a report through its lifecycle: ``{"to": …, "comment": …, "note": …, "reason": …}`` (``comment`` is
    public, ``note`` internal). The roles the layer's ``[access] act_on_reports`` names act on its reports;
    moderators verify, reject and hide any layer's. An illegal transition is a 409 naming the allowed ones."""
    actor = lifecycle.Actor(current_actor(), current_role())
    return jsonify(lifecycle.transition(get_engine(), registry(), report_id, request.get_json(silent=True), actor))


@bp.get("/reports/<int:report_id>/history")
@access.staff
def report_history(report_id: int):
    """Every transition of a report with its internal notes and actors, and where it may go next, for staff who
    act on or see the report."""
    return jsonify(lifecycle.history(get_engine(), registry(), report_id, current_role()))


@bp.get("/reports/<int:report_id>/duplicates")
@access.staff
def report_duplicates(report_id: int):
    """Reports that may be the same problem: same layer (and category), within the layer's ``[duplicates]``
    distance and days, nearest first, for staff who act on or see the report."""
    return jsonify(duplicates.suggestions(get_engine(), registry(), report_id, current_role()))


@bp.post("/reports/<int:report_id>/merge")
@access.staff
def merge_report(report_id: int):
    """``{"into": id, "comment": …}``: the report becomes ``rejected`` (reason ``duplicate``) and points at
    ``into`` (same layer). 409 when the lifecycle or the duplicate chain forbids it."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or set(body) - {"into", "comment"}:
        problem = FieldProblem("body", "an object with into (a report id) and comment only")
        raise ValidationFailed("The body must name the report to merge into.", [problem])
    actor = lifecycle.Actor(current_actor(), current_role())
    return jsonify(duplicates.merge(get_engine(), registry(), report_id, body.get("into"), actor, body.get("comment")))


@bp.get("/reports/<token>")
@access.public
@limited("tracking")
@secret_url
def track_report(token: str):
    """What the citizen holding its tracking token sent, the report's status and public history."""
    return jsonify(tracking.report_status(get_engine(), registry(), token))


@bp.post("/reports/<token>/feedback")
@access.public
@limited("tracking")
@secret_url
def report_feedback(token: str):
    """The reporter's word on their resolved report: ``{"verdict": "confirmed" | "disputed", "comment": …}``; a
    dispute reopens it."""
    body = read_body(MAX_FEEDBACK_BYTES, JSON_TYPES)
    return jsonify(tracking.give_feedback(get_engine(), registry(), token, parse_json_body(body)))
