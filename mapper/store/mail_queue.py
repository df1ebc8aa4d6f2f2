"""The e-mail queue (``mail_queue``): one row per message to send, holding no personal data — the address, the
status and the public comment are read from the report and its history entry when the message is sent."""

from __future__ import annotations

from sqlalchemy import Connection


def enqueue(conn: Connection, report_id: int, history_id: int, kind: str) -> int | None:
    """Queue a message about a report's history entry, in the reporter's language; None (nothing queued) when the
    report keeps no sealed tracking token to link to."""
    return conn.exec_driver_sql(
        "INSERT INTO mail_queue (report_id, history_id, kind, language) "
        "SELECT id, %(h)s, %(k)s, language FROM reports WHERE id = %(r)s AND tracking_sealed IS NOT NULL "
        "RETURNING id",
        {"r": report_id, "h": history_id, "k": kind},
    ).scalar_one_or_none()


def claim_due(conn: Connection, limit: int, at=None) -> list[dict]:
    """Up to ``limit`` unsent messages due by ``at`` (default: now), oldest first, locked until the transaction
    ends (rows another sender holds are skipped), with what their message says: the address, the layer, the
    sealed tracking token, and the entry's status, public comment and time (never its internal note)."""
    return [
        dict(r)
        for r in conn.exec_driver_sql(
            "SELECT q.id, q.report_id, q.kind, q.language, q.attempts, r.layer, r.tracking_sealed, "
            "r.private ->> 'reporter_email' AS address, h.status, h.note AS comment, h.changed_at "
            "FROM mail_queue q JOIN reports r ON r.id = q.report_id "
            "LEFT JOIN status_history h ON h.id = q.history_id "
            "WHERE q.sent_at IS NULL AND q.next_attempt_at <= coalesce(%(at)s, now()) "
            "ORDER BY q.id LIMIT %(n)s FOR UPDATE OF q SKIP LOCKED",
            {"n": limit, "at": at},
        ).mappings()
    ]


def mark_sent(conn: Connection, message_id: int) -> None:
    conn.exec_driver_sql("UPDATE mail_queue SET sent_at = clock_timestamp() WHERE id = %(i)s", {"i": message_id})


def mark_failed(conn: Connection, message_id: int, error: str, retry_in_s: float) -> None:
    """Count a failed attempt, keep its error (no address in it) and put the next one ``retry_in_s`` away."""
    conn.exec_driver_sql(
        "UPDATE mail_queue SET attempts = attempts + 1, last_error = %(e)s, "
        "next_attempt_at = now() + %(s)s * interval '1 second' WHERE id = %(i)s",
        {"i": message_id, "e": error, "s": retry_in_s},
    )


def discard(conn: Connection, message_id: int) -> None:
    """Drop a message that has nothing to say any more (the reporter's address was erased)."""
    conn.exec_driver_sql("DELETE FROM mail_queue WHERE id = %(i)s", {"i": message_id})


def waiting(conn: Connection) -> int:
    """Messages not sent yet (due or waiting for their next attempt)."""
    return conn.exec_driver_sql("SELECT count(*) FROM mail_queue WHERE sent_at IS NULL").scalar_one()
