"""GTFS benchmark: our ``import_feed`` against gtfs-kit reading the feed and computing the same stop and route stats.

Two feeds, each on the same service date for both methods:

* synthetic  a deterministic feed written to a zip in a temporary directory (untimed): 2,000 stops on a jittered
             50 × 40 grid over the city of ``bench.ingest.BBOX``, 100 routes (10 trams, 90 buses), each with a fixed
             pattern of 20–40 neighbouring stops run in both directions, and as many trips per route as needed
             for ``--stop-times`` rows (default 1,000,000: 34,400 trips), starting 05:00–23:00 (so times
             pass 24:00); four trips in five on a weekday service, the others on a weekend service (calendar.txt,
             no calendar_dates.txt, frequencies.txt or shapes.txt); service date Wednesday 2026-03-04;
* cairns     ``../shared/data/gtfs/cairns-2014.zip`` (TransLink Cairns buses, shapes, 65 missing times) on 2014-05-30.

Methods, the peer first:

* gtfs-kit  ``gk.read_feed(path, dist_units="km")`` (missing stop times then given as NaN: gtfs-kit 13 compares
            them with ``<=``, which pandas 3's string NA refuses; the same workaround as tests/test_gtfs.py, only
            applied when a feed has missing times), ``compute_stop_stats(feed, [date])``,
            ``compute_trip_stats(feed)`` and ``compute_route_stats(feed, [date], trip_stats=...)``; timed in total
            and per step.
* ours      ``mapper.services.gtfs_import.import_feed(engine, path, name, service_date=date)`` wall-clock: archive
            checks, COPY of every file into staging tables, the validator's checks in SQL, typed load, the
            service day's runs, the ``transit_stops`` and ``transit_routes`` layers (trips per day, headways,
            route lines), commit. Its phases come from timing wrappers put around the functions it calls, and
            the time of each check query from wrappers around the check generators (the slowest are listed).

Every run starts from empty GTFS tables and transit layers (TRUNCATE, VACUUM ANALYZE, CHECKPOINT; autovacuum is
off on them), and an untimed warm-up pass of both methods on a small synthetic feed comes first. Each run checks
that our trips per day and mean and minimum headway of every stop, and trips per day and mean headway of every
route, equal gtfs-kit's (stops and routes gtfs-kit leaves out, having no trip on the day, must have 0 trips).

    .venv/bin/python -m bench.gtfs [--stop-times N] [--repeat R] [--seed S] [--keep]
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
import uuid
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from functools import wraps
from pathlib import Path

import gtfs_kit as gk
import numpy as np
import pandas as pd
from sqlalchemy import text

from bench.ingest import BBOX, BenchDatabase, markdown_table, progress, timed_function
from mapper.config import PROJECT_ROOT
from mapper.embedded_db import EmbeddedCluster
from mapper.services import gtfs_import
from mapper.services.gtfs_import import import_feed
from mapper.store import gtfs as store

CAIRNS = PROJECT_ROOT.parent / "shared" / "data" / "gtfs" / "cairns-2014.zip"
CAIRNS_DAY = date(2014, 5, 30)
SYNTHETIC_DAY = date(2026, 3, 4)  # a Wednesday inside the synthetic calendar
CALENDAR = {"WK": ("1,1,1,1,1,0,0", 0.8), "WE": ("0,0,0,0,0,1,1", 0.2)}  # service: days, share of the trips
CALENDAR_RANGE = ("20260105", "20261231")
GRID = (50, 40)  # stops: columns × rows
ROUTES, TRAMS, PATTERN = 100, 10, (20, 40)  # routes, how many of them trams, stops per pattern (min, max)
FIRST_START, LAST_START = 5 * 3600, 23 * 3600
WARMUP_STOP_TIMES = 5_000
AIM_VS_GTFS_KIT = 2.0  # gtfs-kit's seconds at least this many times ours
HEADWAY_TOLERANCE = 1e-9  # minutes
GTFS_TABLES = (
    "gtfs_shapes",
    "gtfs_frequencies",
    "gtfs_calendar_dates",
    "gtfs_calendar",
    "gtfs_stop_times",
    "gtfs_trips",
    "gtfs_routes",
    "gtfs_stops",
    "gtfs_feeds",
    "derived_features",
)
# What import_feed calls, by phase: (module, function, phase). The rest of its time ("other") is opening the
# archive, reading the headers, the feed row, the counts and the commit.
PHASES = (
    (store, "stage_file", "staging: COPY into text tables (+ ANALYZE)"),
    (gtfs_import, "_check", "checks (SQL)"),
    (store, "load_typed", "typed load"),
    (store, "busiest_first_week_date", "derive: service day"),
    (store, "build_runs", "derive: runs of the day (trip_runs, stop_deps)"),
    (store, "publish_transit_layers", "derive: transit_stops + transit_routes"),
)
OTHER = "other (archive, headers, feed row, counts, commit)"
CHECK_GENERATORS = ("check_file", "check_foreign_keys", "check_usage")  # each check's query runs as it is yielded
SLOWEST_CHECKS = 6


@dataclass(frozen=True)
class Feed:
    """A GTFS zip to import, with the service date both methods use."""

    name: str
    path: Path
    day: date
    stop_times: int


@dataclass
class Timing:
    """One timed run of a method, with its phases (seconds each; they add up to ``seconds``)."""

    method: str
    seconds: float
    phases: dict[str, float] = field(default_factory=dict)
    checks: dict[str, float] = field(default_factory=dict)  # ours: seconds of each check query


# --- the synthetic feed -------------------------------------------------------------------------------
def hhmmss(seconds: np.ndarray) -> pd.Series:
    """Seconds after midnight as GTFS ``HH:MM:SS`` (hours may pass 24)."""
    s = pd.Series(seconds)
    return (
        (s // 3600).astype(str).str.zfill(2)
        + ":"
        + (s % 3600 // 60).astype(str).str.zfill(2)
        + ":"
        + (s % 60).astype(str).str.zfill(2)
    )


def stop_grid(rng: np.random.Generator) -> pd.DataFrame:
    """``GRID`` stops over ``BBOX``, each moved randomly by up to a fifth of the spacing."""
    cols, rows = GRID
    col, row = np.meshgrid(np.arange(cols), np.arange(rows))
    col, row = col.ravel(), row.ravel()
    dx, dy = (BBOX[2] - BBOX[0]) / cols, (BBOX[3] - BBOX[1]) / rows
    return pd.DataFrame(
        {
            "stop_id": [f"S{k:04d}" for k in range(cols * rows)],
            "stop_name": [f"Avenue {c + 1} & Street {r + 1}" for c, r in zip(col, row, strict=False)],
            "stop_lat": np.round(BBOX[1] + (row + 0.5 + rng.uniform(-0.2, 0.2, col.size)) * dy, 6),
            "stop_lon": np.round(BBOX[0] + (col + 0.5 + rng.uniform(-0.2, 0.2, col.size)) * dx, 6),
        }
    )


def route_patterns(rng: np.random.Generator) -> list[np.ndarray]:
    """``ROUTES`` walks of 20–40 grid neighbours (stop indices): mostly straight on, turning towards stops no
    route serves yet, never visiting a stop twice."""
    cols, rows = GRID
    served = np.zeros(cols * rows, dtype=bool)
    steps = ((1, 0), (0, 1), (-1, 0), (0, -1))
    patterns = []
    while len(patterns) < ROUTES:
        length = int(rng.integers(PATTERN[0], PATTERN[1] + 1))
        unserved = np.flatnonzero(~served)
        start = int(rng.choice(unserved if unserved.size else np.arange(served.size)))
        walk, heading = [start], int(rng.integers(4))
        while len(walk) < length:
            c, r = walk[-1] % cols, walk[-1] // cols
            best, best_score = None, -1.0
            for k, (dc, dr) in enumerate(steps):
                nc, nr = c + dc, r + dr
                if not (0 <= nc < cols and 0 <= nr < rows) or nr * cols + nc in walk:
                    continue
                score = 2.0 * (k == heading) + 1.5 * (not served[nr * cols + nc]) + rng.random()
                if score > best_score:
                    best, best_score, best_heading = nr * cols + nc, score, k
            if best is None:
                break
            walk.append(best)
            heading = best_heading
        if len(walk) >= PATTERN[0]:
            served[walk] = True
            patterns.append(np.array(walk))
    return patterns


def synthetic_feed(directory: Path, stop_times: int, seed: int) -> Feed:
    """Write the synthetic feed with at least ``stop_times`` stop times to ``directory/synthetic.zip``."""
    rng = np.random.default_rng(seed)
    stops = stop_grid(rng)
    patterns = route_patterns(rng)
    per_route = max(2, math.ceil(stop_times / sum(len(p) for p in patterns)))
    routes = pd.DataFrame(
        {
            "route_id": [f"R{r + 1:03d}" for r in range(ROUTES)],
            "agency_id": "CM",
            "route_short_name": [f"T{r + 1}" if r < TRAMS else str(r + 1) for r in range(ROUTES)],
            "route_long_name": [f"{stops.stop_name[p[0]]} - {stops.stop_name[p[-1]]}" for p in patterns],
            "route_type": [0 if r < TRAMS else 3 for r in range(ROUTES)],
            "route_color": [f"{c:06X}" for c in rng.integers(0, 1 << 24, ROUTES)],
        }
    )
    trips, times = [], []
    for r, pattern in enumerate(patterns):
        run = rng.integers(60, 181, len(pattern) - 1)  # seconds between stops
        dwell = np.concatenate([[0], rng.integers(0, 31, len(pattern) - 2), [0]])
        for direction in (0, 1):
            count = per_route // 2 + (direction == 0) * (per_route % 2)
            stops_in_order = pattern if direction == 0 else pattern[::-1]
            runs, dwells = (run, dwell) if direction == 0 else (run[::-1], dwell[::-1])
            arrive = np.concatenate([[0], np.cumsum(runs + dwells[:-1])])
            headway = (LAST_START - FIRST_START) / count
            start = np.round(
                FIRST_START + headway * (np.arange(count) + 0.5) + rng.uniform(-0.3, 0.3, count) * headway
            ).astype(np.int64)
            trip_ids = [f"R{r + 1:03d}-{direction}-{k:04d}" for k in range(count)]
            trips.append(
                pd.DataFrame(
                    {
                        "route_id": routes.route_id[r],
                        "trip_id": trip_ids,
                        "direction_id": direction,
                        "service_id": np.where(rng.random(count) < CALENDAR["WK"][1], "WK", "WE"),
                        "trip_headsign": stops.stop_name[stops_in_order[-1]],
                    }
                )
            )
            arrival = (start[:, None] + arrive[None, :]).ravel()
            times.append(
                pd.DataFrame(
                    {
                        "trip_id": np.repeat(trip_ids, len(pattern)),
                        "arrival": arrival,
                        "departure": arrival + np.tile(dwells, count),
                        "stop_id": np.tile(stops.stop_id.to_numpy()[stops_in_order], count),
                        "stop_sequence": np.tile(np.arange(1, len(pattern) + 1), count),
                    }
                )
            )
    trips = pd.concat(trips, ignore_index=True)[["route_id", "service_id", "trip_id", "trip_headsign", "direction_id"]]
    st = pd.concat(times, ignore_index=True)
    st = pd.DataFrame(
        {
            "trip_id": st.trip_id,
            "arrival_time": hhmmss(st.arrival.to_numpy()),
            "departure_time": hhmmss(st.departure.to_numpy()),
            "stop_id": st.stop_id,
            "stop_sequence": st.stop_sequence,
        }
    )
    calendar = pd.DataFrame(
        [(s, *days.split(","), *CALENDAR_RANGE) for s, (days, _) in CALENDAR.items()],
        columns=[
            "service_id",
            "monday",
            "tuesday",
            "wednesday",
            "thursday",
            "friday",
            "saturday",
            "sunday",
            "start_date",
            "end_date",
        ],
    )
    agency = pd.DataFrame(
        {
            "agency_id": ["CM"],
            "agency_name": ["Civic Mapper Transit"],
            "agency_url": ["https://transit.example"],
            "agency_timezone": ["America/New_York"],
        }
    )
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "synthetic.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, frame in (
            ("agency.txt", agency),
            ("stops.txt", stops),
            ("routes.txt", routes),
            ("trips.txt", trips),
            ("stop_times.txt", st),
            ("calendar.txt", calendar),
        ):
            z.writestr(name, frame.to_csv(index=False, lineterminator="\n"))
    return Feed("synthetic", path, SYNTHETIC_DAY, len(st))


def cairns_feed() -> Feed:
    with zipfile.ZipFile(CAIRNS) as z, z.open("stop_times.txt") as f:
        rows = sum(1 for _ in f) - 1
    return Feed("cairns", CAIRNS, CAIRNS_DAY, rows)


# --- database -----------------------------------------------------------------------------------------
def reset(bench: BenchDatabase) -> None:
    """Empty the GTFS tables and the derived layers and settle the server, so each run starts the same."""
    tables = ", ".join(GTFS_TABLES)
    bench.execute(f"TRUNCATE {tables} RESTART IDENTITY", f"VACUUM (ANALYZE) {tables}", "CHECKPOINT")


# --- gtfs-kit -----------------------------------------------------------------------------------------
def read_with_gtfs_kit(path: Path):
    """``gk.read_feed``; missing stop times as NaN (as tests/test_gtfs.py), only when a feed has some."""
    feed = gk.read_feed(path, dist_units="km")
    for col in ("arrival_time", "departure_time"):
        times = feed.stop_times[col]
        if times.isna().any():
            feed.stop_times[col] = times.astype(object).where(times.notna(), np.nan)
    return feed


def run_gtfs_kit(feed: Feed) -> tuple[Timing, pd.DataFrame, pd.DataFrame]:
    """gtfs-kit's read and stats, timed step by step; also returns its stop and route stats."""
    day = feed.day.strftime("%Y%m%d")
    marks = [("start", time.perf_counter())]
    mark = lambda step: marks.append((step, time.perf_counter()))  # noqa: E731
    kit = read_with_gtfs_kit(feed.path)
    mark("read_feed")
    stop_stats = gk.compute_stop_stats(kit, [day])
    mark("compute_stop_stats")
    trip_stats = gk.compute_trip_stats(kit)
    mark("compute_trip_stats")
    route_stats = gk.compute_route_stats(kit, [day], trip_stats=trip_stats)
    mark("compute_route_stats")
    phases = {step: t - marks[k][1] for k, (step, t) in enumerate(marks[1:])}
    return Timing("gtfs-kit", marks[-1][1] - marks[0][1], phases), stop_stats, route_stats


