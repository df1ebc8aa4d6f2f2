"""The report lifecycle's history: every transition with the status it left, its reason, the actor's role, a
public comment (``note``, what the reporter's tracking page shows) and an internal note (staff only); history is
append-only.

The database refuses to change or delete a history row while its report exists (a trigger; deleting a report —
``mapper demo`` replacing its own data — still takes its history with it, through the foreign key's cascade).
Statuses follow ``mapper.domain.lifecycle``: ``acknowledged`` (what verifying a water alert set) becomes
``verified``, in reports and in their history; a CHECK keeps ``reports.status`` to the lifecycle's statuses
(``suppressed`` is the derived cells').

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

STATUSES = ("submitted", "verified", "rejected", "in_progress", "resolved", "closed", "reopened", "hidden")


def upgrade() -> None:
    op.execute("""
    ALTER TABLE status_history
        ADD COLUMN from_status   text,
        ADD COLUMN reason        text,
        ADD COLUMN actor_role    text,
        ADD COLUMN internal_note text""")
    op.execute("UPDATE reports SET status = 'verified' WHERE status = 'acknowledged'")
    op.execute("UPDATE status_history SET status = 'verified' WHERE status = 'acknowledged'")
    listed = ", ".join(f"'{s}'" for s in STATUSES)
    op.execute(f"ALTER TABLE reports ADD CONSTRAINT reports_status_check CHECK (status IN ({listed}))")
    op.execute("""
    CREATE FUNCTION mapper_history_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' AND NOT EXISTS (SELECT 1 FROM reports WHERE id = OLD.report_id) THEN
            RETURN OLD;  -- the report is being deleted: its history goes with it
        END IF;
        RAISE EXCEPTION 'status_history is append-only (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
    END $$""")
    op.execute("""
    CREATE TRIGGER status_history_append_only BEFORE UPDATE OR DELETE ON status_history
        FOR EACH ROW EXECUTE FUNCTION mapper_history_is_append_only()""")


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS status_history_append_only ON status_history")
    op.execute("DROP FUNCTION IF EXISTS mapper_history_is_append_only()")
    op.execute("ALTER TABLE reports DROP CONSTRAINT IF EXISTS reports_status_check")
    op.execute(
        "ALTER TABLE status_history DROP COLUMN from_status, DROP COLUMN reason, DROP COLUMN actor_role, "
        "DROP COLUMN internal_note"
    )
