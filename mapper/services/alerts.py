"""The water emergency mailbox: a citizen's alert stays "alert — unverified" until utility staff decide."""

from __future__ import annotations

from sqlalchemy import Engine

from mapper.domain import lifecycle as states
from mapper.domain.errors import FieldProblem, NotFound, ValidationFailed
from mapper.domain.layers import Registry
from mapper.domain.score_methods import METHODS, field_name
from mapper.services import lifecycle

# An alert verified, or dismissed (closed: nothing for the utility to do), through the report's lifecycle.
DECISIONS = {"verify": {"to": states.VERIFIED}, "dismiss": {"to": states.CLOSED, "reason": "no_action_needed"}}
LAYER = "water_quality"  # the layer whose reports raise alerts; its [access] decide_alerts says who decides
ALERT_FIELD = field_name(METHODS["water_quality"].reading("alert"))  # the field raising one, as the score reads it


def is_alert(row: dict) -> bool:
    """Whether a report's row raises a water alert."""
    return row["layer"] == LAYER and bool(row["properties"].get(ALERT_FIELD))


def decide_alert(
    engine: Engine, registry: Registry, report_id: int, decision: str, note: str | None, actor: lifecycle.Actor
) -> dict:
    """Verify or dismiss the alert raised by a water-quality report: a transition of its lifecycle (history,
    rescoring, in one transaction); ``note`` is the staff's internal note. Who may (``decide_alerts`` on the
    layer) is checked by the route (``web.access``)."""
    if not isinstance(decision, str) or decision not in DECISIONS:
        raise ValidationFailed("Unknown decision.", [FieldProblem("decision", "must be verify or dismiss")])
    try:
        done = lifecycle.transition(
            engine, registry, report_id, {**DECISIONS[decision], "note": note}, actor, require=is_alert
        )
    except NotFound:
        raise NotFound(f"Report {report_id} is not a water-quality alert.") from None
    return {"id": report_id, "status": done["status"], "decision": decision}