# --- ours ---------------------------------------------------------------------------------------------
@contextmanager
def patched(replacements: list[tuple[object, str, object]]):
    """Set ``module.name = value`` for each replacement while inside, then restore the originals."""
    saved = [(module, name, getattr(module, name)) for module, name, _ in replacements]
    for module, name, value in replacements:
        setattr(module, name, value)
    try:
        yield
    finally:
        for module, name, original in reversed(saved):
            setattr(module, name, original)


def timed_generator(function, checks: dict[str, float]):
    """``function`` yields checks ``(code, file, field, ...)``, each running its query when asked for: add the
    time of each to ``checks["code: file field"]``."""

    @wraps(function)
    def timed(*args, **kwargs):
        iterator = function(*args, **kwargs)
        while True:
            started = time.perf_counter()
            try:
                item = next(iterator)
            except StopIteration:
                return
            key = f"{item[0]}: {item[1]} {item[2]}".rstrip()
            checks[key] = checks.get(key, 0.0) + time.perf_counter() - started
            yield item

    return timed


def run_ours(bench: BenchDatabase, feed: Feed) -> Timing:
    """``import_feed`` wall-clock, with its phases (``PHASES``) and the time of each check query."""
    phases: dict[str, float] = {phase: 0.0 for _, _, phase in PHASES}
    checks: dict[str, float] = {}
    wrappers = [(module, name, timed_function(getattr(module, name), phase, phases)) for module, name, phase in PHASES]
    wrappers += [(store, name, timed_generator(getattr(store, name), checks)) for name in CHECK_GENERATORS]
    with patched(wrappers):
        started = time.perf_counter()
        report = import_feed(bench.engine, feed.path, feed.name, service_date=feed.day)
        seconds = time.perf_counter() - started
    if report.counts["stop_times"] != feed.stop_times:
        raise RuntimeError(
            f"{feed.name}: {feed.stop_times} stop times in the feed, {report.counts['stop_times']} imported"
        )
    phases[OTHER] = seconds - sum(phases.values())
    return Timing("ours", seconds, {k: v for k, v in phases.items() if v > 0.0005}, checks)


