"""The access log (``access_log``): staff views of reporters' contact details and of exact sensitive locations.
Append-only (the database refuses updates and deletes)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import Connection

CONTACT, EXACT_LOCATION = "contact", "exact_location"  # what was seen


def record(
    conn: Connection, *, actor: str, role: str | None, layer: str, what: str, route: str, report_id: int | None
) -> None:
    """One view: of one report (``report_id``), or of many at once (None: a feed page, a tile, an export)."""
    record_all(conn, actor=actor, role=role, layer=layer, whats=(what,), route=route, report_id=report_id)


def record_all(
    conn: Connection,
    *,
    actor: str,
    role: str | None,
    layer: str,
    whats: tuple[str, ...],
    route: str,
    report_id: int | None,
) -> None:
    """One request's views, one row per kind of data seen (``whats``), in one INSERT."""
    conn.exec_driver_sql(
        "INSERT INTO access_log (actor, actor_role, report_id, layer, what, route) "
        "SELECT %(a)s, %(r)s, %(i)s, %(l)s, w, %(route)s FROM unnest(%(w)s::text[]) AS w",
        {"a": actor, "r": role, "i": report_id, "l": layer, "w": list(whats), "route": route},
    )


@dataclass(frozen=True)
class LogFilter:
    """Which entries to read: by actor (``user:3``, ``token:…`` or a staff e-mail), report, layer, and days
    (``since``/``until``, both included, UTC)."""

    actor: str | None = None
    report_id: int | None = None
    layer: str | None = None
    since: date | None = None
    until: date | None = None


def entries(conn: Connection, f: LogFilter, *, limit: int, offset: int = 0) -> list[dict]:
    """Entries matching ``f``, newest first (``limit`` from ``offset``), each with the staff member's e-mail
    when the actor is a signed-in account."""
    rows = conn.exec_driver_sql(
        "SELECT a.id, a.at, a.actor, a.actor_role, s.email, a.report_id, a.layer, a.what, a.route "
        "FROM access_log a LEFT JOIN staff_users s ON a.actor = 'user:' || s.id "
        "WHERE (CAST(%(actor)s AS text) IS NULL OR a.actor = %(actor)s OR lower(s.email) = lower(%(actor)s)) "
        "AND (CAST(%(report)s AS bigint) IS NULL OR a.report_id = %(report)s) "
        "AND (CAST(%(layer)s AS text) IS NULL OR a.layer = %(layer)s) "
        "AND (CAST(%(since)s AS timestamptz) IS NULL OR a.at >= %(since)s) "
        "AND (CAST(%(until)s AS timestamptz) IS NULL OR a.at < %(until)s) "
        "ORDER BY a.at DESC, a.id DESC LIMIT %(limit)s OFFSET %(offset)s",
        {
            "actor": f.actor,
            "report": f.report_id,
            "layer": f.layer,
            "since": f"{f.since.isoformat()}T00:00:00Z" if f.since else None,
            "until": f"{(f.until + timedelta(days=1)).isoformat()}T00:00:00Z" if f.until else None,
            "limit": int(limit),
            "offset": int(offset),
        },
    )
    return [dict(r) for r in rows.mappings()]
