"""Accounting for staff looks at private data: every view of a reporter's contact details or of an exact
sensitive location is recorded (who, when, which report, through which route) before it is shown."""

from __future__ import annotations

from sqlalchemy import Engine

from mapper.store import access_log as store
from mapper.store.access_log import CONTACT, EXACT_LOCATION

__all__ = ["CONTACT", "EXACT_LOCATION", "record_view"]


def record_view(
    engine: Engine,
    *,
    actor: str,
    role: str | None,
    layer: str,
    what: str,
    route: str,
    report_id: int | None = None,
) -> None:
    """Record that ``actor`` (``user:3``, ``token:…``) acting as ``role`` saw ``what`` (``CONTACT`` or
    ``EXACT_LOCATION``) of ``report_id`` (None: many reports at once) of ``layer`` through ``route``."""
    with engine.begin() as conn:
        store.record(conn, actor=actor, role=role, layer=layer, what=what, route=route, report_id=report_id)
