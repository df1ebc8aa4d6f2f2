"""Store each report's public location, indexed, instead of computing it for every candidate row of every
public request (items 49 → 10 ms, z16 tiles 62 → 6 ms on a million reports).

``mapper_public_point(geom, precision_m)`` is the one definition of a generalised location: the centre of
the cell of a ``precision_m`` grid laid in Web Mercator, the cell size scaled by the cosine of the
whole-degree latitude band so cells are close to ``precision_m`` on the ground. ``reports.public_geom`` is
generated from it with the precision the report was stored under (``public_precision_m``, 0 = exact: no
public point is stored). ``layer_public_precision`` records the precision each layer's rows carry, so
``mapper db upgrade`` re-generalises a layer whose declared precision changed.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    CREATE FUNCTION mapper_public_point(geom geometry, precision_m float8) RETURNS geometry
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
        SELECT ST_Transform(ST_SnapToGrid(ST_Transform(c, 3857), ST_MakePoint(s / 2, s / 2), s, s, 0, 0), 4326)
        FROM (SELECT c, precision_m / cos(radians(floor(ST_Y(c)))) AS s
              FROM (SELECT ST_Centroid(geom) AS c) centre) cell
    $$""")
    op.execute(
        "ALTER TABLE reports ADD COLUMN public_precision_m float8 NOT NULL DEFAULT 0 CHECK (public_precision_m >= 0)"
    )
    op.execute("""
    ALTER TABLE reports ADD COLUMN public_geom geometry(Point, 4326) GENERATED ALWAYS AS (
        CASE WHEN public_precision_m > 0 THEN mapper_public_point(geom, public_precision_m) END) STORED""")
    op.execute("CREATE INDEX reports_public_geom_idx ON reports USING gist (public_geom) WHERE public_geom IS NOT NULL")
    op.execute("""
    CREATE TABLE layer_public_precision (
        layer        text PRIMARY KEY,
        precision_m  float8 NOT NULL CHECK (precision_m >= 0),
        synced_at    timestamptz NOT NULL DEFAULT now()
    )""")


def downgrade() -> None:
    op.execute("DROP TABLE layer_public_precision")
    op.execute("ALTER TABLE reports DROP COLUMN public_geom")
    op.execute("ALTER TABLE reports DROP COLUMN public_precision_m")
    op.execute("DROP FUNCTION mapper_public_point(geometry, float8)")
