"""Intake benchmark: sustained report submissions through the production server, with concurrent feed reads and
staff transitions, against the raw PostGIS limit of the same inserts.

A throwaway database; ``mapper:create_app`` under granian as production runs it (``--workers`` WSGI workers ×
``--threads`` blocking threads, rate limits ON in their production storage, ``database://``, with limits raised
far above the load and every report from its own client address, ``X-Forwarded-For`` behind one trusted proxy, so
the limiter's per-request upserts are paid as in production without refusing the benchmark). Closed loops of
keep-alive client threads on loopback (``bench.feeds.Connection``: pre-built requests, a minimal client) for
``--seconds``, in slices alternating with the raw reference:

* ``--writers`` threads POST GeoJSON Features to ``/api/layers/{layer}/reports`` (urban_life 45 %, water_quality
  35 %, crime 20 %; moderated "before"), each with a new ``Idempotency-Key``; one POST in ``REPLAY_EVERY`` re-sends
  an earlier key and body, which must answer the first response (same id, ``Idempotent-Replayed``);
* ``--readers`` threads GET OGC items pages (limit 100, a random 1 km bbox) of urban_life and water_quality;
* ``--staff`` threads move acknowledged reports on (``POST /api/reports/{id}/transitions``, an admin Bearer
  token): submitted → verified → in_progress → resolved;
* raw: ``--raw-threads`` psycopg2 connections run the rows intake writes, the report INSERT … RETURNING and its
  first status-history INSERT, one transaction each (no HTTP, no validation, no idempotency, no scores).

Then every acknowledged id (each 201's) is looked up: each must exist exactly once, and the database must hold
no report from the API beyond them.

    .venv/bin/python -m bench.intake [--seconds S] [--writers N] [--readers N] [--staff N] [--raw-threads N]
                                     [--raw-seconds S] [--workers W] [--threads T] [--seed S] [--keep]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import signal
import sys
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psycopg2
from psycopg2.extras import Json

from bench.feeds import Connection, Server, free_port
from bench.ingest import BenchDatabase, markdown_table, progress
from mapper.config import PROJECT_ROOT
from mapper.embedded_db import EmbeddedCluster
from mapper.services.demo import BOX
from mapper.services.tokens import create_api_token
from mapper.store.reports import HISTORY_COLUMNS

MIX = (("urban_life", 45), ("water_quality", 35), ("crime", 20))  # --mix
READ_LAYERS = ("urban_life", "water_quality")
BODIES_PER_LAYER = 500
CLIENT_ADDRESSES = 4096  # distinct X-Forwarded-For addresses the reports come from
REPLAY_EVERY = 50  # one POST in this many re-sends an earlier key and body
WARMUP_SECONDS = 3.0
SLICES = 3
STAFF_PATH = ("verified", "in_progress", "resolved")
AIM_RATE, AIM_P99_MS = 300.0, 100.0
SECRET = "bench-intake"
KM_PER_DEGREE = 111.32


# --- what is sent -------------------------------------------------------------------------------------
def random_point(rng: random.Random) -> list[float]:
    x0, y0, x1, y1 = BOX
    return [round(rng.uniform(x0, x1), 6), round(rng.uniform(y0, y1), 6)]


def properties(layer: str, rng: random.Random) -> dict:
    when = f"2026-0{rng.randint(1, 5)}-{rng.randint(10, 28)}T{rng.randint(10, 23)}:{rng.randint(10, 59)}:00Z"
    if layer == "urban_life":
        return {
            "sentiment": rng.choice(["positive", "negative"]),
            "theme": rng.choice(["safety", "lighting", "noise", "greenery", "sidewalks"]),
            "rating": rng.randint(1, 5),
            "observed_at": when,
            "comment": rng.choice(["", "Broken street light near the corner", "Lovely new trees"]),
        }
    if layer == "water_quality":
        return {
            "point_name": f"Tap {rng.randint(1, 200)}",
            "source_type": rng.choice(["piped_tap", "public_standpipe", "borehole"]),
            "functional_status": rng.choice(["functional", "partially_functional"]),
            "sampled_at": when,
            "e_coli_cfu_100ml": rng.choice([0, 0, 0, 2, 15]),
            "turbidity_ntu": round(rng.uniform(0.1, 6), 2),
            "ph": round(rng.uniform(6.2, 8.8), 2),
            "free_chlorine_mg_l": round(rng.uniform(0, 1.5), 2),
        }
    return {
        "category": rng.choice(["theft", "burglary", "vandalism", "assault"]),
        "severity": rng.randint(1, 5),
        "occurred_at": when,
        "description": rng.choice(["", "Bike stolen from the rack"]),
        "reported_to_police": rng.choice([True, False]),
    }


@dataclass
class Body:
    layer: str
    json: bytes
    doc: dict


def bodies(rng: random.Random) -> dict[str, list[Body]]:
    out = {}
    for layer, _ in MIX:
        out[layer] = []
        for _ in range(BODIES_PER_LAYER):
            doc = {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": random_point(rng)},
                "properties": properties(layer, rng),
            }
            out[layer].append(Body(layer, json.dumps(doc).encode(), doc))
    return out


def post_request(port: int, body: Body, key: str, address: str) -> bytes:
    head = (
        f"POST /api/layers/{body.layer}/reports HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/geo+json\r\nContent-Length: {len(body.json)}\r\n"
        f"Idempotency-Key: {key}\r\nX-Forwarded-For: {address}\r\n\r\n"
    )
    return head.encode() + body.json


def items_paths(rng: random.Random, count: int = 200) -> list[str]:
    x0, y0, x1, y1 = BOX
    h = 1 / KM_PER_DEGREE
    w = h / np.cos(np.radians((y0 + y1) / 2))
    paths = []
    for i in range(count):
        left, bottom = rng.uniform(x0, x1 - w), rng.uniform(y0, y1 - h)
        bbox = ",".join(f"{v:.6f}" for v in (left, bottom, left + w, bottom + h))
        paths.append(f"/ogc/collections/{READ_LAYERS[i % len(READ_LAYERS)]}/items?limit=100&bbox={bbox}")
    return paths


# --- the load -----------------------------------------------------------------------------------------
@dataclass
class Kind:
    """What one kind of request measured: latencies (s) and failures."""

    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def add(self, other: Kind) -> None:
        self.latencies += other.latencies
        self.errors += other.errors

    def pct(self, q: float) -> float:
        return float(np.percentile(self.latencies, q)) * 1000 if self.latencies else float("nan")


@dataclass
class Tally:
    """Everything one run (all slices) measured."""

    kinds: dict[str, Kind] = field(default_factory=lambda: {k: Kind() for k in KINDS})
    seconds: dict[str, float] = field(default_factory=lambda: {"http": 0.0, "raw": 0.0})
    acknowledged: list[int] = field(default_factory=list)  # ids of 201s (first submissions)
    raw_ids: list[int] = field(default_factory=list)
    raw_stored: int = 0  # raw rows found before they were deleted
    client_cpu: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


KINDS = (
    "report POST",
    *(f"  {layer}" for layer, _ in MIX),  # the report POSTs by layer (errors are counted on the row above)
    "replayed POST",
    "items GET",
    "transition POST",
    "raw INSERT",
)


class Shared:
    """State the client threads share: reports waiting for their next transition, sent keys for replays."""

    def __init__(self, mix):
        self.mix = mix
        self.to_move: deque[tuple[int, int]] = deque()  # (id, index of the next status in STAFF_PATH)
        self.sent: deque[tuple[str, Body, int]] = deque(maxlen=2000)  # (key, body, id) acknowledged
        self.addresses = itertools.cycle(f"10.{i // 250}.{i % 250}.{1 + i % 7}" for i in range(CLIENT_ADDRESSES))


def writer(port: int, deadline: float, all_bodies: dict[str, list[Body]], shared: Shared, tally: Tally, seed: int):
    rng = random.Random(seed)
    layers = [layer for layer, weight in shared.mix for _ in range(weight)]
    conn = Connection(port)
    first, replays, acked = Kind(), Kind(), []
    by_layer = {layer: Kind() for layer, _ in MIX}
    n = 0
    try:
        while time.perf_counter() < deadline:
            n += 1
            replay = n % REPLAY_EVERY == 0 and shared.sent
            if replay:
                key, body, expected = shared.sent[rng.randrange(len(shared.sent))]
            else:
                key, body, expected = str(uuid.uuid4()), rng.choice(all_bodies[rng.choice(layers)]), None
            request = post_request(port, body, key, next(shared.addresses))
            t0 = time.perf_counter()
            try:
                status, headers, payload = conn.send(request)
            except (OSError, EOFError, ValueError) as e:
                conn.close()
                status, headers, payload = repr(e), {}, b""
            elapsed = time.perf_counter() - t0
            kind = replays if replay else first
            kind.latencies.append(elapsed)
            if not replay:
                by_layer[body.layer].latencies.append(elapsed)
            if status != 201:
                kind.errors.append(f"{body.layer}: {status} {payload[:200]!r}")
                continue
            report_id = json.loads(payload)["id"]
            if replay:
                if report_id != expected or headers.get("idempotent-replayed") != "true":
                    kind.errors.append(f"replay of {key}: id {report_id}, expected {expected}, {headers}")
                continue
            acked.append(report_id)
            shared.sent.append((key, body, report_id))
            shared.to_move.append((report_id, 0))
    finally:
        conn.close()
        with tally.lock:
            tally.kinds["report POST"].add(first)
            tally.kinds["replayed POST"].add(replays)
            for layer, kind in by_layer.items():
                tally.kinds[f"  {layer}"].add(kind)
            tally.acknowledged += acked


def reader(port: int, deadline: float, paths: list[str], tally: Tally, seed: int):
    rng = random.Random(seed)
    conn, kind = Connection(port), Kind()
    try:
        while time.perf_counter() < deadline:
            path = rng.choice(paths)
            t0 = time.perf_counter()
            try:
                status, body = conn.get(path)
            except (OSError, EOFError, ValueError) as e:
                conn.close()
                status, body = repr(e), b""
            kind.latencies.append(time.perf_counter() - t0)
            if status != 200:
                kind.errors.append(f"{path}: {status} {body[:200]!r}")
    finally:
        conn.close()
        with tally.lock:
            tally.kinds["items GET"].add(kind)


def staff(port: int, deadline: float, token: str, shared: Shared, tally: Tally):
    conn, kind = Connection(port), Kind()
    try:
        while time.perf_counter() < deadline:
            try:
                report_id, step = shared.to_move.popleft()
            except IndexError:
                time.sleep(0.005)
                continue
            body = json.dumps({"to": STAFF_PATH[step], "note": "bench"}).encode()
            request = (
                f"POST /api/reports/{report_id}/transitions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode() + body
            t0 = time.perf_counter()
            try:
                status, _, payload = conn.send(request)
            except (OSError, EOFError, ValueError) as e:
                conn.close()
                status, payload = repr(e), b""
            kind.latencies.append(time.perf_counter() - t0)
            if status != 200:
                kind.errors.append(f"report {report_id} to {STAFF_PATH[step]}: {status} {payload[:200]!r}")
            elif step + 1 < len(STAFF_PATH):
                shared.to_move.append((report_id, step + 1))
    finally:
        conn.close()
        with tally.lock:
            tally.kinds["transition POST"].add(kind)


def http_load(args, port: int, token: str, all_bodies, paths, shared: Shared, tally: Tally, seconds: float) -> None:
    """The three kinds of clients at once for ``seconds``."""
    cpu, started = time.process_time(), time.perf_counter()
    deadline = started + seconds
    threads = [
        *(
            threading.Thread(target=writer, args=(port, deadline, all_bodies, shared, tally, hash((args.seed, i))))
            for i in range(args.writers)
        ),
        *(
            threading.Thread(target=reader, args=(port, deadline, paths, tally, hash((args.seed, "r", i))))
            for i in range(args.readers)
        ),
        *(threading.Thread(target=staff, args=(port, deadline, token, shared, tally)) for _ in range(args.staff)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    tally.seconds["http"] += time.perf_counter() - started
    tally.client_cpu += time.process_time() - cpu


# --- the raw reference --------------------------------------------------------------------------------
RAW_REPORT = (
    "INSERT INTO reports (layer, geom, properties, private, status, source, tracking_hash, public_precision_m, "
    "observed_at) VALUES (%(layer)s, ST_GeomFromText(%(wkt)s, 4326), %(public)s, %(private)s, 'submitted', "
    "'bench-raw', %(hash)s, %(precision)s, %(observed)s) RETURNING id, created_at, observed_at"
)
RAW_HISTORY = (
    f"INSERT INTO status_history ({HISTORY_COLUMNS}) "
    "VALUES (%s, 'submitted', NULL, NULL, 'Report received', NULL, 'bench-raw', NULL) RETURNING id, changed_at"
)


def raw_rows(registry, all_bodies) -> list[dict]:
    """The parameters of the rows intake writes for the pre-built bodies (public and private split as it does)."""
    rows = []
    for layer_id, items in all_bodies.items():
        layer = registry.get(layer_id)
        for body in items:
            props = body.doc["properties"]
            public = {f.name: props.get(f.name) for f in layer.fields if f.public}
            private = {f.name: props.get(f.name) for f in layer.fields if not f.public}
            lon, lat = body.doc["geometry"]["coordinates"]
            rows.append(
                {
                    "layer": f"raw_{layer_id}",
                    "wkt": f"POINT({lon} {lat})",
                    "public": Json(public),
                    "private": Json(private),
                    "precision": layer.precision_m,
                    "observed": props.get(layer.time_field) if layer.time_field else None,
                }
            )
    return rows


def raw_load(dsn: str, rows: list[dict], threads: int, seconds: float, tally: Tally) -> None:
    """``threads`` connections inserting for ``seconds``, then their rows counted (into ``tally``). The rows go to
    layers of their own (``raw_<layer>``), so the layers the HTTP load writes, scores and reads hold only the
    API's reports (status history is append-only: nothing is deleted)."""
    started = time.perf_counter()
    deadline = started + seconds

    def run(seed: int) -> None:
        rng = random.Random(seed)
        conn = psycopg2.connect(dsn)
        kind, ids = Kind(), []
        try:
            with conn.cursor() as cur:
                while time.perf_counter() < deadline:
                    row = dict(rng.choice(rows), hash=os.urandom(32))
                    t0 = time.perf_counter()
                    cur.execute(RAW_REPORT, row)
                    report_id = cur.fetchone()[0]
                    cur.execute(RAW_HISTORY, (report_id,))
                    cur.fetchone()
                    conn.commit()
                    kind.latencies.append(time.perf_counter() - t0)
                    ids.append(report_id)
        finally:
            conn.close()
            with tally.lock:
                tally.kinds["raw INSERT"].add(kind)
                tally.raw_ids += ids

    before = len(tally.raw_ids)
    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    tally.seconds["raw"] += time.perf_counter() - started
    ids = tally.raw_ids[before:]
    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM reports WHERE id = ANY(%s) AND source = 'bench-raw'", (ids,))
            tally.raw_stored += cur.fetchone()[0]
    finally:
        conn.close()


