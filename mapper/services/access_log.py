"""Accounting for staff looks at private data: every view of a reporter's contact details or of an exact
sensitive location is recorded (who, when, which report, through which route) before it is shown; admins read
the log (``/staff/access-log``, ``mapper audit``)."""

from __future__ import annotations

import re
from datetime import date

from sqlalchemy import Engine

from mapper.domain.errors import BadRequest, FieldProblem
from mapper.domain.privacy import View
from mapper.store import access_log as store
from mapper.store.access_log import CONTACT, EXACT_LOCATION, LogFilter

__all__ = ["CONTACT", "EXACT_LOCATION", "LogFilter", "parse_filter", "read_log", "record_reads", "record_view"]
PAGE_SIZE = 50
ID = re.compile(r"[0-9]{1,18}")


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


def seen_through(view: View, with_fields: bool) -> tuple[str, ...]:
    """What a read through ``view`` shows that the log must record: the exact locations of a sensitive layer,
    and (when the response carries the view's fields) the private ones, the reporter's contact among them.
    Nothing for the public view, whose fields and locations are public."""
    if not view.exact:
        return ()
    seen = (EXACT_LOCATION,) if view.layer.precision_m > 0 else ()
    if with_fields and any(not f.public for f in view.fields):
        seen += (CONTACT,)
    return seen


def record_reads(
    engine: Engine, *, actor: str, role: str | None, view: View, with_fields: bool, route: str, report_id=None
) -> bool:
    """Record one request's read through ``view`` (one INSERT, a row per kind of data seen); whether anything
    needed recording."""
    whats = seen_through(view, with_fields)
    if whats:
        with engine.begin() as conn:
            store.record_all(
                conn, actor=actor, role=role, layer=view.layer.id, whats=whats, route=route, report_id=report_id
            )
    return bool(whats)


def _day(raw: str | None, name: str) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise BadRequest(f"Invalid {name}.", [FieldProblem(name, "must be a date, YYYY-MM-DD")]) from None


def parse_filter(args) -> LogFilter:
    """A ``LogFilter`` from query text (``actor``, ``report``, ``layer``, ``since``, ``until``); empty values
    filter nothing; every problem at once."""
    problems = []
    report = (args.get("report") or "").strip()
    if report and not ID.fullmatch(report):
        problems.append(FieldProblem("report", "must be a report id (whole number)"))
    days = {}
    for name in ("since", "until"):
        try:
            days[name] = _day((args.get(name) or "").strip(), name)
        except BadRequest as e:
            problems += e.problems
    if problems:
        raise BadRequest("Invalid access log filter.", problems)
    return LogFilter(
        actor=(args.get("actor") or "").strip() or None,
        report_id=int(report) if report else None,
        layer=(args.get("layer") or "").strip() or None,
        **days,
    )


def read_log(engine: Engine, f: LogFilter, *, page: int = 1, size: int = PAGE_SIZE) -> tuple[list[dict], bool]:
    """Page ``page`` (from 1) of the entries matching ``f``, newest first, and whether more follow."""
    with engine.connect() as conn:
        rows = store.entries(conn, f, limit=size + 1, offset=(max(page, 1) - 1) * size)
    return rows[:size], len(rows) > size
