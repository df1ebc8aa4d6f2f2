"""Scores: runs (method, version, parameters), per-subject results, and derived features (hotspot cells,
area scores) served like layers.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    CREATE TABLE score_runs (
        id              bigserial PRIMARY KEY,
        layer           text NOT NULL,
        method          text NOT NULL,
        method_version  text NOT NULL,
        params          jsonb NOT NULL DEFAULT '{}'::jsonb,
        inputs          integer NOT NULL DEFAULT 0,
        computed_at     timestamptz NOT NULL DEFAULT now()
    )""")
    op.execute("CREATE INDEX score_runs_layer_idx ON score_runs (layer, method, computed_at DESC)")
    op.execute("""
    CREATE TABLE scores (
        id           bigserial PRIMARY KEY,
        run_id       bigint NOT NULL REFERENCES score_runs(id) ON DELETE CASCADE,
        layer        text NOT NULL,
        subject      text NOT NULL,
        report_ids   bigint[] NOT NULL DEFAULT '{}',
        result       jsonb NOT NULL
    )""")
    op.execute("CREATE INDEX scores_run_idx ON scores (run_id)")
    op.execute("CREATE INDEX scores_reports_idx ON scores USING gin (report_ids)")
    op.execute("""
    CREATE TABLE derived_features (
        id           bigserial PRIMARY KEY,
        layer        text NOT NULL,
        run_id       bigint REFERENCES score_runs(id) ON DELETE SET NULL,
        geom         geometry(Geometry, 4326) NOT NULL,
        properties   jsonb NOT NULL DEFAULT '{}'::jsonb,
        private      jsonb NOT NULL DEFAULT '{}'::jsonb,
        status       text NOT NULL DEFAULT 'published',
        observed_at  timestamptz NOT NULL DEFAULT now(),
        updated_at   timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT derived_geom_in_range CHECK (
            ST_XMin(geom) >= -180 AND ST_XMax(geom) <= 180 AND ST_YMin(geom) >= -90 AND ST_YMax(geom) <= 90)
    )""")
    op.execute("CREATE INDEX derived_features_geom_idx ON derived_features USING gist (geom)")
    op.execute("CREATE INDEX derived_features_layer_idx ON derived_features (layer, id)")
    for event, ref in (("insert", "NEW"), ("update", "NEW"), ("delete", "OLD")):
        op.execute(
            f"CREATE TRIGGER derived_versions_{event} AFTER {event.upper()} ON derived_features "
            f"REFERENCING {ref} TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION bump_layer_versions()"
        )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS derived_features")
    op.execute("DROP TABLE IF EXISTS scores")
    op.execute("DROP TABLE IF EXISTS score_runs")
