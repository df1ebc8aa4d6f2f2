"""Ingest benchmark: our file import against ``GeoDataFrame.to_postgis`` and a raw ``COPY``.

N synthetic points of the ``crime`` layer are written to a GeoPackage and to a CSV (untimed), then loaded by

* ours        ``mapper.services.importer.import_file`` (read, validate, COPY, history rows), wall-clock;
* to_postgis  ``pyogrio.read_dataframe`` of the same file with the same reader options, then
              ``GeoDataFrame.to_postgis`` (default chunksize) into ``peer_to_postgis``, a table with typed
              columns, a primary key and a GIST index created before the load; the read and the load are
              timed separately, and "read + load" is the end-to-end figure compared with ours;
* raw COPY    ``COPY reports (...) FROM STDIN`` through psycopg2 ``copy_expert`` of rows prepared in memory
              beforehand (hex EWKB, JSON), into the same ``reports`` table and indexes as ours; only the COPY
              and its commit are timed. It is the PostGIS limit for our table, not a competitor.

Every run starts from empty tables (TRUNCATE, VACUUM ANALYZE, CHECKPOINT; autovacuum is off on the
throwaway database's tables), the peers run before ours, and an untimed warm-up pass of every method on a
small file first pays for module imports, connection set-up and cold caches.

    .venv/bin/python -m bench.ingest [--rows N] [--repeat R] [--seed S] [--keep]
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from mapper import db
from mapper.config import PROJECT_ROOT
from mapper.domain.layers import Layer, Registry, load_registry
from mapper.embedded_db import EmbeddedCluster
from mapper.services.importer import import_file

LAYER_ID = "crime"
BBOX = (-83.1, 39.9, -82.9, 40.06)  # lon min, lat min, lon max, lat max
PEER_TABLE = "peer_to_postgis"
RAW_COPY_SQL = (
    "COPY reports (layer, geom, properties, private, status, observed_at, source, import_id, "
    "public_precision_m) FROM STDIN"
)
CSV_READ_OPTIONS = {"x_possible_names": "lon", "y_possible_names": "lat", "keep_geom_columns": "NO"}
REPORT_TABLES = ("status_history", "reports", "imports")
WARMUP_ROWS = 2_000
AIM_VS_TO_POSTGIS = 5.0  # ours at least this many times the rows/s of to_postgis
AIM_VS_RAW_COPY = 0.5  # ours at least this share of the rows/s of a raw COPY
DESCRIPTIONS = (
    "Bike stolen from the rack outside the library",
    'Car window smashed, "again" - third time this month',
    "Graffiti on the bus shelter; paint still wet",
    "Loud argument, then someone ran off towards the park",
    "Package taken from the porch\tneighbour's camera saw it",
    "Man following women from the café to the tram stop",
    "Broken lock on the back door of unit 4\\B",
    "Dealing at the corner every evening around 9 pm",
)
PEER_COLUMN_TYPES = {  # SQL type of each synthetic field in the to_postgis table
    "category": "text",
    "severity": "bigint",
    "occurred_at": "timestamptz",
    "description": "text",
    "reported_to_police": "boolean",
}


@dataclass(frozen=True)
class Measurement:
    """One timed load: ``rows`` rows in ``seconds`` of wall-clock time."""

    method: str
    rows: int
    seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds


# --- input data ---------------------------------------------------------------------------------------
def synthetic_crimes(layer: Layer, n: int, seed: int) -> gpd.GeoDataFrame:
    """``n`` valid crime reports in the bounding box, one in five without a description."""
    rng = np.random.default_rng(seed)
    lon = rng.uniform(BBOX[0], BBOX[2], n)
    lat = rng.uniform(BBOX[1], BBOX[3], n)
    occurred = np.datetime64("2025-01-01T00:00:00", "s") + rng.integers(0, 365 * 86_400, n)
    description = pd.Series(rng.choice(DESCRIPTIONS, n)) + " #" + pd.Series(np.arange(n)).astype(str)
    return gpd.GeoDataFrame(
        {
            "category": rng.choice(layer.field("category").values, n),
            "severity": rng.integers(1, 6, n),
            "occurred_at": pd.to_datetime(occurred, utc=True),
            "description": description.where(rng.random(n) >= 0.2, None),
            "reported_to_police": rng.random(n) < 0.4,
        },
        geometry=shapely.points(lon, lat),
        crs=4326,
    )


def write_gpkg(gdf: gpd.GeoDataFrame, path: Path) -> Path:
    """A GeoPackage with typed fields (integer, DateTime, boolean) and a spatial index, as a GIS writes it."""
    pyogrio.write_dataframe(gdf, path, layer=LAYER_ID, driver="GPKG")
    return path


def iso_utc(times: pd.Series) -> pd.Series:
    """UTC times as ISO 8601 text ending in ``Z`` (as a CSV carries them and as reports store them)."""
    return pd.Series(np.datetime_as_string(times.to_numpy("datetime64[s]"), unit="s"), index=times.index) + "Z"


def write_csv(gdf: gpd.GeoDataFrame, path: Path) -> Path:
    """A CSV with ``lon``/``lat`` columns first and ISO 8601 UTC times ending in ``Z``."""
    frame = pd.DataFrame(gdf.drop(columns="geometry"))
    frame["occurred_at"] = iso_utc(frame["occurred_at"])
    frame.insert(0, "lon", shapely.get_x(gdf.geometry.values))
    frame.insert(1, "lat", shapely.get_y(gdf.geometry.values))
    frame.to_csv(path, index=False)
    return path


def write_inputs(gdf: gpd.GeoDataFrame, directory: Path) -> dict[str, Path]:
    """The same rows as ``{"GPKG": path, "CSV": path}`` in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    return {"GPKG": write_gpkg(gdf, directory / "crime.gpkg"), "CSV": write_csv(gdf, directory / "crime.csv")}


