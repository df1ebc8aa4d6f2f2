"""Bulk import from real files of every supported format, through the service and the ``mapper`` command."""

import subprocess
import zipfile

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Transformer
from sqlalchemy import text

from mapper.services.importer import ImportFailed, import_file
from tests.conftest import count

N = 50


def crime_frame(n=N, seed=1) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    lon, lat = rng.uniform(-83.1, -82.9, n), rng.uniform(39.9, 40.05, n)
    return gpd.GeoDataFrame(
        {
            "category": rng.choice(["theft", "burglary", "assault"], n),
            "severity": rng.integers(1, 6, n),
            "occurred_at": [f"2026-10-{d:02d}T12:00:00Z" for d in rng.integers(1, 29, n)],
            "description": [f'note {i}, with "quotes" \\ backslash\tand tab' for i in range(n)],
        },
        geometry=shapely.points(lon, lat),
        crs=4326,
    )


def stored(engine, order="id"):
    with engine.connect() as conn:
        return (
            conn.execute(
                text(
                    "SELECT properties, private, ST_X(geom) x, ST_Y(geom) y, source, import_id "
                    f"FROM reports ORDER BY {order}"
                )
            )
            .mappings()
            .all()
        )


def assert_same_rows(engine, gdf):
    rows = stored(engine)
    assert len(rows) == len(gdf)
    for row, (_, src) in zip(rows, gdf.iterrows(), strict=True):
        assert row["properties"]["category"] == src["category"]
        assert row["properties"]["severity"] == int(src["severity"])
        assert row["properties"]["occurred_at"] == src["occurred_at"]
        assert row["private"]["description"] == src["description"]
        assert abs(row["x"] - src.geometry.x) < 1e-7 and abs(row["y"] - src.geometry.y) < 1e-7


def write(gdf, path, fmt):
    if fmt == "csv-lonlat":
        df = pd.DataFrame(gdf.drop(columns="geometry"))
        df.insert(0, "lon", gdf.geometry.x.map(repr))
        df.insert(1, "lat", gdf.geometry.y.map(repr))
        df.to_csv(path, index=False)
    elif fmt == "csv-wkt":
        df = pd.DataFrame(gdf.drop(columns="geometry"))
        df["wkt"] = shapely.to_wkt(gdf.geometry.values, rounding_precision=-1)
        df.to_csv(path, index=False)
    elif fmt == "geojson":
        gdf.to_file(path, driver="GeoJSON")
    elif fmt == "gpkg":
        gdf.to_file(path, driver="GPKG", layer="crime")
    elif fmt == "shp.zip":
        shp_dir = path.parent / "shp"
        shp_dir.mkdir()
        gdf.to_file(shp_dir / "crime.shp")
        with zipfile.ZipFile(path, "w") as z:
            for f in shp_dir.iterdir():
                z.write(f, f.name)
    return path


FORMATS = {"csv-lonlat": "csv", "csv-wkt": "csv", "geojson": "geojson", "gpkg": "gpkg", "shp.zip": "zip"}


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_format_imports_every_row(tmp_path, engine, registry, clean, fmt):
    gdf = crime_frame()
    path = write(gdf, tmp_path / f"crime.{FORMATS[fmt]}", fmt)
    result = import_file(engine, registry, "crime", path)
    assert (result.rows, result.skipped) == (N, 0)
    assert_same_rows(engine, gdf)
    assert count(engine, "status_history") == N
    assert count(engine, "imports", f"row_count = {N}") == 1


def test_imported_rows_are_stored_near_their_neighbours(tmp_path, engine, registry, clean):
    """Ids follow the file, but rows are written in Hilbert order: neighbours on disk lie far closer
    together than neighbours in the file."""
    gdf = crime_frame(n=2000)
    import_file(engine, registry, "crime", write(gdf, tmp_path / "crime.gpkg", "gpkg"))
    assert_same_rows(engine, gdf)
    with engine.connect() as conn:
        on_disk = conn.execute(
            text("SELECT avg(ST_Distance(geom, lag)) FROM (SELECT geom, lag(geom) OVER (ORDER BY ctid) FROM reports) s")
        ).scalar_one()
    pts = np.column_stack([gdf.geometry.x, gdf.geometry.y])
    in_file = np.linalg.norm(np.diff(pts, axis=0), axis=1).mean()
    assert on_disk < in_file / 10


@pytest.mark.parametrize("fmt", ["gpkg", "shp.zip"])
def test_files_in_a_projected_crs_are_reprojected(tmp_path, engine, registry, clean, fmt):
    gdf = crime_frame()
    path = write(gdf.to_crs("EPSG:32617"), tmp_path / f"crime.{FORMATS[fmt]}", fmt)
    import_file(engine, registry, "crime", path)
    assert_same_rows(engine, gdf)