def our_layer(bench: BenchDatabase, layer: str, feed: str) -> pd.DataFrame:
    with bench.engine.connect() as conn:
        rows = (
            conn.execute(
                text("SELECT properties FROM derived_features WHERE layer = :l AND properties ->> 'feed' = :f"),
                {"l": layer, "f": feed},
            )
            .scalars()
            .all()
        )
    return pd.DataFrame(rows)


# --- check --------------------------------------------------------------------------------------------
def same_headway(ours: pd.Series, ref: pd.Series) -> pd.Series:
    """Equal within ``HEADWAY_TOLERANCE`` minutes, or missing on both sides."""
    ours, ref = pd.to_numeric(ours, errors="coerce").astype(float), ref.astype(float)
    return (ours.isna() & ref.isna()) | ((ours - ref).abs() <= HEADWAY_TOLERANCE)


def check(bench: BenchDatabase, feed: Feed, stop_stats: pd.DataFrame, route_stats: pd.DataFrame) -> str:
    """Our stop and route figures against gtfs-kit's; raises on any difference."""
    stops = our_layer(bench, "transit_stops", feed.name).set_index("stop_id")
    routes = our_layer(bench, "transit_routes", feed.name).set_index("route_id")
    ref_stops = stop_stats.set_index("stop_id").reindex(stops.index)
    ref_routes = route_stats.set_index("route_id").reindex(routes.index)
    problems = []
    for what, ours, ref, columns in (
        ("stop", stops, ref_stops, (("mean_headway_min", "mean_headway"), ("min_headway_min", "min_headway"))),
        ("route", routes, ref_routes, (("mean_headway_min", "mean_headway"),)),
    ):
        missing = sorted(set((stop_stats if what == "stop" else route_stats)[f"{what}_id"]) - set(ours.index))
        problems += [f"{what} {i}: gtfs-kit has it, ours not" for i in missing]
        trips = ref["num_trips"].fillna(0).astype(int)
        problems += [
            f"{what} {i}: trips {a} ≠ {b}"
            for i, a, b in zip(ours.index, ours["trips_per_day"], trips, strict=False)
            if a != b
        ]
        for mine, theirs in columns:
            same = same_headway(ours[mine], ref[theirs])
            problems += [
                f"{what} {i}: {mine} {a} ≠ {b}"
                for i, a, b, ok in zip(ours.index, ours[mine], ref[theirs], same, strict=False)
                if not ok
            ]
    if problems:
        raise RuntimeError(f"{feed.name}: ours and gtfs-kit disagree ({len(problems)}): " + "; ".join(problems[:10]))
    return (
        f"{feed.name}: checked: {len(stops):,} stops, {len(routes):,} routes equal "
        f"({int((stops['trips_per_day'] > 0).sum()):,} stops and "
        f"{int((routes['trips_per_day'] > 0).sum()):,} routes with trips on {feed.day})"
    )