# --- the server ---------------------------------------------------------------------------------------
def start_server(url: str, logs: Path, workers: int, threads: int) -> Server:
    """granian as production starts it (the Dockerfile's command, with this machine's worker count)."""
    port = free_port()
    env = dict(
        os.environ,
        MAPPER_DATABASE_URL=url,
        MAPPER_SECRET_KEY=SECRET,
        MAPPER_TILES_URL='""',
        MAPPER_TRUSTED_PROXIES="1",  # every report comes from its own X-Forwarded-For address
        MAPPER_RATELIMIT_INTAKE='"100000 per minute; 1000000 per hour"',  # the limiter runs, refusing nobody
    )
    argv = [
        str(PROJECT_ROOT / ".venv" / "bin" / "granian"),
        *("--interface", "wsgi", "--host", "127.0.0.1", "--port", str(port)),
        *("--workers", str(workers), "--blocking-threads", str(threads)),
        *("--no-access-log", "--factory", "mapper:create_app"),
    ]
    return Server("ours (granian)", argv, env, PROJECT_ROOT, port, "/healthz", logs / "server.log")


# --- checks and report --------------------------------------------------------------------------------
@dataclass
class Check:
    acknowledged: int
    distinct: int
    stored: int  # acknowledged ids found in reports
    api_rows: int  # every report the API wrote
    raw_acknowledged: int
    raw_stored: int

    @property
    def lost(self) -> int:
        return self.distinct - self.stored

    @property
    def extra(self) -> int:
        return self.api_rows - self.distinct + (self.acknowledged - self.distinct)

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.extra == 0 and self.raw_acknowledged == self.raw_stored


