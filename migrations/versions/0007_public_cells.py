"""Reports per published location, kept by statement-level triggers: a public tile that would hold more reports
than its cap shows one feature per published location with its count, read from here instead of a million rows.

``public_cells`` counts the reports of each (layer, precision, status, published point); statuses are kept so
the reader decides which ones the public sees. Each INSERT/UPDATE/DELETE on ``reports`` adds or subtracts its
transition table grouped by cell, in key order (concurrent writers meet cells in the same order), and drops
cells that reach zero; TRUNCATE empties it.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

KEY = "layer, precision_m, status, x, y"
GROUPED = """SELECT layer, public_precision_m AS precision_m, status, ST_X(public_geom) AS x, ST_Y(public_geom) AS y,
                    count(*) AS n
             FROM {table} WHERE public_geom IS NOT NULL GROUP BY 1, 2, 3, 4, 5"""


def upgrade() -> None:
    op.execute("""
    CREATE TABLE public_cells (
        layer        text NOT NULL,
        precision_m  float8 NOT NULL,
        status       text NOT NULL,
        x            float8 NOT NULL,
        y            float8 NOT NULL,
        reports      bigint NOT NULL CHECK (reports > 0),
        geom         geometry(Point, 4326) GENERATED ALWAYS AS (ST_SetSRID(ST_MakePoint(x, y), 4326)) STORED,
        PRIMARY KEY (layer, precision_m, status, x, y)
    )""")
    op.execute("CREATE INDEX public_cells_geom_idx ON public_cells USING gist (geom)")
    add = f"""
        INSERT INTO public_cells AS c ({KEY}, reports)
        SELECT * FROM ({GROUPED.format(table="added")}) g ORDER BY {KEY}
        ON CONFLICT ({KEY}) DO UPDATE SET reports = c.reports + EXCLUDED.reports"""
    subtract = f"""
        WITH gone AS ({GROUPED.format(table="removed")}),
        changed AS (
            UPDATE public_cells c SET reports = c.reports - g.n
            FROM (SELECT * FROM gone ORDER BY {KEY}) g
            WHERE (c.layer, c.precision_m, c.status, c.x, c.y) = (g.layer, g.precision_m, g.status, g.x, g.y)
              AND c.reports > g.n
            RETURNING c.layer)
        DELETE FROM public_cells c USING gone g
        WHERE (c.layer, c.precision_m, c.status, c.x, c.y) = (g.layer, g.precision_m, g.status, g.x, g.y)
          AND c.reports <= g.n"""
    op.execute(f"""
    CREATE FUNCTION public_cells_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN {add}; RETURN NULL; END $$""")
    op.execute(f"""
    CREATE FUNCTION public_cells_update() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN {subtract}; {add}; RETURN NULL; END $$""")
    op.execute(f"""
    CREATE FUNCTION public_cells_delete() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN {subtract}; RETURN NULL; END $$""")
    op.execute("""
    CREATE FUNCTION public_cells_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN TRUNCATE public_cells; RETURN NULL; END $$""")
    op.execute(
        "CREATE TRIGGER reports_cells_insert AFTER INSERT ON reports REFERENCING NEW TABLE AS added "
        "FOR EACH STATEMENT EXECUTE FUNCTION public_cells_insert()"
    )
    op.execute(
        "CREATE TRIGGER reports_cells_update AFTER UPDATE ON reports "
        "REFERENCING OLD TABLE AS removed NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION public_cells_update()"
    )
    op.execute(
        "CREATE TRIGGER reports_cells_delete AFTER DELETE ON reports REFERENCING OLD TABLE AS removed "
        "FOR EACH STATEMENT EXECUTE FUNCTION public_cells_delete()"
    )
    op.execute(
        "CREATE TRIGGER reports_cells_truncate AFTER TRUNCATE ON reports "
        "FOR EACH STATEMENT EXECUTE FUNCTION public_cells_truncate()"
    )
    op.execute(f"INSERT INTO public_cells ({KEY}, reports) {GROUPED.format(table='reports')}")


def downgrade() -> None:
    for event in ("insert", "update", "delete", "truncate"):
        op.execute(f"DROP TRIGGER IF EXISTS reports_cells_{event} ON reports")
        op.execute(f"DROP FUNCTION IF EXISTS public_cells_{event}()")
    op.execute("DROP TABLE IF EXISTS public_cells")
