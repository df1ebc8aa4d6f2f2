"""The reporter's side of a report, through its tracking token: what they sent, where it stands, every public
comment, and their word once it is resolved (confirm, or dispute — which reopens it and is shown to staff).

Never internal notes nor who on the staff wrote what. A duplicate merged into another report follows that one:
its page shows the report it was merged into, with that report's status and public comments.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine

from mapper.domain import lifecycle
from mapper.domain.errors import Conflict, FieldProblem, NotFound, ValidationFailed
from mapper.domain.layers import Registry
from mapper.services import lifecycle as lifecycle_service
from mapper.services.photos import Served
from mapper.services.tokens import digest as token_digest
from mapper.store import photos as photo_store
from mapper.store import reports as repository

REPORTER = lifecycle_service.Actor("reporter", None)  # who the history names for the reporter's own move
COMMENT_MAX = 2000


def _history(conn: Connection, report_id: int) -> list[dict]:
    return [
        {"status": h["status"], "note": h["note"], "at": h["changed_at"].isoformat()}
        for h in repository.history(conn, report_id)
    ]


def _unknown() -> NotFound:
    return NotFound("No report has this tracking token.", [FieldProblem("tracking_token", "unknown")])


def report_status(engine: Engine, registry: Registry, token: str) -> dict:
    """What a citizen holding ``token`` may know about their report: what they sent (every field of theirs and
    the location), its status, its public history, whether they may confirm or dispute it, and the report it was
    merged into, if any."""
    with engine.connect() as conn:
        report = repository.report_by_tracking_hash(conn, token_digest(token))
        if report is None:
            raise _unknown()
        layer = registry.report_layer(report["layer"])
        sent = {**report["properties"], **report["private"]}
        doc = {
            "id": report["id"],
            "layer": report["layer"],
            "status": report["status"],
            "created_at": report["created_at"].isoformat(),
            "updated_at": report["updated_at"].isoformat(),
            "report": {
                "geometry": report["geometry"],
                "properties": {f.name: sent.get(f.name) for f in layer.fields} if layer else sent,
            },
            "history": _history(conn, report["id"]),
            "photos": [p["position"] for p in photo_store.list_for_report(conn, report["id"], include_hidden=True)],
            "feedback": [
                {"verdict": f["verdict"], "at": f["given_at"].isoformat()}
                for f in repository.reporter_feedback(conn, report["id"])
            ],
            "may_give_feedback": _awaits_feedback(conn, report),
            "duplicate_of": None,
        }
        if report["duplicate_of"] is not None:
            target = repository.report_row(conn, report["duplicate_of"])
            if target is not None:
                doc["duplicate_of"] = {
                    "id": target["id"],
                    "status": target["status"],
                    "history": _history(conn, target["id"]),
                }
    return doc


def reporter_photo(engine: Engine, token: str, position: int, *, thumbnail: bool = False) -> Served:
    """One of the photos the holder of ``token`` sent with their report (whatever the report's or the photo's
    visibility: they are theirs), or NotFound."""
    with engine.connect() as conn:
        report = repository.report_by_tracking_hash(conn, token_digest(token))
        row = photo_store.photo_with_report(conn, report["id"], position, thumbnail=thumbnail) if report else None
    if row is None:
        raise NotFound("There is no such photo.", [FieldProblem("position", "no such photo")])
    return Served.of(row)


def _awaits_feedback(conn: Connection, report: dict) -> bool:
    """Resolved, and the reporter has not yet given their word on this resolution."""
    return report["status"] == lifecycle.RESOLVED and not repository.feedback_since_resolved(conn, report["id"])


def give_feedback(engine: Engine, registry: Registry, token: str, body: dict) -> dict:
    """The reporter's ``verdict`` (``confirmed`` or ``disputed``) on their resolved report, with an optional
    ``comment`` (for staff: it goes in the history as an internal note). A dispute reopens the report (a
    lifecycle transition by the reporter, rescored like any other). 409 unless the report is resolved and not
    yet answered; 422 on the body."""
    if not isinstance(body, dict):
        raise ValidationFailed("The body must be a JSON object.", [FieldProblem("body", "must be an object")])
    unknown = sorted(set(body) - {"verdict", "comment"})
    if unknown:
        raise ValidationFailed("Unknown members.", [FieldProblem(k, "is not a member of feedback") for k in unknown])
    verdict = body.get("verdict")
    if verdict not in lifecycle.VERDICTS:
        raise ValidationFailed(
            "Say whether the problem is solved.",
            [FieldProblem("verdict", f"must be one of: {', '.join(lifecycle.VERDICTS)}")],
        )
    comment = body.get("comment")
    if comment is not None and (not isinstance(comment, str) or len(comment) > COMMENT_MAX):
        raise ValidationFailed(
            "The comment is not valid.", [FieldProblem("comment", f"text of at most {COMMENT_MAX} characters")]
        )
    comment = (comment or "").strip() or None
    with engine.begin() as conn:
        report = repository.report_by_tracking_hash(conn, token_digest(token), lock=True)
        if report is None:
            raise _unknown()
        if not _awaits_feedback(conn, report):
            raise Conflict(
                "Only a resolved report you have not answered yet can be confirmed or disputed.",
                [FieldProblem("verdict", f"the report is {report['status']}")],
            )
        repository.add_reporter_feedback(conn, report["id"], verdict, comment)
        reopen = lifecycle.VERDICTS[verdict]
        layer = registry.report_layer(report["layer"])
        if reopen is not None and layer is not None:
            note = f"Disputed by the reporter: {comment}" if comment else "Disputed by the reporter."
            lifecycle_service.apply(conn, report, layer, reopen, note=note, actor=REPORTER)
    return {"id": report["id"], "verdict": verdict, "status": reopen or report["status"]}
