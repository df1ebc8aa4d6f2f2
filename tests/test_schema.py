"""Migrations and the schema's own guards, on real PostGIS."""

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import DBAPIError

from mapper import db

TABLES = {
    "reports",
    "status_history",
    "idempotency_keys",
    "api_tokens",
    "imports",
    "layer_versions",
    "score_runs",
    "scores",
    "derived_features",
    "gtfs_feeds",
    "gtfs_stops",
    "gtfs_stop_times",
    "layer_public_precision",
    "public_cells",
    "rate_limits",
    "staff_users",
}
HEAD = "0014"


def test_upgrade_downgrade_upgrade_round_trip(scratch_database):
    url = scratch_database()
    engine = create_engine(url)
    db.upgrade(url)
    assert TABLES <= set(inspect(engine).get_table_names())
    db.downgrade(url, "base")
    assert not TABLES & set(inspect(engine).get_table_names())
    db.upgrade(url)
    assert TABLES <= set(inspect(engine).get_table_names())
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == HEAD
    engine.dispose()


BAD_GEOMETRIES = [
    "ST_SetSRID(ST_MakePoint(0, 100), 4326)",
    "ST_SetSRID(ST_MakePoint(0, -90.0001), 4326)",
    "ST_SetSRID(ST_MakePoint(180.5, 0), 4326)",
    "ST_SetSRID(ST_MakePoint('NaN'::float8, 0), 4326)",
    "ST_SetSRID(ST_MakePoint(0, 'NaN'::float8), 4326)",
    "ST_SetSRID(ST_MakePoint('Infinity'::float8, 0), 4326)",
    "ST_SetSRID(ST_MakePoint('-Infinity'::float8, 0), 4326)",
    "ST_GeomFromText('POINT EMPTY', 4326)",
    "ST_GeomFromText('POLYGON((0 0, 1 1, 1 0, 0 1, 0 0))', 4326)",
    "ST_GeomFromText('LINESTRING(0 0, 1 1)', 4326)",
]


@pytest.mark.parametrize("expr", BAD_GEOMETRIES)
def test_check_constraints_refuse_what_postgis_would_store(engine, clean, expr):
    with pytest.raises(DBAPIError, match="violates check constraint|invalid geometry"):
        with engine.begin() as conn:
            conn.execute(text(f"INSERT INTO reports (layer, geom) VALUES ('crime', {expr})"))


def test_check_constraints_accept_the_edges(engine, clean):
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO reports (layer, geom) VALUES ('crime', ST_SetSRID(ST_MakePoint(180, 90), 4326)),"
                " ('crime', ST_SetSRID(ST_MakePoint(-180, -90), 4326))"
            )
        )


def test_public_location_is_stored_with_the_precision_of_the_report(engine, clean):
    """public_geom is generated from the report's own precision: none when exact, a grid-cell centre otherwise,
    and regenerated when the precision changes."""
    with engine.begin() as conn:
        rid = conn.execute(
            text(
                "INSERT INTO reports (layer, geom, public_precision_m) VALUES "
                "('crime', ST_SetSRID(ST_MakePoint(-83.0123, 39.9876), 4326), 0) RETURNING id"
            )
        ).scalar_one()
        assert conn.execute(text("SELECT public_geom FROM reports WHERE id = :i"), {"i": rid}).scalar_one() is None
        conn.execute(text("UPDATE reports SET public_precision_m = 250 WHERE id = :i"), {"i": rid})
        moved = conn.execute(
            text(
                "SELECT ST_Distance(geom::geography, public_geom::geography), "
                "ST_Equals(public_geom, mapper_public_point(geom, 250)) FROM reports WHERE id = :i"
            ),
            {"i": rid},
        ).one()
        assert 0 < moved[0] < 250 * 2**0.5 / 2 + 1 and moved[1]
        with pytest.raises(DBAPIError):
            conn.execute(text("UPDATE reports SET public_geom = geom WHERE id = :i"), {"i": rid})


def test_public_cells_follow_every_write(engine, clean):
    """public_cells always equals the reports counted afresh per layer, precision, status and published point,
    through single inserts, a multi-row insert, status changes, moves, deletes and truncation."""
    fresh = (
        "SELECT layer, public_precision_m, status, ST_X(public_geom), ST_Y(public_geom), count(*) FROM reports "
        "WHERE public_geom IS NOT NULL GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5"
    )
    kept = "SELECT layer, precision_m, status, x, y, reports FROM public_cells ORDER BY 1, 2, 3, 4, 5"
    steps = [
        "INSERT INTO reports (layer, geom, public_precision_m) SELECT 'crime', "
        "ST_SetSRID(ST_MakePoint(-83 + (i % 7) * 0.001, 40 + (i % 5) * 0.001), 4326), 250 "
        "FROM generate_series(1, 300) i",
        "INSERT INTO reports (layer, geom, public_precision_m) "
        "VALUES ('crime', ST_SetSRID(ST_MakePoint(-83, 40), 4326), 250)",
        "INSERT INTO reports (layer, geom) VALUES ('water_quality', ST_SetSRID(ST_MakePoint(-83, 40), 4326))",
        "UPDATE reports SET status = 'hidden' WHERE id % 3 = 0",
        "UPDATE reports SET geom = ST_Translate(geom, 0.01, 0) WHERE id % 4 = 0",
        "UPDATE reports SET public_precision_m = 1000 WHERE id % 5 = 0",
        "UPDATE reports SET updated_at = now()",
        "DELETE FROM reports WHERE id % 2 = 0",
    ]
    with engine.begin() as conn:
        for step in steps:
            conn.execute(text(step))
            assert conn.execute(text(kept)).all() == conn.execute(text(fresh)).all(), step
        assert conn.execute(text("SELECT count(*) FROM public_cells")).scalar() > 10
        conn.execute(text("TRUNCATE reports CASCADE"))
        assert conn.execute(text("SELECT count(*) FROM public_cells")).scalar() == 0
