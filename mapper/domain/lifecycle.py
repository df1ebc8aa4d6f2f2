"""A report's lifecycle: its statuses, the transitions between them and the reasons some of them need.

``submitted`` → ``verified`` or ``rejected`` (with a reason) → ``in_progress`` → ``resolved`` or ``closed`` (no
action, with a reason; a report may also be closed unverified, as a dismissed water alert is); ``reopened`` from
``resolved`` or ``closed`` (and worked on again from there); ``hidden`` by a moderator from any status.
Per layer, ``moderation`` says when a report is published: ``after`` (at once; moderators may still reject or
hide it) or ``before`` (only once verified: until then it is absent from every public output, and it cannot be
closed unverified, so "unpublished" is exactly "submitted" there — ``publicly_hidden``).
``check_transition`` is the one rule every writer of a status goes through; it refuses an illegal transition
naming the allowed ones. No Flask, no SQL.
"""

from __future__ import annotations

from mapper.domain.errors import Conflict, FieldProblem, ValidationFailed

SUBMITTED, VERIFIED, REJECTED, IN_PROGRESS = "submitted", "verified", "rejected", "in_progress"
RESOLVED, CLOSED, REOPENED, HIDDEN = "resolved", "closed", "reopened", "hidden"
STATUSES = (SUBMITTED, VERIFIED, REJECTED, IN_PROGRESS, RESOLVED, CLOSED, REOPENED, HIDDEN)

# Where each status may go (hidden is reached from every status, by moderators: ``HIDING``).
TRANSITIONS: dict[str, tuple[str, ...]] = {
    SUBMITTED: (VERIFIED, REJECTED, CLOSED),
    VERIFIED: (IN_PROGRESS, RESOLVED, CLOSED, REJECTED),
    IN_PROGRESS: (RESOLVED, CLOSED),
    RESOLVED: (REOPENED,),
    CLOSED: (REOPENED,),
    REOPENED: (IN_PROGRESS, RESOLVED, CLOSED),
    REJECTED: (),
    HIDDEN: (),
}
HIDING = HIDDEN

# The reasons a transition to these statuses must give (and no other status takes one).
REASONS: dict[str, tuple[str, ...]] = {
    REJECTED: ("duplicate", "spam", "out_of_area", "not_ours", "abusive"),
    CLOSED: ("no_action_needed", "duplicate", "not_ours", "cannot_locate"),
}

# Open (the team has something to do) and done, for Open311's open/closed and the staff queue.
OPEN = (SUBMITTED, VERIFIED, IN_PROGRESS, REOPENED)
DONE = (RESOLVED, CLOSED, REJECTED, HIDDEN)

# Reports in these statuses are absent from every public output, counts included.
# ("suppressed" marks derived cells too small to publish.)
PUBLIC_HIDDEN_STATUSES = (HIDDEN, REJECTED, "suppressed")

MODERATIONS = ("after", "before")  # a layer's ``moderation``: published at once, or once verified


def publicly_hidden(moderation: str) -> tuple[str, ...]:
    """The statuses absent from public outputs in a layer of this ``moderation`` (unpublished ones included)."""
    return PUBLIC_HIDDEN_STATUSES + ((SUBMITTED,) if moderation == "before" else ())


def imported_status(moderation: str, publish: bool = True) -> str:
    """The status of reports loaded by staff (a bulk import, the demo): published as imported (``verified`` where
    the layer moderates before publishing) unless the import asks to leave them for moderation."""
    if moderation == "before" and publish:
        return VERIFIED
    if not publish and moderation != "before":
        raise ValidationFailed(
            "This layer publishes reports at once: there is nothing to leave for moderation.",
            [FieldProblem("publish", 'only layers with moderation = "before" hold unpublished reports')],
        )
    return SUBMITTED


def allowed(current: str, moderation: str = "after") -> tuple[str, ...]:
    """The statuses a report in ``current`` may go to (hiding included), in a layer of this ``moderation``."""
    options = TRANSITIONS[current]
    if moderation == "before" and current == SUBMITTED:
        options = tuple(s for s in options if s != CLOSED)  # published only through verification
    return options + ((HIDING,) if current != HIDDEN else ())


# The reporter's word on a resolved report (through the tracking token): confirming keeps it resolved,
# disputing reopens it.
VERDICTS = {"confirmed": None, "disputed": REOPENED}


def check_transition(current: str, to: str, reason: str | None = None, moderation: str = "after") -> None:
    """Refuse a transition that the lifecycle does not allow (Conflict, naming the allowed statuses) or whose
    reason is missing, unknown, or not asked for (ValidationFailed, on ``reason``)."""
    if to not in STATUSES:
        raise ValidationFailed(
            f"Unknown status {to!r}.", [FieldProblem("to", f"must be one of: {', '.join(STATUSES)}")]
        )
    options = allowed(current, moderation)
    if to not in options:
        where = ", ".join(options) if options else "nothing: it is final"
        raise Conflict(
            f"A report that is {current} cannot become {to}.", [FieldProblem("to", f"allowed from {current}: {where}")]
        )
    reasons = REASONS.get(to, ())
    if reasons and reason not in reasons:
        raise ValidationFailed(
            f"Becoming {to} needs a reason.", [FieldProblem("reason", f"must be one of: {', '.join(reasons)}")]
        )
    if not reasons and reason:
        raise ValidationFailed(f"Becoming {to} takes no reason.", [FieldProblem("reason", "must be left out")])
