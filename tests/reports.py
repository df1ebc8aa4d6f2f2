"""Reports made public the way staff do it: layers that moderate before publishing (crime, health_centres)
publish a report once it is verified."""

from __future__ import annotations

import functools
from pathlib import Path

from mapper.domain.layers import load_registry
from mapper.domain.lifecycle import VERIFIED
from mapper.services import lifecycle

PROJECT_ROOT = Path(__file__).resolve().parents[1]
MODERATOR = lifecycle.Actor("user:test-moderator", "moderator")


def verify(engine, registry, *report_ids: int) -> None:
    """Verify ``report_ids`` as a moderator (through the lifecycle, as the staff queue does)."""
    for report_id in report_ids:
        lifecycle.transition(engine, registry, int(report_id), {"to": VERIFIED}, MODERATOR)


def publish(app, *report_ids: int) -> None:
    """``verify`` with ``app``'s database and layers."""
    verify(app.extensions["mapper.engine"], app.extensions["mapper.registry"], *report_ids)


@functools.cache
def shipped_layers():
    """The layers the project ships (what the test servers load)."""
    return load_registry(PROJECT_ROOT / "layers")


def published(engine, report_id: int) -> int:
    """``report_id`` verified (see ``verify``) with the shipped layers; the id, for building lists."""
    verify(engine, shipped_layers(), report_id)
    return report_id
