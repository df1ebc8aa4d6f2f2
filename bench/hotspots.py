"""Hot spot benchmark: our ``run_hotspots`` against a geopandas ``sjoin`` + esda pipeline on the same points.

N synthetic clustered ``crime`` points (a few Gaussian clusters over a uniform background) are loaded with
``import_frame`` and the table is vacuumed and analysed (untimed). Then, on the same rows:

* ours (automatic scale)  ``mapper.services.scoring.run_hotspots(engine, layer)`` wall-clock: study area and
                          hexagon binning in PostGIS, scale search (incremental Moran's I), Gi*, BH FDR,
                          storing the cells in ``derived_features``, commit;
* ours (scale fixed)      the same with ``scale=`` set to the first run's choice, so without the search;
* geopandas + esda        ``geopandas.read_postgis`` of the points (severity read out of the JSON in SQL),
                          ``to_crs`` to the same UTM zone, ``geopandas.sjoin`` into the same hexagons (built
                          untimed with shapely from our cells' i, j and edge), groupby count / sum of severity,
                          libpysal ``DistanceBand`` (or ``KNN``) at our scale, ``esda.G_Local(transform="B",
                          star=True, permutations=0)``, p-values and ``scipy.stats.false_discovery_control``,
                          the cells back to WGS 84 and ``to_postgis`` into ``peer_hotspots``; all timed. It
                          does no scale search: compare it with "scale fixed" for the same work.

Each run checks that the peer's per-cell counts, weights and z-scores equal the ones ours stored. Our phases
come from timing wrappers put around the store and domain functions that ``run_hotspots`` calls.

    .venv/bin/python -m bench.hotspots [--rows N] [--repeat R] [--seed S] [--keep]
"""

from __future__ import annotations

import argparse
import os
import time
import uuid
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field

import esda
import geopandas as gpd
import libpysal
import numpy as np
import pandas as pd
import scipy
import shapely
from esda.getisord import G_Local
from libpysal.weights import KNN, DistanceBand
from scipy import stats
from scipy.spatial import cKDTree
from sqlalchemy import text

from bench.ingest import BBOX, LAYER_ID, BenchDatabase, iso_utc, markdown_table, points_parser, progress, timed_function
from mapper.config import PROJECT_ROOT
from mapper.domain import hotspots as hs
from mapper.domain.layers import Layer, load_registry
from mapper.embedded_db import EmbeddedCluster
from mapper.services import scoring
from mapper.services.importer import import_frame
from mapper.store import scores as store

PEER_TABLE = "peer_hotspots"
COLLECTION = f"{LAYER_ID}-hotspots"
WARMUP_ROWS = 2_000
AIM_SECONDS = 5.0  # ours under this many seconds
AIM_VS_PEER = 5.0  # ours at least this many times faster than the geopandas pipeline
Z_TOLERANCE = 1e-9
# Gaussian clusters: lon, lat, sigma in degrees (≈ 0.3–1.1 km), share of all points; the rest is uniform.
CLUSTERS = (
    (-83.00, 39.96, 0.004, 0.12),
    (-82.95, 40.02, 0.006, 0.10),
    (-83.06, 40.03, 0.003, 0.06),
    (-82.96, 39.93, 0.008, 0.08),
    (-83.03, 39.99, 0.010, 0.06),
)
SCORE_TABLES = ("derived_features", "scores", "score_runs", "status_history", "reports", "imports")
# What run_hotspots calls, by phase: (module, function, phase). The rest of its time ("other") is building
# the feature rows in Python, the commit and the connection.
PHASES = (
    (store, "study_area", "study area (SQL: count, centroid, hull)"),
    (store, "hexagon_bins", "hexagon bins (SQL)"),
    (hs, "choose_scale", "scale search (10 × Moran's I)"),
    (hs, "weights_for", "weights, Gi*, FDR"),
    (hs, "gi_star", "weights, Gi*, FDR"),
    (hs, "classify", "weights, Gi*, FDR"),
    (store, "insert_run", "store (run + cells)"),
    (store, "replace_derived", "store (run + cells)"),
)
OTHER = "other (feature rows in Python, commit)"


