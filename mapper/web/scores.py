"""Scores API: explanations of any score, current results per layer, and alert decisions."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, render_template, request
from flask_babel import gettext

from mapper.db import get_engine
from mapper.domain.errors import BadRequest, FieldProblem, MapperError, NotFound, ValidationFailed
from mapper.services import alerts, charts, explain, scoring
from mapper.services.lifecycle import Actor
from mapper.web import access
from mapper.web.auth import current_actor, current_role
from mapper.web.ogc import layer_view, wants_html
from mapper.web.problems import status_of

bp = Blueprint("scores", __name__, url_prefix="/api")
FORMATS = ("html", "json")
NEGOTIATED = ("scores.explain_score", "scores.layer_scores")


def negotiated(build, template: str, layer_id: str):
    """The document ``build()`` makes, as JSON or — for browsers (HTML preferred, or ``?f=html``) — as a page
    of ``template``; an error is a problem+json for clients and a readable page for browsers. ``?f=json``
    forces JSON. Either way the response varies on Accept."""
    registry = current_app.extensions["mapper.registry"]
    f = request.args.get("f")
    if f is not None and f not in FORMATS:
        raise BadRequest("Unknown format.", [FieldProblem("f", f"must be one of {', '.join(FORMATS)}")])
    if not wants_html():
        resp = jsonify(build())
    else:
        try:
            page = {"doc": build(), "charts": charts, "layer": registry.get(layer_id)}
            words = {  # the explanations' words in the page's language
                "in_words": lambda s: explain.in_words(s, gettext),
                "water_reason": lambda r: explain.water_reason(r, gettext),
                "scale_reason": lambda scale: explain.scale_reason(scale, gettext),
                "confidence_label": lambda c: explain.confidence_label(c, gettext),
            }
            html, status = render_template(template, **page, **words), 200
        except MapperError as e:
            status = status_of(e)
            html = render_template("explain_missing.html", error=e, status=status)
        resp = Response(html, status=status, mimetype="text/html")
    return resp


@bp.after_request
def vary_on_accept(resp: Response) -> Response:
    """Both forms of a negotiated URL (problem+json errors included) vary on Accept, for caches."""
    if request.endpoint in NEGOTIATED:
        resp.vary.add("Accept")
    return resp


@bp.get("/scores/<collection>/<int:subject_id>")
@access.public
def explain_score(collection: str, subject_id: int):
    """How the score of a report (or of a hot spot cell / area) was computed, in JSON and plain words (a page
    for browsers)."""
    return negotiated(
        lambda: explain.explain(get_engine(), layer_view(collection), subject_id), "explain.html", collection
    )


@bp.get("/scores/<layer_id>")
@access.public
def layer_scores(layer_id: str):
    """The newest results of every score of a layer, computed from reports the caller may all see. Health
    centres are ranked by Bayesian average and can be filtered by a service
    (``?service=sexual_reproductive_health``). A page for browsers."""
    return negotiated(lambda: _layer_scores(layer_id), "explain_layer.html", layer_id)


def _layer_scores(layer_id: str) -> dict:
    view = layer_view(layer_id)
    layer = view.layer
    methods = layer.score_methods
    if not methods:
        raise NotFound(f"Layer {layer_id!r} declares no score.")
    out = {}
    for method in methods:
        try:
            out[method] = explain.latest(get_engine(), view, method)
        except NotFound:
            out[method] = None
    ratings = out.get("ratings")
    if ratings:
        service = request.args.get("service")
        results = [r for r in ratings["results"] if not service or service in r["services"]]
        ratings["results"] = sorted(results, key=lambda r: -r["bayesian_average"])
    return {"layer": layer_id, "scores": out}


@bp.post("/scores/<layer_id>/run")
@access.layer_permission("run_scores")
def run_scores(layer_id: str):
    """Recompute a layer's scores now (the roles its [access] run_scores names, and admin)."""
    layer = current_app.extensions["mapper.registry"].report_layer(layer_id)
    return jsonify([s.__dict__ for s in scoring.score_layer(get_engine(), layer)])


@bp.post("/reports/<int:report_id>/alert-decision")
@access.layer_permission("decide_alerts", layer=alerts.LAYER)
def alert_decision(report_id: int):
    """Staff holding decide_alerts on water_quality verify or dismiss a citizen's water alert:
    ``{"decision": "verify"|"dismiss", "note": …}``."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValidationFailed("The body must be a JSON object.", [FieldProblem("body", "not a JSON object")])
    registry = current_app.extensions["mapper.registry"]
    actor = Actor(current_actor(), current_role())
    decided = alerts.decide_alert(get_engine(), registry, report_id, body.get("decision"), body.get("note"), actor)
    return jsonify(decided)