# --- a run --------------------------------------------------------------------------------------------
def run_suite(bench: BenchDatabase, feeds: list[Feed]) -> tuple[dict[str, list[Timing]], list[str]]:
    """For each feed: gtfs-kit, then ours from empty tables, then the check; ``{feed: [ours, gtfs-kit]}``."""
    suite, checked = {}, []
    for feed in feeds:
        peer, stop_stats, route_stats = run_gtfs_kit(feed)
        reset(bench)
        ours = run_ours(bench, feed)
        checked.append(check(bench, feed, stop_stats, route_stats))
        suite[feed.name] = [ours, peer]
    return suite, checked


def best_of(suites: list[dict[str, list[Timing]]]) -> dict[str, list[Timing]]:
    """Per feed and method, the fastest of the repeated runs (with that run's phases)."""
    return {
        name: [min(runs, key=lambda t: t.seconds) for runs in zip(*(s[name] for s in suites), strict=False)]
        for name in suites[0]
    }


# --- report -------------------------------------------------------------------------------------------
def results_table(feeds: list[Feed], suite: dict[str, list[Timing]]) -> str:
    """``feed | stop_times | ours s | gtfs-kit s | ratio``, ratio = gtfs-kit's seconds / ours."""
    rows = []
    for feed in feeds:
        ours, peer = suite[feed.name]
        rows.append(
            (
                feed.name,
                f"{feed.stop_times:,}",
                f"{ours.seconds:.2f}",
                f"{peer.seconds:.2f}",
                f"{peer.seconds / ours.seconds:.2f}×",
            )
        )
    return markdown_table(("feed", "stop_times", "ours s", "gtfs-kit s", "ratio (gtfs-kit/ours)"), rows)