@dataclass
class Timing:
    """One timed run of a method, with its phases (seconds each; they add up to ``seconds``)."""

    method: str
    seconds: float
    phases: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Grid:
    """Our run's cells and choices, which the peer reuses: hexagon i, j, edge, UTM srid and the scale."""

    i: np.ndarray
    j: np.ndarray
    edge: float
    srid: int
    scale: tuple[str, float]


# --- input data ---------------------------------------------------------------------------------------
def clustered_crimes(layer: Layer, n: int, seed: int) -> gpd.GeoDataFrame:
    """``n`` valid crime reports: Gaussian clusters (``CLUSTERS``) over a uniform background in ``BBOX``."""
    rng = np.random.default_rng(seed)
    sizes = [int(n * share) for *_, share in CLUSTERS]
    background = n - sum(sizes)
    lon = np.concatenate(
        [rng.normal(x, s, k) for (x, _, s, _), k in zip(CLUSTERS, sizes, strict=False)]
        + [rng.uniform(BBOX[0], BBOX[2], background)]
    )
    lat = np.concatenate(
        [rng.normal(y, s, k) for (_, y, s, _), k in zip(CLUSTERS, sizes, strict=False)]
        + [rng.uniform(BBOX[1], BBOX[3], background)]
    )
    lon, lat = np.clip(lon, BBOX[0], BBOX[2]), np.clip(lat, BBOX[1], BBOX[3])
    occurred = np.datetime64("2025-01-01T00:00:00", "s") + rng.integers(0, 365 * 86_400, n)
    return gpd.GeoDataFrame(
        {
            "category": rng.choice(layer.field("category").values, n),
            "severity": rng.integers(1, 6, n),
            "occurred_at": iso_utc(pd.Series(occurred)),
        },
        geometry=shapely.points(lon, lat),
        crs=4326,
    )


def load(bench: BenchDatabase, layer: Layer, gdf: gpd.GeoDataFrame) -> None:
    """Empty the report and score tables, import ``gdf`` and settle the server (untimed)."""
    tables = ", ".join(SCORE_TABLES)
    bench.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    import_frame(bench.engine, layer, gdf, "bench")
    bench.execute(f"VACUUM (ANALYZE) {tables}", "CHECKPOINT")


# --- ours ---------------------------------------------------------------------------------------------
@contextmanager
def timed_phases(phases: dict[str, float]):
    """Add the wall-clock time of every call of a ``PHASES`` function to ``phases`` while inside. None of them
    calls another (``choose_scale`` builds its bands with ``distance_band``, which is not wrapped), so nothing
    is counted twice."""
    saved = []
    for module, name, phase in PHASES:
        saved.append((module, name, getattr(module, name)))
        setattr(module, name, timed_function(getattr(module, name), phase, phases))
    try:
        yield phases
    finally:
        for module, name, function in reversed(saved):
            setattr(module, name, function)


def run_ours(bench: BenchDatabase, layer: Layer, method: str, scale: tuple[str, float] | None) -> Timing:
    """``run_hotspots`` wall-clock, with its phases."""
    bench.execute("VACUUM (ANALYZE) derived_features, score_runs")  # the previous run's cells are dead rows
    phases: dict[str, float] = {}
    with timed_phases(phases):
        started = time.perf_counter()
        scoring.run_hotspots(bench.engine, layer, scale=scale)
        seconds = time.perf_counter() - started
    phases[OTHER] = seconds - sum(phases.values())
    return Timing(method, seconds, phases)