def check_rows(dsn: str, tally: Tally) -> Check:
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM reports WHERE id = ANY(%s)", (tally.acknowledged,))
            stored = cur.fetchone()[0]
            cur.execute("SELECT count(*) FROM reports WHERE source LIKE 'api%%'")
            api_rows = cur.fetchone()[0]
    finally:
        conn.close()
    return Check(
        len(tally.acknowledged), len(set(tally.acknowledged)), stored, api_rows, len(tally.raw_ids), tally.raw_stored
    )


def ms(value: float) -> str:
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def table(tally: Tally) -> str:
    header = ("requests", "count", "per s", "p50 ms", "p99 ms", "errors")  # markdown_table keeps leading spaces
    rows = []
    for name in KINDS:
        kind = tally.kinds[name]
        seconds = tally.seconds["raw" if name == "raw INSERT" else "http"]
        label = name if name != "raw INSERT" else "raw INSERT report + history (psycopg2, same run)"
        if name.startswith(" ") and not kind.latencies:
            continue
        rows.append(
            (
                label,
                f"{len(kind.latencies):,}",
                f"{len(kind.latencies) / seconds:.1f}" if seconds else "-",
                ms(kind.pct(50)),
                ms(kind.pct(99)),
                "" if name.startswith(" ") else str(len(kind.errors)),
            )
        )
    return markdown_table(header, rows)