def test_crs_option_overrides_a_csv_without_crs(tmp_path, engine, registry, clean):
    gdf = crime_frame()
    path = write(gdf.to_crs("EPSG:3857"), tmp_path / "crime.csv", "csv-lonlat")
    import_file(engine, registry, "crime", path, crs="EPSG:3857")
    assert_same_rows(engine, gdf)


def test_polygons_import_from_geopackage(tmp_path, engine, registry, clean):
    polys = gpd.GeoDataFrame(
        {"land_class": ["titled", "public_space"], "area_m2": [1200.0, 800.0]},
        geometry=[shapely.box(-83, 39.9, -82.99, 39.91), shapely.box(-83, 39.92, -82.99, 39.93)],
        crs=4326,
    )
    path = tmp_path / "land.gpkg"
    polys.to_file(path, driver="GPKG")
    assert import_file(engine, registry, "land_use", path).rows == 2
    with engine.connect() as conn:
        assert conn.execute(text("SELECT bool_and(ST_IsValid(geom) AND ST_IsPolygonCCW(geom)) FROM reports")).scalar()


def bad_csv(tmp_path):
    gdf = crime_frame(10)
    path = write(gdf, tmp_path / "bad.csv", "csv-lonlat")
    lines = path.read_text().splitlines()
    lines[3] = (
        lines[3].replace(",theft,", ",arson?,").replace(",burglary,", ",arson?,").replace(",assault,", ",arson?,")
    )
    cells = lines[7].split(",")
    cells[1] = "95.5"  # latitude
    lines[7] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_bad_row_aborts_and_leaves_the_database_unchanged(tmp_path, engine, registry, clean):
    import_file(engine, registry, "crime", write(crime_frame(5), tmp_path / "ok.gpkg", "gpkg"))
    before = [count(engine, t) for t in ("reports", "status_history", "imports")]
    with pytest.raises(ImportFailed) as e:
        import_file(engine, registry, "crime", bad_csv(tmp_path))
    problems = [(p.row, p.field) for p in e.value.problems]
    assert problems == [(3, "category"), (7, "geometry")]
    assert "latitude must be between -90 and 90" in str(e.value.problems[1])
    assert [count(engine, t) for t in ("reports", "status_history", "imports")] == before


def test_skip_invalid_loads_the_rest_and_lists_the_rejects(tmp_path, engine, registry, clean):
    result = import_file(engine, registry, "crime", bad_csv(tmp_path), skip_invalid=True)
    assert (result.rows, result.skipped) == (8, 2)
    assert [p.row for p in result.problems] == [3, 7]
    assert count(engine) == 8


def test_unknown_columns_and_unreadable_files_are_refused(tmp_path, engine, registry, clean):
    gdf = crime_frame(3)
    gdf["colour"] = "red"
    with pytest.raises(ImportFailed, match="colour"):
        import_file(engine, registry, "crime", write(gdf, tmp_path / "x.gpkg", "gpkg"))
    junk = tmp_path / "junk.gpkg"
    junk.write_bytes(b"not a geopackage")
    with pytest.raises(ImportFailed, match="Cannot read"):
        import_file(engine, registry, "crime", junk)
    assert count(engine) == 0


def test_mapper_import_command(tmp_path, cli_env, engine, clean):
    ok = write(crime_frame(), tmp_path / "ok.geojson", "geojson")
    r = subprocess.run(["mapper", "import", "crime", str(ok)], env=cli_env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert f"imported {N} rows into crime" in r.stdout and "rows/s" in r.stdout
    r = subprocess.run(
        ["mapper", "import", "crime", str(bad_csv(tmp_path))], env=cli_env, capture_output=True, text=True
    )
    assert r.returncode == 1
    assert "row 3, category: must be one of" in r.stderr and "row 7, geometry: latitude" in r.stderr
    assert count(engine) == N


def test_utm_csv_round_trip_accuracy(tmp_path, engine, registry, clean):
    gdf = crime_frame(5)
    to_utm = Transformer.from_crs(4326, 32617, always_xy=True)
    x, y = to_utm.transform(gdf.geometry.x.values, gdf.geometry.y.values)
    df = pd.DataFrame(gdf.drop(columns="geometry"))
    df["x"], df["y"] = [repr(float(v)) for v in x], [repr(float(v)) for v in y]
    path = tmp_path / "utm.csv"
    df.to_csv(path, index=False)
    import_file(engine, registry, "crime", path, crs="EPSG:32617")
    assert_same_rows(engine, gdf)