def our_grid(bench: BenchDatabase) -> Grid:
    """The cells and choices of our latest run, as stored."""
    with bench.engine.connect() as conn:
        params = conn.execute(
            text("SELECT params FROM score_runs WHERE layer = :layer AND method = 'hotspots' ORDER BY id DESC LIMIT 1"),
            {"layer": LAYER_ID},
        ).scalar_one()
    cells = our_cells(bench)
    return Grid(
        cells["i"].to_numpy(),
        cells["j"].to_numpy(),
        params["cell"]["edge_m"],
        params["cell"]["srid"],
        (params["scale"]["kind"], params["scale"]["value"]),
    )


def our_cells(bench: BenchDatabase) -> pd.DataFrame:
    """The stored cells of our latest run: i, j, reports, weight, gi_z, q_value (ordered by i, j)."""
    with bench.engine.connect() as conn:
        return pd.read_sql(
            text(
                "SELECT (private ->> 'i')::int AS i, (private ->> 'j')::int AS j, (properties ->> 'reports')::int "
                "AS reports, (properties ->> 'weight')::float8 AS weight, (properties ->> 'gi_z')::float8 AS gi_z, "
                "(properties ->> 'q_value')::float8 AS q_value FROM derived_features WHERE layer = :c ORDER BY i, j"
            ),
            conn,
            params={"c": COLLECTION},
        )


# --- the geopandas + esda pipeline --------------------------------------------------------------------
def hexagons(grid: Grid) -> gpd.GeoDataFrame:
    """PostGIS ``ST_Hexagon(edge, i, j)`` cells as shapely polygons in the grid's UTM zone (flat-topped:
    centre x = 1.5·edge·i, y = √3·edge·(j + ½ if i is odd))."""
    centres = hs.hexagon_centres(grid.i, grid.j, grid.edge)
    h = grid.edge * np.sqrt(3) / 2
    dx = np.array([grid.edge, grid.edge / 2, -grid.edge / 2, -grid.edge, -grid.edge / 2, grid.edge / 2, grid.edge])
    dy = np.array([0, h, h, 0, -h, -h, 0])
    rings = np.stack([centres[:, :1] + dx, centres[:, 1:] + dy], axis=-1)
    return gpd.GeoDataFrame(
        {"i": grid.i, "j": grid.j, "x": centres[:, 0], "y": centres[:, 1]},
        geometry=shapely.polygons(rings),
        crs=grid.srid,
    )


def peer_weights(xy: np.ndarray, scale: tuple[str, float]):
    """libpysal weights at our scale: a binary distance band (same 1e-6 slack as ours), else K nearest
    neighbours found by scipy's ``cKDTree`` (as ours: equidistant hexagons tie, and libpysal's own tree,
    with another leaf size, breaks some ties the other way)."""
    kind, value = scale
    if kind == "distance band":
        return DistanceBand(xy, threshold=value * 1.000001, binary=True, silence_warnings=True)
    return KNN(cKDTree(xy), k=int(value), silence_warnings=True)


