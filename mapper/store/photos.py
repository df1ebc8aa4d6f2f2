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


PHOTO_COLUMNS = "report_id, position, content_type, width, height, data, thumbnail, thumbnail_type, sha256"


def insert_photos(conn: Connection, report_id: int, photos: list) -> None:
    """Store a new report's photos (``domain.photos.Photo``) at positions 1, 2, 3 in the order given."""
    for position, p in enumerate(photos, start=1):
        conn.exec_driver_sql(
            f"INSERT INTO report_photos ({PHOTO_COLUMNS}) VALUES (%(r)s, %(p)s, %(t)s, %(w)s, %(h)s, %(d)s, "
            "%(th)s, %(tt)s, %(s)s)",
            {
                "r": report_id,
                "p": position,
                "t": p.content_type,
                "w": p.width,
                "h": p.height,
                "d": p.data,
                "th": p.thumbnail,
                "tt": p.thumbnail_type,
                "s": p.sha256,
            },
        )


def photo_with_report(conn: Connection, report_id: int, position: int, *, thumbnail: bool) -> dict | None:
    """One photo's bytes (the image or its thumbnail) and type, with what decides who may see it: its report's
    layer and status, and when it was hidden."""
    data, kind = ("thumbnail", "thumbnail_type") if thumbnail else ("data", "content_type")
    return (
        conn.exec_driver_sql(
            f"SELECT p.{data} AS data, p.{kind} AS content_type, p.sha256, p.hidden_at, p.created_at, "
            "r.layer, r.status FROM report_photos p JOIN reports r ON r.id = p.report_id "
            "WHERE p.report_id = %(r)s AND p.position = %(p)s",
            {"r": report_id, "p": position},
        )
        .mappings()
        .one_or_none()
    )


def set_hidden(conn: Connection, report_id: int, position: int, actor: str | None) -> dict | None:
    """Hide a photo as ``actor`` (None: show it again); the photo's new state, None when there is no such photo."""
    return (
        conn.exec_driver_sql(
            "UPDATE report_photos SET hidden_at = CASE WHEN %(a)s::text IS NULL THEN NULL ELSE now() END, "
            "hidden_by = %(a)s WHERE report_id = %(r)s AND position = %(p)s "
            "RETURNING position, hidden_at, hidden_by",
            {"r": report_id, "p": position, "a": actor},
        )
        .mappings()
        .one_or_none()
    )