def phases_table(feed: str, timing: Timing) -> str:
    return markdown_table(
        (f"{feed}: {timing.method}", "seconds", "share"),
        [(phase, f"{s:.2f}", f"{100 * s / timing.seconds:.0f} %") for phase, s in timing.phases.items()],
    )


def checks_table(feed: str, timing: Timing) -> str:
    """The slowest ``SLOWEST_CHECKS`` check queries, with their share of all checks."""
    total = sum(timing.checks.values())
    slowest = sorted(timing.checks.items(), key=lambda kv: -kv[1])[:SLOWEST_CHECKS]
    return markdown_table(
        (f"{feed}: slowest of {len(timing.checks)} checks", "seconds", "share of checks"),
        [(check, f"{s:.2f}", f"{100 * s / total:.0f} %") for check, s in slowest],
    )


def aims(feeds: list[Feed], suite: dict[str, list[Timing]]) -> str:
    lines = []
    for feed in feeds:
        ours, peer = suite[feed.name]
        ratio = peer.seconds / ours.seconds
        lines.append(
            f"{feed.name}: gtfs-kit / ours = {ratio:.2f}× (aim ≥ {AIM_VS_GTFS_KIT:g}×: "
            f"{'met' if ratio >= AIM_VS_GTFS_KIT else 'NOT met'})"
        )
    return "\n".join(lines)