def run_peer(bench: BenchDatabase, grid: Grid, cells: gpd.GeoDataFrame, min_count: int) -> tuple[Timing, pd.DataFrame]:
    """The geopandas + esda pipeline, timed phase by phase; also returns its per-cell results."""
    where, params = store.layer_filter(LAYER_ID)
    sql = f"SELECT geom, (properties ->> 'severity')::float8 AS severity FROM reports WHERE {where}"
    marks = [("start", time.perf_counter())]
    mark = lambda phase: marks.append((phase, time.perf_counter()))  # noqa: E731
    with bench.engine.connect() as conn:
        points = gpd.read_postgis(sql, conn, geom_col="geom", params=params)
    mark("read_postgis")
    points = points.to_crs(grid.srid)
    mark("to_crs (UTM)")
    joined = gpd.sjoin(points, cells, how="inner", predicate="within")
    mark("sjoin")
    sums = joined.groupby("index_right")["severity"].agg(["size", "sum"]).reindex(cells.index, fill_value=0)
    mark("groupby")
    xy = cells[["x", "y"]].to_numpy()  # the exact centres the grid was built from (centroids carry ~1e-9 m noise)
    w = peer_weights(xy, grid.scale)
    mark("weights (libpysal)")
    y = sums["sum"].to_numpy(dtype=float)
    gi = G_Local(y, w, transform="B", star=True, permutations=0)
    mark("G_Local (esda)")
    p = 2 * stats.norm.sf(np.abs(gi.Zs))
    q = stats.false_discovery_control(p, method="bh")
    level = np.select([q <= 0.01, q <= 0.05, q <= 0.10], [99, 95, 90], 0) * np.sign(gi.Zs).astype(int)
    mark("p, FDR, classes")
    out = cells.drop(columns=["x", "y"]).to_crs(4326)
    out["reports"], out["weight"], out["gi_z"] = sums["size"].to_numpy(), y, gi.Zs
    out["p_value"], out["q_value"], out["confidence"] = p, q, level
    out["status"] = np.where((out["reports"] > 0) & (out["reports"] < min_count), "suppressed", "published")
    out.to_postgis(PEER_TABLE, bench.engine, if_exists="replace", index=False)
    mark("to_crs + to_postgis")
    phases = {phase: t - marks[k][1] for k, (phase, t) in enumerate(marks[1:])}
    timing = Timing("geopandas sjoin + esda", marks[-1][1] - marks[0][1], phases)
    return timing, pd.DataFrame(out.drop(columns="geometry"))


def check(ours: pd.DataFrame, peer: pd.DataFrame, n: int) -> str:
    """Whether the peer's cells, counts, weights and z-scores equal ours; raises if they do not."""
    ours = ours.set_index(["i", "j"])
    peer = peer.set_index(["i", "j"]).reindex(ours.index)
    dz = float(np.abs(ours["gi_z"] - peer["gi_z"]).max())
    dq = float(np.abs(ours["q_value"] - peer["q_value"]).max())
    same_counts = bool((ours["reports"] == peer["reports"]).all()) and int(ours["reports"].sum()) == n
    same_weights = bool(np.allclose(ours["weight"], peer["weight"], rtol=0, atol=1e-9))
    ok = same_counts and same_weights and dz <= Z_TOLERANCE
    line = (
        f"{len(ours):,} cells, {n:,} reports; counts {'equal' if same_counts else 'DIFFER'}, weights "
        f"{'equal' if same_weights else 'DIFFER'}, max |Δz| = {dz:.1e}, max |Δq| = {dq:.1e} "
        f"(tolerance {Z_TOLERANCE:g}): {'ok' if ok else 'FAILED'}"
    )
    if not ok:
        raise RuntimeError(f"peer and ours disagree: {line}")
    return line


# --- a run --------------------------------------------------------------------------------------------
def run_suite(bench: BenchDatabase, layer: Layer, n: int, grid: Grid | None) -> tuple[list[Timing], Grid, str]:
    """Ours (automatic scale), the peer on our grid and scale, ours (scale fixed); checked against each other."""
    auto = run_ours(bench, layer, "ours: run_hotspots (automatic scale)", None)
    grid = grid or our_grid(bench)
    ours_auto = our_cells(bench)
    peer, peer_cells = run_peer(bench, grid, hexagons(grid), layer.hotspots.min_count)
    fixed = run_ours(bench, layer, "ours: run_hotspots (scale fixed)", grid.scale)
    ours_fixed = our_cells(bench)
    if not ours_fixed.equals(ours_auto):
        raise RuntimeError("ours with the scale fixed stored other cells than with the scale chosen")
    return [auto, fixed, peer], grid, check(ours_auto, peer_cells, n)


def best_of(suites: list[list[Timing]]) -> list[Timing]:
    """Per method, the fastest of the repeated runs (with that run's phases)."""
    return [min(runs, key=lambda t: t.seconds) for runs in zip(*suites, strict=False)]


# --- report -------------------------------------------------------------------------------------------
def results_table(timings: list[Timing]) -> str:
    """``method | seconds | ratio vs ours``, ratio = the method's seconds / ours' (automatic scale)."""
    ours = timings[0].seconds
    return markdown_table(
        ("method", "seconds", "ratio vs ours"),
        [(t.method, f"{t.seconds:.2f}", f"{t.seconds / ours:.2f}×") for t in timings],
    )