def report(args, versions: str, load_before: float, tally: Tally, check: Check) -> str:
    posts = tally.kinds["report POST"]
    rate = len(posts.latencies) / tally.seconds["http"]
    raw_rate = len(tally.kinds["raw INSERT"].latencies) / tally.seconds["raw"]
    errors = sum(len(k.errors) for name, k in tally.kinds.items() if not name.startswith(" "))
    mark = lambda ok: "met" if ok else "NOT met"  # noqa: E731
    lines = [
        f"Intake benchmark: {versions}; granian {args.workers} WSGI workers × {args.threads} threads, rate limits "
        f"on (database://); {os.cpu_count()} CPUs shared by PostgreSQL, the server and the client "
        f"(load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after).",
        f"Load: {args.writers} writer, {args.readers} reader and {args.staff} staff keep-alive threads for "
        f"{tally.seconds['http']:.0f} s, in {SLICES} slices alternating with {args.raw_threads} raw threads "
        f"({tally.seconds['raw']:.0f} s); mix {', '.join(f'{layer} {w} %' for layer, w in args.mix)}; one POST in "
        f"{REPLAY_EVERY} a replay of an earlier Idempotency-Key. The client threads used "
        f"{tally.client_cpu / tally.seconds['http']:.0%} of one CPU.",
        "",
        table(tally),
        "",
        f"Rows: {check.acknowledged:,} reports acknowledged (201), {check.distinct:,} distinct ids, {check.stored:,} "
        f"of them stored, {check.api_rows:,} API rows in the database: lost {check.lost}, extra {check.extra}; "
        f"raw: {check.raw_acknowledged:,} committed, {check.raw_stored:,} stored.",
        f"ours / raw = {rate / raw_rate:.0%} of the raw inserts' rate.",
        "",
        f"reports/s {rate:.1f} (aim ≥ {AIM_RATE:g}: {mark(rate >= AIM_RATE)}); p99 {ms(posts.pct(99))} ms "
        f"(aim < {AIM_P99_MS:g} ms: {mark(posts.pct(99) < AIM_P99_MS)}); errors {errors} (aim 0: {mark(errors == 0)}); "
        f"lost {check.lost}, extra {check.extra} (aim 0: {mark(check.ok)})",
    ]
    for name in KINDS:
        for e in tally.kinds[name].errors[:3]:
            lines.append(f"  {name} error: {e}")
    return "\n".join(lines)


