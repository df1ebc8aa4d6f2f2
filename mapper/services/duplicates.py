"""Duplicate reports: suggestions near a report (FixMyStreet's "nearby" rule, per layer: the same layer, the
same category where the layer has one, within ``[duplicates] distance_m`` and ``days``), and merging one into
another: the duplicate becomes ``rejected`` with the reason ``duplicate`` (a lifecycle transition, with its
checks) and points at the report it duplicates (``reports.duplicate_of``), in one transaction."""

from __future__ import annotations

from sqlalchemy import Connection, Engine

from mapper.domain import lifecycle as states
from mapper.domain.errors import Conflict, FieldProblem, NotFound, ValidationFailed
from mapper.domain.layers import Registry
from mapper.domain.privacy import view_for
from mapper.services import lifecycle
from mapper.store import queue as store
from mapper.store import reports as repository

CATEGORY = "category"  # the field that must match, where the layer has one
LIMIT = 10
NOT_SUGGESTED = (states.REJECTED, states.HIDDEN)


def suggestions(engine: Engine, registry: Registry, report_id: int, role: str | None) -> dict:
    """The reports that may be the same problem as ``report_id``, nearest first (at most ``LIMIT``); distances
    only for callers who see the layer's exact locations (elsewhere they would tell more than the map does)."""
    with engine.connect() as conn:
        row = repository.report_row(conn, report_id)
        layer = registry.report_layer(row["layer"]) if row else None
        if layer is None or not lifecycle.may_handle(role, layer):
            raise NotFound(f"No report {report_id}.")
        same = CATEGORY if layer.field(CATEGORY) is not None else None
        found = store.duplicate_candidates(
            conn,
            report_id,
            distance_m=layer.duplicate_distance_m,
            days=layer.duplicate_days,
            same=same,
            excluded=NOT_SUGGESTED,
            limit=LIMIT,
        )
    view = view_for(layer, role)
    names = [f.name for f in view.fields if f.public]
    return {
        "id": report_id,
        "layer": layer.id,
        "distance_m": layer.duplicate_distance_m,
        "days": layer.duplicate_days,
        "same": same,
        "suggestions": [
            {
                "id": c["id"],
                "status": c["status"],
                "observed_at": c["observed_at"].isoformat(),
                "created_at": c["created_at"].isoformat(),
                "properties": {n: c["properties"].get(n) for n in names},
                **({"distance_m": round(c["distance_m"], 1)} if view.exact else {}),
            }
            for c in found
        ],
    }


def _target(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationFailed("Name the report to merge into.", [FieldProblem("into", "must be a report id")])
    return value


def merge(
    engine: Engine, registry: Registry, report_id: int, into_id, actor: lifecycle.Actor, comment: str | None = None
) -> dict:
    """Merge ``report_id`` into ``into_id``: rejected as a duplicate (``comment`` public) and linked to it.
    Refusals: 404/403 as a transition; 409 when the lifecycle forbids it (a final report), or when the target is
    rejected or hidden, merged itself (its chain is named) or leads back here; 422 for another layer's report."""
    into_id = _target(into_id)
    if into_id == report_id:
        raise ValidationFailed("A report cannot duplicate itself.", [FieldProblem("into", "must be another report")])

    def link(conn: Connection, row: dict) -> None:
        target = repository.report_row(conn, into_id)
        if target is None or target["layer"] != row["layer"]:
            raise ValidationFailed(
                "A duplicate is merged into a report of its own layer.",
                [FieldProblem("into", f"no report {into_id} in layer {row['layer']}")],
            )
        if target["status"] in NOT_SUGGESTED:
            raise Conflict(
                f"Report {into_id} is {target['status']}: merge into a report that stands.",
                [FieldProblem("into", f"is {target['status']}")],
            )
        chain = store.duplicate_chain(conn, into_id)
        if report_id in chain or target["duplicate_of"] is not None:
            where = f"merge into {chain[-1]} instead" if chain and report_id not in chain else "it leads back here"
            raise Conflict(
                f"Report {into_id} is itself a duplicate: {where}.",
                [FieldProblem("into", f"is a duplicate of {target['duplicate_of']}")],
            )
        store.set_duplicate_of(conn, report_id, into_id)

    body = {"to": states.REJECTED, "reason": "duplicate", "comment": comment}
    done = lifecycle.transition(engine, registry, report_id, body, actor, then=link)
    return {**done, "duplicate_of": into_id}
