"""Per-layer change counters, kept by statement-level triggers, for ETags and cached extents.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

EVENTS = ("insert", "update", "delete")


def upgrade() -> None:
    op.execute("""
    CREATE TABLE layer_versions (
        layer       text PRIMARY KEY,
        version     bigint NOT NULL DEFAULT 1,
        changed_at  timestamptz NOT NULL DEFAULT now()
    )""")
    op.execute("""
    CREATE FUNCTION bump_layer_versions() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO layer_versions AS v (layer)
        SELECT DISTINCT layer FROM changed
        ON CONFLICT (layer) DO UPDATE SET version = v.version + 1, changed_at = now();
        RETURN NULL;
    END $$""")
    op.execute("""
    CREATE FUNCTION bump_all_layer_versions() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE layer_versions SET version = version + 1, changed_at = now();
        RETURN NULL;
    END $$""")
    op.execute(
        "CREATE TRIGGER reports_versions_insert AFTER INSERT ON reports REFERENCING NEW TABLE AS changed "
        "FOR EACH STATEMENT EXECUTE FUNCTION bump_layer_versions()"
    )
    op.execute(
        "CREATE TRIGGER reports_versions_update AFTER UPDATE ON reports REFERENCING NEW TABLE AS changed "
        "FOR EACH STATEMENT EXECUTE FUNCTION bump_layer_versions()"
    )
    op.execute(
        "CREATE TRIGGER reports_versions_delete AFTER DELETE ON reports REFERENCING OLD TABLE AS changed "
        "FOR EACH STATEMENT EXECUTE FUNCTION bump_layer_versions()"
    )
    op.execute(
        "CREATE TRIGGER reports_versions_truncate AFTER TRUNCATE ON reports "
        "FOR EACH STATEMENT EXECUTE FUNCTION bump_all_layer_versions()"
    )


def downgrade() -> None:
    for event in (*EVENTS, "truncate"):
        op.execute(f"DROP TRIGGER IF EXISTS reports_versions_{event} ON reports")
    op.execute("DROP FUNCTION IF EXISTS bump_layer_versions()")
    op.execute("DROP FUNCTION IF EXISTS bump_all_layer_versions()")
    op.execute("DROP TABLE IF EXISTS layer_versions")
