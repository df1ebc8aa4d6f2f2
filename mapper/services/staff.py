"""Staff accounts and their sign-in: passwords hashed with argon2id (argon2-cffi's ``PasswordHasher``, rehashed
on sign-in when its parameters have changed), a generic refusal that tells an unknown e-mail, a wrong password and
a disabled account apart neither by its words nor by its time (an unknown e-mail is checked against a dummy hash)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine

from mapper.domain.errors import Conflict, FieldProblem, NotFound, Unauthorized, ValidationFailed
from mapper.domain.policy import ROLES
from mapper.store import staff as store

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
WRONG_CREDENTIALS = "Wrong e-mail or password."

hasher = PasswordHasher()  # argon2id with argon2-cffi's current (RFC 9106 low-memory) parameters


@dataclass(frozen=True)
class StaffUser:
    id: int
    email: str
    role: str


@functools.cache
def _dummy_hash() -> str:
    return hasher.hash("not the password of anyone, only spent time")


def _checked(email: str, role: str, password: str) -> str:
    problems = []
    email = email.strip()
    if "@" not in email.strip("@") or any(c.isspace() for c in email):
        problems.append(FieldProblem("email", "must be an e-mail address"))
    if role not in ROLES:
        problems.append(FieldProblem("role", f"unknown role {role!r} (roles: {', '.join(ROLES)})"))
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(FieldProblem("password", f"must be at least {MIN_PASSWORD_LENGTH} characters"))
    elif len(password) > MAX_PASSWORD_LENGTH:
        problems.append(FieldProblem("password", f"must be at most {MAX_PASSWORD_LENGTH} characters"))
    if problems:
        raise ValidationFailed("The account was not created.", problems)
    return email


def create_user(engine: Engine, email: str, role: str, password: str) -> int:
    """A new staff account; its e-mail must not be taken (whatever its case)."""
    email = _checked(email, role, password)
    with engine.begin() as conn:
        user_id = store.insert_user(conn, email, role, hasher.hash(password))
    if user_id is None:
        raise Conflict(f"There is already an account for {email!r}.", [FieldProblem("email", "already taken")])
    return user_id


def list_users(engine: Engine) -> list[dict]:
    with engine.connect() as conn:
        return store.list_users(conn)


def disable_user(engine: Engine, email: str) -> bool:
    """Disable the account (True; False if it already was): it can no longer sign in, its sessions stop."""
    with engine.begin() as conn:
        done = store.disable_user(conn, email)
    if done is None:
        raise NotFound(f"There is no account for {email!r}.", [FieldProblem("email", "no such account")])
    return done


def authenticate(engine: Engine, email: str, password: str) -> StaffUser:
    """The account signing in, or Unauthorized with the same words for every reason (unknown e-mail, wrong
    password, disabled account), after the same work (one argon2 verification)."""
    with engine.connect() as conn:
        row = store.user_by_email(conn, email.strip()) if len(password) <= MAX_PASSWORD_LENGTH else None
    try:
        hasher.verify(row["password_hash"] if row else _dummy_hash(), password[:MAX_PASSWORD_LENGTH])
        verified = row is not None
    except (VerificationError, InvalidHashError):
        verified = False
    if not verified or row["disabled_at"] is not None:
        raise Unauthorized(WRONG_CREDENTIALS, [FieldProblem("credentials", "wrong e-mail or password")])
    new_hash = hasher.hash(password) if hasher.check_needs_rehash(row["password_hash"]) else None
    with engine.begin() as conn:
        store.signed_in(conn, row["id"], new_hash)
    return StaffUser(row["id"], row["email"], row["role"])


def active_user(engine: Engine, user_id: int) -> StaffUser | None:
    """The signed-in account behind a session, None once it is disabled (or gone)."""
    with engine.connect() as conn:
        row = store.active_user(conn, user_id)
    return StaffUser(**row) if row else None
