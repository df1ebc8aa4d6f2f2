"""Report photos (``report_photos``): re-encoded images and their thumbnails, up to three per report."""

from __future__ import annotations

from sqlalchemy import Connection


def list_for_report(conn: Connection, report_id: int, *, include_hidden: bool) -> list[dict]:
    """A report's photos, by position: position, type, size, hidden (when, by whom); never the bytes."""
    return [
        dict(r)
        for r in conn.exec_driver_sql(
            "SELECT position, content_type, width, height, hidden_at, hidden_by FROM report_photos "
            "WHERE report_id = %(i)s AND (%(all)s OR hidden_at IS NULL) ORDER BY position",
            {"i": report_id, "all": include_hidden},
        ).mappings()
    ]
