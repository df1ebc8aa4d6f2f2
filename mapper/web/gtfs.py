"""GTFS feeds over HTTP: staff upload a zip (validated and imported atomically); anyone lists the feeds."""

from __future__ import annotations

import os
import shutil
import tempfile

from flask import Blueprint, current_app, jsonify, request

from mapper.db import get_engine
from mapper.domain.errors import FieldProblem, ValidationFailed
from mapper.services import gtfs_import, scoring
from mapper.web import access
from mapper.web.bodies import copy_body
from mapper.web.problems import problem

bp = Blueprint("gtfs", __name__, url_prefix="/api/gtfs")


@bp.get("/feeds")
@access.public
def list_feeds():
    """Imported feeds with counts, service dates and their stored warnings."""
    return jsonify({"feeds": gtfs_import.feeds(get_engine())})


@bp.post("/feeds")
@access.permission("upload_gtfs")
def upload_feed():
    """Upload a GTFS zip as the request body (``?name=`` names the feed; the same name replaces it)."""
    name = request.args.get("name")
    if not name:
        raise ValidationFailed("A feed name is required.", [FieldProblem("name", "is required")])
    work = tempfile.mkdtemp(prefix="mapper-gtfs-")
    try:
        path = os.path.join(work, "feed.zip")
        with open(path, "wb") as f:  # streamed to disk; 413 as soon as it passes MAX_UPLOAD_BYTES
            copy_body(f, int(current_app.config["MAX_UPLOAD_BYTES"]))
        try:
            report = gtfs_import.import_feed(get_engine(), path, name)
        except gtfs_import.GtfsInvalid as e:
            return problem(422, e.title, e.detail, e.problems, report=e.report.as_json())
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for layer in current_app.extensions["mapper.registry"]:
        if "transit_access" in layer.scores:
            scoring.score_layer(get_engine(), layer)
    return jsonify(report.as_json()), 201