# --- database -----------------------------------------------------------------------------------------
class BenchDatabase:
    """A throwaway migrated database in the embedded cluster, with (unless ``peer_table`` is false) the
    to_postgis peer table beside ``reports``."""

    def __init__(self, cluster: EmbeddedCluster, name: str, peer_table: bool = True):
        self.cluster, self.name, self.peer_table = cluster, name, peer_table
        self.url = cluster.ensure_database(name)
        db.upgrade(self.url)
        self.engine = db.make_engine(self.url)
        # Maintenance (VACUUM, CHECKPOINT) needs autocommit; a separate engine keeps it off the pooled
        # connections that the loads use.
        self._admin = create_engine(self.url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        if peer_table:
            columns = ", ".join(f"{column} {sql_type}" for column, sql_type in PEER_COLUMN_TYPES.items())
            self.execute(
                f"CREATE TABLE {PEER_TABLE} (id bigserial PRIMARY KEY, {columns}, geometry geometry(Point, 4326))",
                f"CREATE INDEX {PEER_TABLE}_geometry_idx ON {PEER_TABLE} USING gist (geometry)",
                *(f"ALTER TABLE {t} SET (autovacuum_enabled = off)" for t in self.tables),
            )

    @property
    def tables(self) -> tuple[str, ...]:
        return (*REPORT_TABLES, PEER_TABLE) if self.peer_table else REPORT_TABLES

    def execute(self, *statements: str) -> None:
        """Run each statement in its own transaction (autocommit)."""
        with self._admin.connect() as conn:
            for statement in statements:
                conn.execute(text(statement))

    def scalar(self, query: str):
        with self._admin.connect() as conn:
            return conn.execute(text(query)).scalar_one()

    def reset(self) -> None:
        """Empty every benchmark table and settle the server, so each run starts from the same state."""
        tables = ", ".join(self.tables)
        self.execute(f"TRUNCATE {tables} RESTART IDENTITY", f"VACUUM (ANALYZE) {tables}", "CHECKPOINT")

    def count(self, table: str) -> int:
        return self.scalar(f"SELECT count(*) FROM {table}")

    def versions(self) -> str:
        return self.scalar(
            "SELECT 'PostgreSQL ' || current_setting('server_version') || ', PostGIS ' || postgis_lib_version()"
        )

    def close(self, keep: bool) -> None:
        """Dispose of the connections; drop the database unless ``keep`` (then say where it is)."""
        self.engine.dispose()
        self._admin.dispose()
        if keep:
            print(f"\nKept database {self.name!r} (same cluster as `mapper db url`).")
        else:
            self.cluster.drop_database(self.name)


# --- the methods --------------------------------------------------------------------------------------
def run_ours(bench: BenchDatabase, registry: Registry, path: Path) -> list[Measurement]:
    """``import_file`` end to end: read, validate, COPY, status-history rows, commit."""
    started = time.perf_counter()
    result = import_file(bench.engine, registry, LAYER_ID, path)
    seconds = time.perf_counter() - started
    return [Measurement("ours: import_file", result.rows, seconds)]


def read_like_ours(path: Path) -> gpd.GeoDataFrame:
    """The file as our importer reads it (pyogrio's Arrow reader, geometry from lon/lat), without validation."""
    options = CSV_READ_OPTIONS if path.suffix == ".csv" else {}
    return pyogrio.read_dataframe(path, use_arrow=True, **options).set_crs(4326, allow_override=True)


def run_to_postgis(bench: BenchDatabase, path: Path) -> list[Measurement]:
    """``read_dataframe`` then ``to_postgis`` into the peer table, timed as a whole and load-only."""
    started = time.perf_counter()
    frame = read_like_ours(path)
    read_done = time.perf_counter()
    frame.to_postgis(PEER_TABLE, bench.engine, if_exists="append", index=False)
    loaded = time.perf_counter()
    return [
        Measurement("to_postgis: read + load", len(frame), loaded - started),
        Measurement("to_postgis: load only", len(frame), loaded - read_done),
    ]


def json_lines(frame: pd.DataFrame) -> np.ndarray:
    """One JSON object per row (nulls included), backslashes doubled for COPY's text format."""
    lines = frame.to_json(orient="records", lines=True, force_ascii=False)
    return np.array(lines.replace("\\", "\\\\").rstrip("\n").split("\n"), dtype=object)


def copy_text(layer: Layer, gdf: gpd.GeoDataFrame, import_id: int) -> str:
    """``gdf`` as text rows for ``RAW_COPY_SQL``, with the values an import stores: hex EWKB, every field of
    the layer in ``properties`` (public) or ``private`` as JSON, the time field as ``observed_at``."""
    attrs = pd.DataFrame(gdf.drop(columns="geometry")).reindex(columns=[f.name for f in layer.fields])
    attrs[layer.time_field] = iso_utc(attrs[layer.time_field])
    rows = pd.DataFrame(
        {
            "layer": layer.id,
            "geom": shapely.to_wkb(
                shapely.set_srid(np.asarray(gdf.geometry.values), 4326), hex=True, include_srid=True
            ),
            "properties": json_lines(attrs[[f.name for f in layer.fields if f.public]]),
            "private": json_lines(attrs[[f.name for f in layer.fields if not f.public]]),
            "status": "submitted",
            "observed_at": attrs[layer.time_field].to_numpy(),
            "source": "bench",
            "import_id": import_id,
            "public_precision_m": layer.precision_m,
        }
    )
    return rows.to_csv(sep="\t", header=False, index=False, quoting=csv.QUOTE_NONE, lineterminator="\n")


def run_raw_copy(bench: BenchDatabase, layer: Layer, gdf: gpd.GeoDataFrame) -> list[Measurement]:
    """One COPY of the whole frame as text rows prepared beforehand; only the COPY and its commit are timed."""
    raw = bench.engine.raw_connection()
    try:
        with raw.cursor() as cur:
            cur.execute("INSERT INTO imports (layer, filename) VALUES (%s, 'raw-copy') RETURNING id", (layer.id,))
            rows = io.StringIO(copy_text(layer, gdf, import_id=cur.fetchone()[0]))
            started = time.perf_counter()
            cur.copy_expert(RAW_COPY_SQL, rows)
            raw.commit()
            seconds = time.perf_counter() - started
    finally:
        raw.close()
    return [Measurement("raw COPY (prepared rows)", len(gdf), seconds)]


def measured(
    bench: BenchDatabase, table: str, expected: int, run: Callable[[], list[Measurement]]
) -> list[Measurement]:
    """Run one method into empty tables and check that all ``expected`` rows arrived in ``table``."""
    bench.reset()
    results = run()
    found = bench.count(table)
    if found != expected or any(m.rows != expected for m in results):
        raise RuntimeError(f"{results[0].method}: expected {expected} rows, {table} has {found}")
    return results


def run_suite(
    bench: BenchDatabase, registry: Registry, gdf: gpd.GeoDataFrame, paths: dict[str, Path]
) -> dict[str, list[Measurement]]:
    """Every method once, peers before ours; ``{source: [ours, to_postgis..., raw COPY]}``."""
    layer, n = registry.get(LAYER_ID), len(gdf)
    raw = measured(bench, "reports", n, lambda: run_raw_copy(bench, layer, gdf))
    suite = {}
    for source, path in paths.items():
        peer = measured(bench, PEER_TABLE, n, lambda path=path: run_to_postgis(bench, path))
        ours = measured(bench, "reports", n, lambda path=path: run_ours(bench, registry, path))
        suite[source] = ours + peer + raw
    return suite


def best_of(suites: list[dict[str, list[Measurement]]]) -> dict[str, list[Measurement]]:
    """Per source and method, the fastest of the repeated runs (the least disturbed by other load)."""
    return {
        source: [min(runs, key=lambda m: m.seconds) for runs in zip(*(s[source] for s in suites), strict=False)]
        for source in suites[0]
    }


# --- report -------------------------------------------------------------------------------------------
def table(results: list[Measurement]) -> str:
    """A ``method | rows | seconds | rows/s | ratio vs ours`` table; ratio = ours rows/s / method rows/s."""
    ours = results[0]
    rows = [
        (
            m.method,
            f"{m.rows:,}",
            f"{m.seconds:.2f}",
            f"{m.rows_per_second:,.0f}",
            f"{ours.rows_per_second / m.rows_per_second:.2f}×",
        )
        for m in results
    ]
    return markdown_table(("method", "rows", "seconds", "rows/s", "ratio vs ours"), rows)


def markdown_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """A Markdown table of text cells, the first column left-aligned and the others right-aligned (every
    benchmark prints its results this way)."""
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]

    def line(cells):
        return (
            "| "
            + " | ".join(
                c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=False))
            )
            + " |"
        )

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), rule, *map(line, rows)])


