"""Idempotency keys without clear secrets, and expiring; the shared rate-limit counters.

``idempotency_keys`` is rebuilt: the key is stored only as an HMAC under the server secret (``key_hash``) and the
first response, which holds the citizen's tracking token, only sealed (AES-GCM under a key derived from the
server secret and the Idempotency-Key; ``mapper.services.idempotency``). Rows written before this revision (clear
keys, clear tokens) are dropped, not converted: their retries are treated as new requests. ``created_at`` is
indexed for the expiry (``IDEMPOTENCY_TTL_HOURS``) and its purge.

``rate_limits`` holds the rate limiter's counters (``RATELIMIT_STORAGE_URI = "database://"``, the default) so
that every worker process counts together: UNLOGGED (no WAL; a crash recovery empties it, which only forgets
counts), one row per limit, client and window, updated by one ``INSERT … ON CONFLICT DO UPDATE``.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DROP TABLE idempotency_keys")
    op.execute("""
    CREATE TABLE idempotency_keys (
        key_hash         bytea PRIMARY KEY,
        request_hash     bytea NOT NULL,
        status_code      integer,
        response_sealed  bytea,
        created_at       timestamptz NOT NULL DEFAULT now()
    )""")
    op.execute("CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys (created_at)")
    op.execute("""
    CREATE UNLOGGED TABLE rate_limits (
        key         text PRIMARY KEY,
        hits        bigint NOT NULL,
        expires_at  timestamptz NOT NULL
    )""")
    op.execute("CREATE INDEX rate_limits_expires_at_idx ON rate_limits (expires_at)")


def downgrade() -> None:
    op.execute("DROP TABLE rate_limits")
    # The sealed responses cannot be turned back into clear ones (nor should they): the rows are dropped.
    op.execute("DROP TABLE idempotency_keys")
    op.execute("""
    CREATE TABLE idempotency_keys (
        key           text PRIMARY KEY,
        request_hash  bytea NOT NULL,
        status_code   integer,
        response      jsonb,
        created_at    timestamptz NOT NULL DEFAULT now()
    )""")
