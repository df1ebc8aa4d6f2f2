"""``mapper_planned_rows(query)``: the planner's row estimate for a query, so a feed request can read its layer's
data version and the estimate that picks its read plan in one round trip.

The query text is built by ``store.features`` (compiled filters, values bound by the driver): never a
caller's SQL.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    CREATE FUNCTION mapper_planned_rows(query text) RETURNS bigint LANGUAGE plpgsql AS $$
    DECLARE plan json;
    BEGIN
        EXECUTE 'EXPLAIN (FORMAT JSON) ' || query INTO plan;
        RETURN (plan -> 0 -> 'Plan' ->> 'Plan Rows')::numeric::bigint;
    END $$""")


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS mapper_planned_rows(text)")
