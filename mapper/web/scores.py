"""Scores API: explanations of any score, current results per layer, and alert decisions."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from mapper.db import get_engine
from mapper.domain.errors import FieldProblem, NotFound, ValidationFailed
from mapper.services import alerts, explain, scoring
from mapper.web import access
from mapper.web.auth import current_role
from mapper.web.ogc import layer_view

bp = Blueprint("scores", __name__, url_prefix="/api")


@bp.get("/scores/<collection>/<int:subject_id>")
@access.public
def explain_score(collection: str, subject_id: int):
    """How the score of a report (or of a hot spot cell / area) was computed, in JSON and plain words."""
    return jsonify(explain.explain(get_engine(), layer_view(collection), subject_id))


@bp.get("/scores/<layer_id>")
@access.public
def layer_scores(layer_id: str):
    """The newest results of every score of a layer, computed from reports the caller may all see. Health
    centres are ranked by Bayesian average and can be filtered by a service
    (``?service=sexual_reproductive_health``)."""
    view = layer_view(layer_id)
    layer = view.layer
    methods = (["hotspots"] if layer.hotspots else []) + list(layer.scores)
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
    return jsonify({"layer": layer_id, "scores": out})


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
    layer = current_app.extensions["mapper.registry"].report_layer(alerts.LAYER)
    result = alerts.decide_alert(get_engine(), layer, report_id, body.get("decision"), body.get("note"), current_role())
    return jsonify(result)
