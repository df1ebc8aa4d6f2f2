"""The water emergency mailbox: a citizen's alert stays "alert — unverified" until utility staff decide."""

from __future__ import annotations

from sqlalchemy import Engine

from mapper import db
from mapper.domain.errors import FieldProblem, NotFound, ValidationFailed
from mapper.domain.layers import Layer
from mapper.domain.score_methods import METHODS, field_name
from mapper.services import scoring
from mapper.store import reports as repository

DECISIONS = {"verify": "acknowledged", "dismiss": "closed"}
LAYER = "water_quality"  # the layer whose reports raise alerts; its [access] decide_alerts says who decides
ALERT_FIELD = field_name(METHODS["water_quality"].reading("alert"))  # the field raising one, as the score reads it


def decide_alert(engine: Engine, layer: Layer, report_id: int, decision: str, note: str | None, role: str) -> dict:
    """Verify or dismiss the alert raised by a water-quality report (of ``layer``, ``LAYER``'s definition); the
    decision is kept in its history and the layer rescored in the same transaction.
    Who may (``decide_alerts`` on the layer) is checked by the route (``web.access``); ``role`` signs the
    history entry."""
    if not isinstance(decision, str) or decision not in DECISIONS:
        raise ValidationFailed("Unknown decision.", [FieldProblem("decision", "must be verify or dismiss")])
    with engine.begin() as conn:
        row = repository.report_row(conn, report_id)
        if row is None or row["layer"] != LAYER or not row["properties"].get(ALERT_FIELD):
            raise NotFound(f"Report {report_id} is not a water-quality alert.")
        status = DECISIONS[decision]
        note = note if isinstance(note, str) and note.strip() else f"alert {decision}ed"
        repository.set_status(conn, report_id, status, note[:2000], f"staff:{role}")
        with db.cursor_in(conn) as cur:
            scoring.after_change(cur, layer)
    return {"id": report_id, "status": status, "decision": decision}