def aims(source: str, results: list[Measurement]) -> str:
    """The two aim lines: ours against to_postgis end to end, and against the raw COPY."""
    by_method = {m.method: m.rows_per_second for m in results}
    ours = by_method["ours: import_file"]
    vs_peer = ours / by_method["to_postgis: read + load"]
    vs_raw = ours / by_method["raw COPY (prepared rows)"]
    mark = lambda ok: "met" if ok else "NOT met"  # noqa: E731
    return (
        f"{source}: ours / to_postgis = {vs_peer:.2f}× (aim ≥ {AIM_VS_TO_POSTGIS:g}×: "
        f"{mark(vs_peer >= AIM_VS_TO_POSTGIS)})\n"
        f"{source}: ours / raw COPY = {vs_raw * 100:.0f} % (aim ≥ {AIM_VS_RAW_COPY * 100:.0f} %: "
        f"{mark(vs_raw >= AIM_VS_RAW_COPY)})"
    )


def report(n: int, repeat: int, versions: str, suite: dict[str, list[Measurement]]) -> str:
    runs = f"best of {repeat} runs" if repeat > 1 else "1 run"
    lines = [
        f"Ingest benchmark: {n:,} {LAYER_ID} points, {runs}; {versions}; geopandas {gpd.__version__}, "
        f"pyogrio {pyogrio.__version__}; {os.cpu_count()} CPUs",
        "",
    ]
    for source, results in suite.items():
        lines += [f"{source} file:", table(results), ""]
    lines += ["The raw COPY reads no file: the same measurement is shown in both tables.", ""]
    lines += [aims(source, results) for source, results in suite.items()]
    return "\n".join(lines)