# --- in process ---------------------------------------------------------------------------------------
def pieces(engine, registry, all_bodies, n: int) -> str:
    """Median µs per report of intake's pieces, in process and serially, over ``n`` reports of the mix: parsing
    the body, ``validate_feature`` (per layer), and the whole ``submit_report`` (a transaction and commit each)."""
    from mapper.services import intake

    layers = [layer for layer, weight in MIX for _ in range(weight)]
    rng = random.Random(0)
    sample = [rng.choice(all_bodies[rng.choice(layers)]) for _ in range(n)]
    times: dict[str, list[float]] = {}
    for body in sample:
        layer = registry.report_layer(body.layer)
        t0 = time.perf_counter()
        doc = intake.parse_json_body(body.json)
        t1 = time.perf_counter()
        intake.validate_feature(layer, doc, None, intake.DEFAULT_LIMITS)
        t2 = time.perf_counter()
        intake.submit_report(engine, registry, body.layer, body.json, idempotency_key=str(uuid.uuid4()), secret=SECRET)
        t3 = time.perf_counter()
        times.setdefault("parse_json_body", []).append(t1 - t0)
        times.setdefault(f"validate_feature ({body.layer})", []).append(t2 - t1)
        times.setdefault(f"submit_report ({body.layer})", []).append(t3 - t2)
    rows = [(name, f"{len(v):,}", f"{np.median(v) * 1e6:.0f}") for name, v in sorted(times.items())]
    return markdown_table(("piece", "reports", "median µs"), rows)


