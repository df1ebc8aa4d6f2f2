"""The access log (``access_log``): staff views of reporters' contact details and of exact sensitive locations.
Append-only (the database refuses updates and deletes)."""

from __future__ import annotations

from sqlalchemy import Connection

CONTACT, EXACT_LOCATION = "contact", "exact_location"  # what was seen


def record(
    conn: Connection, *, actor: str, role: str | None, layer: str, what: str, route: str, report_id: int | None
) -> None:
    """One view: of one report (``report_id``), or of many at once (None: a feed page, a tile, an export)."""
    conn.exec_driver_sql(
        "INSERT INTO access_log (actor, actor_role, report_id, layer, what, route) "
        "VALUES (%(a)s, %(r)s, %(i)s, %(l)s, %(w)s, %(route)s)",
        {"a": actor, "r": role, "i": report_id, "l": layer, "w": what, "route": route},
    )