# --- main ---------------------------------------------------------------------------------------------
def points_parser(prog: str, doc: str) -> argparse.ArgumentParser:
    """The options every synthetic-points benchmark takes: --rows, --seed, --repeat, --keep."""
    parser = argparse.ArgumentParser(prog=prog, description=doc.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="points to load (default 1,000,000)")
    parser.add_argument("--seed", type=int, default=42, help="random seed of the synthetic points")
    parser.add_argument("--repeat", type=int, default=1, help="runs of every method; the best is reported")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database afterwards")
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    return points_parser("python -m bench.ingest", __doc__).parse_args(argv)


def timed_function(function, phase: str, phases: dict[str, float]):
    """``function``, adding the wall-clock time of each call to ``phases[phase]``."""

    @wraps(function)
    def timed(*args, **kwargs):
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            phases[phase] = phases.get(phase, 0.0) + time.perf_counter() - started

    return timed


def progress(message: str) -> None:
    print(f"... {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    registry = load_registry(PROJECT_ROOT / "layers")
    layer = registry.get(LAYER_ID)
    cluster = EmbeddedCluster(PROJECT_ROOT / "var")
    cluster.start()
    bench = BenchDatabase(cluster, f"bench_ingest_{uuid.uuid4().hex[:8]}")
    try:
        with tempfile.TemporaryDirectory(prefix="bench_ingest_") as tmp:
            warmup = synthetic_crimes(layer, min(WARMUP_ROWS, args.rows), args.seed + 1)
            run_suite(bench, registry, warmup, write_inputs(warmup, Path(tmp, "warmup")))
            progress(f"writing {args.rows:,} points to GPKG and CSV")
            gdf = synthetic_crimes(layer, args.rows, args.seed)
            paths = write_inputs(gdf, Path(tmp, "data"))
            suites = []
            for run in range(1, args.repeat + 1):
                progress(f"run {run} of {args.repeat}")
                suites.append(run_suite(bench, registry, gdf, paths))
        print(report(args.rows, args.repeat, bench.versions(), best_of(suites)))
    finally:
        bench.close(keep=args.keep)


if __name__ == "__main__":
    main()
