"""Report photos after intake: who may see one (the report's visibility, the photo's own hiding), and moderators
hiding one photo without hiding its report.

Anonymous callers see a photo when its report is publicly visible (its status is not one of
``lifecycle.publicly_hidden`` for its layer) and the photo is not hidden; staff who may handle the report
(``services.lifecycle.may_handle``) see all of its photos, hidden ones too. Everyone else is told there is no
such photo (404, never 403: a refusal would reveal that it exists).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from mapper.domain import lifecycle as states
from mapper.domain import policy
from mapper.domain.errors import FieldProblem, Forbidden, NotFound
from mapper.domain.layers import Registry
from mapper.services.lifecycle import Actor, may_handle
from mapper.store import photos as store


@dataclass(frozen=True)
class Served:
    data: bytes
    content_type: str
    sha256: bytes
    created_at: datetime

    @classmethod
    def of(cls, row: dict) -> Served:
        """A photo row (``store.photos.photo_with_report``) as served."""
        return cls(bytes(row["data"]), row["content_type"], bytes(row["sha256"]), row["created_at"])


def _missing(report_id: int, position: int) -> NotFound:
    return NotFound(f"Report {report_id} has no photo {position}.", [FieldProblem("position", "no such photo")])


def photo(
    engine: Engine, registry: Registry, report_id: int, position: int, role: str | None, *, thumbnail: bool = False
) -> Served:
    """A photo (or its thumbnail) for a caller with ``role`` (None = anonymous), or NotFound."""
    with engine.connect() as conn:
        row = store.photo_with_report(conn, report_id, position, thumbnail=thumbnail)
    layer = registry.report_layer(row["layer"]) if row else None
    if layer is None:
        raise _missing(report_id, position)
    public = row["status"] not in states.publicly_hidden(layer.moderation) and row["hidden_at"] is None
    if not public and not may_handle(role, layer):
        raise _missing(report_id, position)
    return Served.of(row)


def may_hide(role: str | None) -> bool:
    """Moderators (and admin) hide and show photos of any layer's reports."""
    return policy.may(role, "moderate")


def set_hidden(engine: Engine, report_id: int, position: int, actor: Actor, hidden: bool) -> dict:
    """Hide one photo (recording who did, and when) or show it again; its report is left as it is."""
    if not may_hide(actor.role):
        raise Forbidden("Only moderators hide photos.", [FieldProblem("Authorization", "needs the moderator role")])
    with engine.begin() as conn:
        row = store.set_hidden(conn, report_id, position, (actor.id or actor.role) if hidden else None)
    if row is None:
        raise _missing(report_id, position)
    at = row["hidden_at"]
    return {"report": report_id, "position": position, "hidden": at is not None, "hidden_at": at and at.isoformat()}