def phases_table(timing: Timing) -> str:
    return markdown_table(
        (timing.method, "seconds", "share"),
        [(phase, f"{s:.2f}", f"{100 * s / timing.seconds:.0f} %") for phase, s in timing.phases.items()],
    )


def aims(timings: list[Timing]) -> str:
    auto, fixed, peer = timings
    mark = lambda ok: "met" if ok else "NOT met"  # noqa: E731
    lines = []
    for t, label in ((auto, "automatic scale"), (fixed, "scale fixed")):
        lines.append(
            f"ours ({label}): {t.seconds:.2f} s (aim < {AIM_SECONDS:g} s: {mark(t.seconds < AIM_SECONDS)}); "
            f"geopandas + esda / ours = {peer.seconds / t.seconds:.2f}× "
            f"(aim ≥ {AIM_VS_PEER:g}×: {mark(peer.seconds / t.seconds >= AIM_VS_PEER)})"
        )
    return "\n".join(lines)


def report(
    n: int, repeat: int, versions: str, grid: Grid, timings: list[Timing], checked: str, load: tuple[float, float]
) -> str:
    runs = f"best of {repeat} runs" if repeat > 1 else "1 run"
    kind, value = grid.scale
    which = "each method's best run" if repeat > 1 else "the run above"
    lines = [
        f"Hot spot benchmark: {n:,} clustered {LAYER_ID} points, {runs}; {versions}; geopandas "
        f"{gpd.__version__}, esda {esda.__version__}, libpysal {libpysal.__version__}, scipy "
        f"{scipy.__version__}; {os.cpu_count()} CPUs, load average {load[0]:.1f} before and "
        f"{load[1]:.1f} after the runs",
        f"Grid: {len(grid.i):,} hexagons of {grid.edge:.0f} m (EPSG:{grid.srid}); scale: {kind} "
        f"{value:g}{' m' if kind == 'distance band' else ''}",
        "",
        results_table(timings),
        "",
        f"Where the time goes ({which}):",
        "",
    ]
    for t in timings:
        lines += [phases_table(t), ""]
    lines += [f"Check, peer against ours: {checked}", "", aims(timings)]
    return "\n".join(lines)


# --- main ---------------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    return points_parser("python -m bench.hotspots", __doc__).parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    warnings.filterwarnings("ignore", category=UserWarning)  # libpysal: disconnected or island cells
    layer = load_registry(PROJECT_ROOT / "layers").get(LAYER_ID)
    cluster = EmbeddedCluster(PROJECT_ROOT / "var")
    cluster.start()
    bench = BenchDatabase(cluster, f"bench_hot_{uuid.uuid4().hex[:8]}")
    try:
        bench.execute(*(f"ALTER TABLE {t} SET (autovacuum_enabled = off)" for t in SCORE_TABLES))
        progress(f"warm-up on {min(WARMUP_ROWS, args.rows):,} points")
        load(bench, layer, clustered_crimes(layer, min(WARMUP_ROWS, args.rows), args.seed + 1))
        run_suite(bench, layer, min(WARMUP_ROWS, args.rows), None)
        progress(f"loading {args.rows:,} points (untimed)")
        load(bench, layer, clustered_crimes(layer, args.rows, args.seed))
        suites, grid, checked, load_before = [], None, "", os.getloadavg()[0]
        for run in range(1, args.repeat + 1):
            progress(f"run {run} of {args.repeat}")
            timings, grid, checked = run_suite(bench, layer, args.rows, grid)
            suites.append(timings)
        print(
            report(
                args.rows,
                args.repeat,
                bench.versions(),
                grid,
                best_of(suites),
                checked,
                (load_before, os.getloadavg()[0]),
            )
        )
    finally:
        bench.close(keep=args.keep)


if __name__ == "__main__":
    main()