def profile(engine, registry, all_bodies, n: int, top: int = 30) -> str:
    """cProfile of ``submit_report`` over ``n`` reports of the mix, in process: the functions by own time."""
    import cProfile
    import io
    import pstats

    from mapper.services import intake

    layers = [layer for layer, weight in MIX for _ in range(weight)]
    rng = random.Random(1)
    sample = [rng.choice(all_bodies[rng.choice(layers)]) for _ in range(n)]
    prof = cProfile.Profile()
    prof.enable()
    for body in sample:
        intake.submit_report(engine, registry, body.layer, body.json, idempotency_key=str(uuid.uuid4()), secret=SECRET)
    prof.disable()
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


# --- main ---------------------------------------------------------------------------------------------
def mix_arg(text: str) -> tuple[tuple[str, int], ...]:
    mix = tuple((layer, int(weight)) for layer, _, weight in (part.partition("=") for part in text.split(",")))
    known = {layer for layer, _ in MIX}
    if not mix or any(layer not in known or weight < 0 for layer, weight in mix) or not sum(w for _, w in mix):
        raise argparse.ArgumentTypeError(f"layer=weight,… with layers among {', '.join(sorted(known))}")
    return mix


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.intake", description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="seconds of HTTP load (default 30)")
    parser.add_argument("--raw-seconds", type=float, default=10.0, help="seconds of raw inserts (default 10)")
    parser.add_argument("--writers", type=int, default=4, help="report POST threads (default 4)")
    parser.add_argument("--readers", type=int, default=1, help="items GET threads (default 1)")
    parser.add_argument("--staff", type=int, default=1, help="transition threads (default 1)")
    parser.add_argument("--raw-threads", type=int, default=4, help="raw insert connections (default 4)")
    parser.add_argument("--workers", type=int, default=2, help="granian workers (default 2)")
    parser.add_argument("--threads", type=int, default=4, help="granian blocking threads per worker (default 4)")
    parser.add_argument(
        "--mix",
        type=mix_arg,
        default=MIX,
        help="layers of the POSTs and their weights (default: urban_life=45,water_quality=35,crime=20)",
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database afterwards")
    parser.add_argument(
        "--profile",
        type=int,
        metavar="N",
        help="instead of the load: intake's pieces timed and cProfile of submit_report over N reports, in process",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    import tempfile

    from mapper.domain.layers import load_registry

    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # stop the server and drop the database on TERM too
    registry = load_registry(PROJECT_ROOT / "layers")
    rng = random.Random(args.seed)
    all_bodies, paths = bodies(rng), items_paths(rng)
    rows = raw_rows(registry, all_bodies)
    cluster = EmbeddedCluster(PROJECT_ROOT / "var")
    cluster.start()
    load_before = os.getloadavg()[0]
    bench = BenchDatabase(cluster, f"bench_intake_{uuid.uuid4().hex[:8]}", peer_table=False)
    dsn = bench.url.replace("postgresql+psycopg2://", "postgresql://")
    server = None
    try:
        if args.profile:
            print(pieces(bench.engine, registry, all_bodies, args.profile))
            print(profile(bench.engine, registry, all_bodies, args.profile))
            return
        token = create_api_token(bench.engine, "admin", "bench-intake")
        with tempfile.TemporaryDirectory(prefix="bench_intake_") as tmp:
            server = start_server(bench.url, Path(tmp), args.workers, args.threads)
            shared = Shared(args.mix)
            progress(f"warm-up, {WARMUP_SECONDS:g} s")
            warm = Tally()
            http_load(args, server.port, token, all_bodies, paths, shared, warm, WARMUP_SECONDS)
            raw_load(dsn, rows, args.raw_threads, 1.0, warm)
            tally = Tally(acknowledged=list(warm.acknowledged))
            for i in range(SLICES):
                progress(
                    f"slice {i + 1}/{SLICES}: HTTP {args.seconds / SLICES:g} s, raw {args.raw_seconds / SLICES:g} s"
                )
                http_load(args, server.port, token, all_bodies, paths, shared, tally, args.seconds / SLICES)
                raw_load(dsn, rows, args.raw_threads, args.raw_seconds / SLICES, tally)
            server.stop()
            log_errors = [line for line in server.log.read_text(errors="replace").splitlines() if "Traceback" in line]
        check = check_rows(dsn, tally)
        print(report(args, bench.versions(), load_before, tally, check))
        if log_errors:
            print(f"The server logged {len(log_errors)} tracebacks.")
    finally:
        if server is not None:
            server.stop()
        bench.close(keep=args.keep)


if __name__ == "__main__":
    main()
