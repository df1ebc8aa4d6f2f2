"""Staff accounts (``staff_users``): e-mails are matched whatever their case (the unique index is on
``lower(email)``)."""

from __future__ import annotations

from sqlalchemy import Connection

COLUMNS = "id, email, role, password_hash, disabled_at, created_at, last_login_at"


def insert_user(conn: Connection, email: str, role: str, password_hash: str) -> int | None:
    """The new account's id, or None when the e-mail is taken."""
    return conn.exec_driver_sql(
        "INSERT INTO staff_users (email, role, password_hash) VALUES (%(e)s, %(r)s, %(h)s) "
        "ON CONFLICT (lower(email)) DO NOTHING RETURNING id",
        {"e": email, "r": role, "h": password_hash},
    ).scalar_one_or_none()


def user_by_email(conn: Connection, email: str) -> dict | None:
    row = conn.exec_driver_sql(
        f"SELECT {COLUMNS} FROM staff_users WHERE lower(email) = lower(%(e)s)", {"e": email}
    ).mappings()
    found = row.one_or_none()
    return dict(found) if found is not None else None


def active_user(conn: Connection, user_id: int) -> dict | None:
    """The account with ``user_id`` unless it is disabled."""
    found = (
        conn.exec_driver_sql(
            "SELECT id, email, role FROM staff_users WHERE id = %(i)s AND disabled_at IS NULL", {"i": user_id}
        )
        .mappings()
        .one_or_none()
    )
    return dict(found) if found is not None else None


def list_users(conn: Connection) -> list[dict]:
    rows = conn.exec_driver_sql(f"SELECT {COLUMNS} FROM staff_users ORDER BY lower(email)").mappings()
    return [dict(r) for r in rows]


def disable_user(conn: Connection, email: str) -> bool | None:
    """True when the account is now disabled, False when it already was, None when there is none."""
    row = conn.exec_driver_sql(
        "UPDATE staff_users SET disabled_at = coalesce(disabled_at, now()) WHERE lower(email) = lower(%(e)s) "
        "RETURNING disabled_at = now() AS now_disabled",  # now(): this transaction's time
        {"e": email},
    ).one_or_none()
    return None if row is None else bool(row.now_disabled)


def signed_in(conn: Connection, user_id: int, new_hash: str | None) -> None:
    """Note a sign-in (and store the password's rehash under the current parameters, when one was made)."""
    conn.exec_driver_sql(
        "UPDATE staff_users SET last_login_at = now(), password_hash = coalesce(%(h)s, password_hash) WHERE id = %(i)s",
        {"i": user_id, "h": new_hash},
    )
