"""Moving a report through its lifecycle (``domain.lifecycle``): who may, the transition itself with its history
entry, and the report's history for staff.

A transition locks the report's row, checks the lifecycle and the caller's right, writes the new status and the
history entry, queues the reporter's e-mail (``notifications``), and rescores the layer (``scoring.after_change``)
in one transaction: it all happens or none of it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, Engine

from mapper import db
from mapper.domain import lifecycle, policy
from mapper.domain.errors import FieldProblem, Forbidden, NotFound, ValidationFailed
from mapper.domain.layers import Layer, Registry
from mapper.services import notifications, scoring
from mapper.store import reports as repository

TEXT_MAX = 2000  # characters of a comment or a note


@dataclass(frozen=True)
class Actor:
    """Who acts: ``id`` as the history records it (``user:3``, ``token:7``), and the role acting."""

    id: str
    role: str | None


def may_move(role: str | None, layer: Layer, to: str) -> bool:
    """Whether ``role`` may move ``layer``'s reports to ``to``: moderators verify, reject and hide any layer's;
    the roles the layer's ``[access] act_on_reports`` names (and admin) do everything but hide."""
    if policy.may(role, "moderate") and to in (lifecycle.VERIFIED, lifecycle.REJECTED, lifecycle.HIDDEN):
        return True
    return to != lifecycle.HIDDEN and policy.may(role, "act_on_reports", layer)


def may_handle(role: str | None, layer: Layer) -> bool:
    """Whether ``role`` may see a ``layer`` report's staff side (history, internal notes): those who act on the
    layer's reports, see its exact locations, or moderate."""
    return policy.may(role, "act_on_reports", layer) or policy.sees_exact(layer, role) or policy.may(role, "moderate")


def _text(value, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationFailed(f"{name} must be text.", [FieldProblem(name, "must be a string")])
    value = value.strip()
    if len(value) > TEXT_MAX:
        raise ValidationFailed(f"{name} is too long.", [FieldProblem(name, f"at most {TEXT_MAX} characters")])
    return value or None


def transition(
    engine: Engine,
    registry: Registry,
    report_id: int,
    body: dict,
    actor: Actor,
    require: Callable[[dict], bool] | None = None,
    then: Callable[[Connection, dict], None] | None = None,
) -> dict:
    """Apply ``body`` (``to``, and optional ``comment`` — public —, ``note`` — internal —, ``reason``) to a
    report, as ``actor``; ``require`` (the locked row → bool) narrows which reports qualify (404 otherwise);
    ``then`` (the connection, the locked row) does more in the same transaction once the transition is written
    (a merge links the duplicate), and may still refuse, undoing it all.
    Refusals: 404 (no such report, or one the actor may not handle), 403, 409 (the lifecycle), 422 (the body)."""
    if not isinstance(body, dict):
        raise ValidationFailed("The body must be a JSON object.", [FieldProblem("body", "must be an object")])
    unknown = sorted(set(body) - {"to", "comment", "note", "reason"})
    if unknown:
        raise ValidationFailed(
            "Unknown members.", [FieldProblem(k, "is not a member of a transition") for k in unknown]
        )
    to = body.get("to")
    if not isinstance(to, str):
        raise ValidationFailed("Name the status to go to.", [FieldProblem("to", "must be a status")])
    comment, note = _text(body.get("comment"), "comment"), _text(body.get("note"), "note")
    reason = body.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise ValidationFailed("reason must be text.", [FieldProblem("reason", "must be a string")])
    with engine.begin() as conn:
        row = repository.report_for_update(conn, report_id)
        layer = registry.report_layer(row["layer"]) if row else None
        if layer is None or (require is not None and not require(row)):
            raise NotFound(f"No report {report_id}.")
        if not may_move(actor.role, layer, to):
            if not may_handle(actor.role, layer):
                raise NotFound(f"No report {report_id}.")
            raise Forbidden(f"Your role may not make a {layer.id} report {to}.")
        entry = apply(conn, row, layer, to, reason=reason, comment=comment, note=note, actor=actor)
        if then is not None:
            then(conn, row)
    return {"id": report_id, "status": to, "from": row["status"], "at": entry["changed_at"].isoformat()}


def apply(
    conn: Connection, row: dict, layer: Layer, to: str, *, actor: Actor, reason=None, comment=None, note=None
) -> dict:
    """A transition of the locked report ``row`` in the caller's transaction, once the caller checked who may:
    the lifecycle's check, the history entry, the reporter's message queued (for the worker: SMTP is never
    waited on), the layer rescored. The history entry (id, time)."""
    lifecycle.check_transition(row["status"], to, reason, layer.moderation)
    entry = repository.record_transition(
        conn, row["id"], row["status"], to, reason=reason, comment=comment, note=note, actor=actor.id, role=actor.role
    )
    notifications.status_changed(conn, row, entry["id"])
    with db.cursor_in(conn) as cur:
        scoring.after_change(cur, layer, [row["id"]])
    return entry


def history(engine: Engine, registry: Registry, report_id: int, role: str | None) -> dict:
    """Every entry of a report's history with its internal notes, for staff who may act on or see the report."""
    with engine.connect() as conn:
        row = repository.report_row(conn, report_id)
        layer = registry.report_layer(row["layer"]) if row else None
        if layer is None or not may_handle(role, layer):
            raise NotFound(f"No report {report_id}.")
        entries = repository.history(conn, report_id)
        feedback = repository.reporter_feedback(conn, report_id)
    return {
        "id": report_id,
        "layer": layer.id,
        "status": row["status"],
        "allowed": [s for s in lifecycle.allowed(row["status"], layer.moderation) if may_move(role, layer, s)],
        "history": [
            {
                "at": e["changed_at"].isoformat(),
                "from": e["from_status"],
                "to": e["status"],
                "reason": e["reason"],
                "comment": e["note"],
                "note": e["internal_note"],
                "by": e["changed_by"],
                "role": e["actor_role"],
            }
            for e in entries
        ],
        "reporter_feedback": [
            {"verdict": f["verdict"], "comment": f["comment"], "at": f["given_at"].isoformat()} for f in feedback
        ],
    }