def report(feeds: list[Feed], repeat: int, versions: str, suite: dict[str, list[Timing]], checked: list[str]) -> str:
    runs = f"best of {repeat} runs" if repeat > 1 else "1 run"
    lines = [
        f"GTFS benchmark: {runs}; {versions}; gtfs-kit {gk.__version__}, pandas {pd.__version__}; "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at the end",
        "",
        results_table(feeds, suite),
        "",
        aims(feeds, suite),
        "",
        "Where the time goes (the runs above):",
        "",
    ]
    for feed in feeds:
        for timing in suite[feed.name]:
            lines += [phases_table(feed.name, timing), ""]
        lines += [checks_table(feed.name, suite[feed.name][0]), ""]
    lines += checked
    return "\n".join(lines)


# --- main ---------------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.gtfs", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--stop-times",
        type=int,
        default=1_000_000,
        help="stop times of the synthetic feed, at least (default 1,000,000)",
    )
    parser.add_argument("--seed", type=int, default=42, help="random seed of the synthetic feed")
    parser.add_argument("--repeat", type=int, default=1, help="runs of every method; the best is reported")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database afterwards")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    cluster = EmbeddedCluster(PROJECT_ROOT / "var")
    cluster.start()
    bench = BenchDatabase(cluster, f"bench_gtfs_{uuid.uuid4().hex[:8]}")
    try:
        bench.execute(*(f"ALTER TABLE {t} SET (autovacuum_enabled = off)" for t in GTFS_TABLES))
        with tempfile.TemporaryDirectory(prefix="bench_gtfs_") as tmp:
            progress(f"warm-up on a synthetic feed of at least {WARMUP_STOP_TIMES:,} stop times")
            run_suite(bench, [synthetic_feed(Path(tmp, "warmup"), WARMUP_STOP_TIMES, args.seed + 1)])
            progress(f"writing the synthetic feed (at least {args.stop_times:,} stop times)")
            feeds = [synthetic_feed(Path(tmp, "data"), args.stop_times, args.seed), cairns_feed()]
            suites, checked = [], []
            for run in range(1, args.repeat + 1):
                progress(f"run {run} of {args.repeat}")
                suite, checked = run_suite(bench, feeds)
                suites.append(suite)
        print(report(feeds, args.repeat, bench.versions(), best_of(suites), checked))
    finally:
        bench.close(keep=args.keep)


if __name__ == "__main__":
    main()
