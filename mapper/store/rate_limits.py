"""Rate-limit counters in the UNLOGGED table ``rate_limits``: one row per (limit, client, window), updated in one
atomic statement, so every worker process and server sharing the database counts together. UNLOGGED: no WAL
(counters are cheap to write), emptied by a crash recovery (forgetting counters is harmless)."""

from __future__ import annotations

from sqlalchemy import Connection, text


def hit(conn: Connection, key: str, expiry_s: float, amount: int) -> int:
    """Add ``amount`` to the key's counter, starting a new window of ``expiry_s`` seconds when it has none (or
    its window is over); return the count in the window."""
    return conn.execute(
        text(
            "INSERT INTO rate_limits AS r (key, hits, expires_at) VALUES (:k, :a, now() + :e * interval '1 second') "
            "ON CONFLICT (key) DO UPDATE SET "
            "hits = CASE WHEN r.expires_at <= now() THEN EXCLUDED.hits ELSE r.hits + EXCLUDED.hits END, "
            "expires_at = CASE WHEN r.expires_at <= now() THEN EXCLUDED.expires_at ELSE r.expires_at END "
            "RETURNING hits"
        ),
        {"k": key, "a": amount, "e": expiry_s},
    ).scalar_one()


def window(conn: Connection, key: str) -> tuple[int, float] | None:
    """The key's count and the end of its window (epoch seconds), or None when it has no live window."""
    row = conn.execute(
        text("SELECT hits, extract(epoch FROM expires_at) FROM rate_limits WHERE key = :k AND expires_at > now()"),
        {"k": key},
    ).one_or_none()
    return None if row is None else (int(row[0]), float(row[1]))


def clear(conn: Connection, key: str | None = None) -> int:
    """Forget one key's counter, or (None) every counter; return how many."""
    if key is None:
        return conn.execute(text("DELETE FROM rate_limits")).rowcount
    return conn.execute(text("DELETE FROM rate_limits WHERE key = :k"), {"k": key}).rowcount


def purge(conn: Connection, batch: int = 1000) -> int:
    """Delete up to ``batch`` counters whose window is over (rows being counted right now are skipped)."""
    return conn.execute(
        text(
            "DELETE FROM rate_limits WHERE key IN (SELECT key FROM rate_limits WHERE expires_at <= now() "
            "ORDER BY expires_at LIMIT :n FOR UPDATE SKIP LOCKED)"
        ),
        {"n": batch},
    ).rowcount
