"""Reports, their status history, idempotency keys, imports and API tokens.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.execute("""
    CREATE TABLE imports (
        id          bigserial PRIMARY KEY,
        layer       text NOT NULL,
        filename    text NOT NULL,
        row_count   integer NOT NULL DEFAULT 0,
        skipped     integer NOT NULL DEFAULT 0,
        created_at  timestamptz NOT NULL DEFAULT now()
    )""")
    op.execute("""
    CREATE TABLE reports (
        id            bigserial PRIMARY KEY,
        layer         text NOT NULL CHECK (layer ~ '^[a-z][a-z0-9_]{0,62}$'),
        geom          geometry(Geometry, 4326) NOT NULL,
        properties    jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(properties) = 'object'),
        private       jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(private) = 'object'),
        status        text NOT NULL DEFAULT 'submitted',
        observed_at   timestamptz NOT NULL DEFAULT now(),
        created_at    timestamptz NOT NULL DEFAULT now(),
        updated_at    timestamptz NOT NULL DEFAULT now(),
        source        text NOT NULL DEFAULT 'api',
        tracking_hash bytea UNIQUE,
        import_id     bigint REFERENCES imports(id) ON DELETE CASCADE,
        -- PostGIS stores latitude 100, NaN and Infinity silently: refuse them here too.
        -- NaN sorts above every number in PostgreSQL, so the upper bounds also catch NaN.
        CONSTRAINT reports_geom_not_empty CHECK (NOT ST_IsEmpty(geom)),
        CONSTRAINT reports_geom_in_range CHECK (
            ST_XMin(geom) >= -180 AND ST_XMax(geom) <= 180 AND ST_YMin(geom) >= -90 AND ST_YMax(geom) <= 90),
        CONSTRAINT reports_geom_type CHECK (GeometryType(geom) IN ('POINT', 'POLYGON', 'MULTIPOLYGON')),
        CONSTRAINT reports_geom_valid CHECK (GeometryType(geom) = 'POINT' OR ST_IsValid(geom))
    )""")
    op.execute("CREATE INDEX reports_geom_idx ON reports USING gist (geom)")
    op.execute("CREATE INDEX reports_layer_id_idx ON reports (layer, id)")
    op.execute("CREATE INDEX reports_layer_observed_idx ON reports (layer, observed_at)")
    op.execute("CREATE INDEX reports_import_idx ON reports (import_id) WHERE import_id IS NOT NULL")
    op.execute("""
    CREATE TABLE status_history (
        id          bigserial PRIMARY KEY,
        report_id   bigint NOT NULL REFERENCES reports(id) ON DELETE CASCADE,
        status      text NOT NULL,
        note        text,
        changed_by  text,
        changed_at  timestamptz NOT NULL DEFAULT now()
    )""")
    op.execute("CREATE INDEX status_history_report_idx ON status_history (report_id, changed_at)")
    op.execute("""
    CREATE TABLE idempotency_keys (
        key           text PRIMARY KEY,
        request_hash  bytea NOT NULL,
        status_code   integer,
        response      jsonb,
        created_at    timestamptz NOT NULL DEFAULT now()
    )""")
    op.execute("""
    CREATE TABLE api_tokens (
        id            serial PRIMARY KEY,
        name          text NOT NULL,
        role          text NOT NULL CHECK (role IN ('admin', 'police', 'utility', 'health', 'planner')),
        token_hash    bytea NOT NULL UNIQUE,
        created_at    timestamptz NOT NULL DEFAULT now(),
        last_used_at  timestamptz,
        revoked_at    timestamptz
    )""")


def downgrade() -> None:
    for table in ("api_tokens", "idempotency_keys", "status_history", "reports", "imports"):
        op.execute(f"DROP TABLE IF EXISTS {table}")
