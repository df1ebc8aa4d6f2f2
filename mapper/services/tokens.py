"""Secrets handed to people: staff API tokens and citizens' tracking tokens. Only hashes are stored."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import Engine

from mapper.domain.errors import FieldProblem, ValidationFailed
from mapper.domain.policy import ROLES
from mapper.store import reports as repository


def digest(token: str) -> bytes:
    """SHA-256 of a token: high-entropy secrets need no slow hash."""
    return hashlib.sha256(token.encode()).digest()


def new_tracking_token() -> tuple[str, bytes]:
    """A fresh tracking token for a citizen and the hash to store."""
    token = secrets.token_urlsafe(18)
    return token, digest(token)


TRACKING_LINK_SEAL = "tracking-link"  # the seal's context: a report's token, kept to write its tracking link


def seal_tracking_token(secret: str, token: str) -> bytes:
    """The citizen's token sealed under the server secret (AES-GCM), so a message can carry the tracking link;
    only its hash identifies the report."""
    from mapper.services import idempotency

    return idempotency.seal(secret, TRACKING_LINK_SEAL, {"token": token})


def open_tracking_token(secret: str, sealed: bytes) -> str | None:
    """The token ``seal_tracking_token`` sealed, or None when this secret does not open it."""
    from mapper.services import idempotency

    try:
        return idempotency.unseal(secret, TRACKING_LINK_SEAL, sealed)["token"]
    except idempotency.Unsealable:
        return None


def create_api_token(engine: Engine, role: str, name: str) -> str:
    """Issue a staff API token for ``role``; the clear token is returned once and never stored."""
    if role not in ROLES:
        raise ValidationFailed(f"Unknown role {role!r}.", [FieldProblem("role", f"one of {', '.join(ROLES)}")])
    token = "cm_" + secrets.token_urlsafe(32)
    with engine.begin() as conn:
        repository.insert_token(conn, name, role, digest(token))
    return token


def role_for(engine: Engine, token: str) -> str | None:
    """The role of a live API token, or None."""
    with engine.begin() as conn:
        return repository.role_for_token(conn, digest(token))
