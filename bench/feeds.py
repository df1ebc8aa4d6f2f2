"""Feeds benchmark: our OGC API items and vector tiles against tipg serving the same table, and against raw SQL.

N synthetic ``crime`` reports are loaded with our importer (``import_frame``) into a throwaway database, then
VACUUM ANALYZE. Two servers read that database during the same run:

* ours   ``mapper:create_app`` under granian (2 WSGI workers, 4 threads each), anonymous, so the
         public view of the sensitive crime layer is what is measured: public fields only, locations
         generalised to the 250 m grid (and bbox-filtered on them), hidden statuses left out; rendered
         tiles are cached per process and layer data version, so the first request of each tile (made
         while the responses are checked, one client) is also reported, as "cold";
* tipg   ``tipg.main:app`` under gunicorn with uvicorn workers (2), from a separate virtualenv outside the
         project (made on first use), serving ``public.reports`` with its properties limited to
         ``properties``, ``status`` and ``observed_at`` (exact locations: tipg has no privacy view).

For each query (items at limit 100, 1,000 and 10,000 with a bbox; MVT tiles at z10…z16) a closed loop of
``--concurrency`` client threads (one keep-alive connection each, a minimal HTTP client: ``Connection``) sends
the same deterministic list of requests to one server at a time, in slices alternating between the servers,
``--duration`` seconds per server in all: requests/s, p50 and p95. Then our endpoint with one client is timed
interleaved, request by request, with the SQL it runs (``page_sql`` / ``tile_statement``, psycopg2, its rows
fetched: "raw SQL"), for the us/raw-SQL ratio.

    .venv/bin/python -m bench.feeds [--rows N] [--duration S] [--concurrency C] [--repeat R] [--seed S]
                                    [--tipg-venv DIR] [--only items|tiles] [--keep] [--database NAME]
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import numpy as np

from bench.ingest import BBOX, LAYER_ID, BenchDatabase, markdown_table, progress, synthetic_crimes
from mapper import create_app, db
from mapper.config import PROJECT_ROOT
from mapper.domain.layers import load_registry
from mapper.domain.privacy import View, view_for
from mapper.embedded_db import EmbeddedCluster
from mapper.services import feeds
from mapper.services.importer import import_frame
from mapper.services.tiles import tile_statement
from mapper.store import features as store

ITEM_LIMITS = (100, 1_000, 10_000)
TILE_ZOOMS = tuple(range(10, 17))
BBOXES_PER_QUERY = 20
TILES_PER_ZOOM = 20
BBOX_KM = 1.0  # side of the items bboxes, enlarged where the data are too sparse to fill a page
FILL = 2.0  # a bbox is sized to hold on average this many times the limit
KM_PER_DEGREE = 111.32
MAX_FEATURES_PER_TILE = 10_000  # ours (config default) and tipg's default alike
TIPG_COLLECTION = "public.reports"
TIPG_PROPERTIES = ("properties", "status", "observed_at")  # the columns tipg publishes
TIPG_PACKAGES = ("tipg", "uvicorn", "uvicorn-worker", "gunicorn")
WORKERS, THREADS = 2, 4
HEADERS = {"Accept": "application/geo+json"}  # and no Accept-Encoding: no compression
AIM_VS_TIPG = {100: 10.0, 10_000: 2.0}  # ours req/s at least this many times tipg's, per limit
AIM_VS_RAW = 1.5  # our serial p50 at most this many times the raw SQL p50
AIM_TILE_P95_MS = 50.0
SLICES = 5  # alternating load slices per server and query (× --repeat)
SERIAL_PASSES = 5  # one-client passes over a query's requests, interleaved with the raw SQL


# --- data ---------------------------------------------------------------------------------------------
def load_reports(bench: BenchDatabase, registry, n: int, seed: int) -> float:
    """``n`` synthetic crime reports through our importer, then VACUUM ANALYZE; the seconds it took."""
    started = time.perf_counter()
    gdf = synthetic_crimes(registry.get(LAYER_ID), n, seed)
    result = import_frame(bench.engine, registry.get(LAYER_ID), gdf, "bench-feeds.gpkg", source="bench")
    if result.rows != n:
        raise RuntimeError(f"expected {n} imported rows, got {result.rows}")
    bench.execute(f"VACUUM (ANALYZE) {', '.join(bench.tables)}", "CHECKPOINT")
    return time.perf_counter() - started


# --- what is asked ------------------------------------------------------------------------------------
def area_km2(box) -> float:
    x0, y0, x1, y1 = box
    return (x1 - x0) * KM_PER_DEGREE * math.cos(math.radians((y0 + y1) / 2)) * (y1 - y0) * KM_PER_DEGREE


def bbox_side_km(rows: int, limit: int) -> float:
    """``BBOX_KM``, or larger where a bbox of that size would hold fewer than ``FILL`` × limit reports."""
    return max(BBOX_KM, math.sqrt(FILL * limit / (rows / area_km2(BBOX))))


def random_bboxes(rng: np.random.Generator, side_km: float, count: int) -> list[tuple[float, ...]]:
    """``count`` squares of ``side_km`` inside the data's extent (the whole extent if they would not fit)."""
    x0, y0, x1, y1 = BBOX
    h = min(side_km / KM_PER_DEGREE, y1 - y0)
    w = min(side_km / (KM_PER_DEGREE * math.cos(math.radians((y0 + y1) / 2))), x1 - x0)
    boxes = []
    for _ in range(count):
        left, bottom = rng.uniform(x0, x1 - w), rng.uniform(y0, y1 - h)
        boxes.append(tuple(round(v, 6) for v in (left, bottom, left + w, bottom + h)))
    return boxes


def tile_xy(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return min(x, n - 1), min(y, n - 1)


def data_tiles(rng: np.random.Generator, z: int, count: int) -> list[tuple[int, int, int]]:
    """Up to ``count`` tiles of zoom ``z`` over the data: inside its extent where enough are, else touching it."""
    (xa, ya), (xb, yb) = tile_xy(BBOX[0], BBOX[3], z), tile_xy(BBOX[2], BBOX[1], z)
    touching = [(z, x, y) for x in range(xa, xb + 1) for y in range(ya, yb + 1)]
    inside = [(z, x, y) for (_, x, y) in touching if xa < x < xb and ya < y < yb]
    pool = inside if len(inside) >= count else touching
    picked = rng.choice(len(pool), size=min(count, len(pool)), replace=False)
    return [pool[i] for i in picked]


@dataclass
class Query:
    """One row of the table: the same requests to both servers, and the SQL our endpoint runs for each."""

    name: str
    ours: list[str]
    tipg: list[str]
    sql: list[tuple[str, dict]]
    limit: int | None = None  # items: features expected per response
    zoom: int | None = None
    note: str = ""


def page_sql(engine, q: feeds.FeedQuery) -> tuple[str, dict]:
    """The one statement ``feeds.PageReader.read_page`` runs for ``q``."""
    with db.cursor(engine) as cur:
        where = q.where()
        return store.page_sql(
            q.view, where, after=q.after, before=q.before, limit=q.limit, estimate=store.estimate_for(cur, where)
        )


def items_queries(view: View, rows: int, rng: np.random.Generator, engine) -> list[Query]:
    queries = []
    for limit in ITEM_LIMITS:
        side = bbox_side_km(rows, limit)
        boxes = random_bboxes(rng, side, BBOXES_PER_QUERY)
        ours, tipg, sql = [], [], []
        for box in boxes:
            args = {"limit": limit, "bbox": ",".join(map(str, box))}
            ours.append(f"/ogc/collections/{LAYER_ID}/items?{urlencode(args)}")
            tipg.append(f"/collections/{TIPG_COLLECTION}/items?{urlencode(args)}")
            sql.append(page_sql(engine, feeds.FeedQuery(view, limit=limit, bboxes=[box])))
        queries.append(
            Query(
                f"items limit {limit:,}",
                ours,
                tipg,
                sql,
                limit=limit,
                note=f"{min(side, area_km2(BBOX) ** 0.5):.1f} km bbox",
            )
        )
    return queries


def tile_queries(view: View, rng: np.random.Generator, engine) -> list[Query]:
    queries = []
    for z in TILE_ZOOMS:
        tiles = data_tiles(rng, z, TILES_PER_ZOOM)
        queries.append(
            Query(
                f"tiles z{z}",
                [f"/tiles/{LAYER_ID}/{z}/{x}/{y}.mvt" for _, x, y in tiles],
                [f"/collections/{TIPG_COLLECTION}/tiles/WebMercatorQuad/{z}/{x}/{y}" for _, x, y in tiles],
                [tile_sql(engine, view, tile) for tile in tiles],
                zoom=z,
                note=f"{len(tiles)} tiles",
            )
        )
    return queries


def tile_sql(engine, view: View, tile: tuple[int, int, int]) -> tuple[str, dict]:
    """The statement our tile endpoint runs for ``tile`` (``tiles.tile_statement``)."""
    with db.cursor(engine) as cur:
        return tile_statement(cur, feeds.FeedQuery(view, limit=None, tile=tile), MAX_FEATURES_PER_TILE)


# --- servers ------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A server in its own process group on a free loopback port, up once its health URL answers 200."""

    def __init__(self, name: str, argv: list[str], env: dict, cwd: Path, port: int, health: str, log: Path):
        self.name, self.port, self.log = name, port, log
        with open(log, "w") as out:
            self.proc = subprocess.Popen(
                argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + 120
        while not self._healthy(health):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{name} did not start; its log ends:\n{self.log_tail()}")
            time.sleep(0.25)

    def _healthy(self, path: str) -> bool:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            conn.request("GET", path)
            return conn.getresponse().status == 200
        except OSError:
            return False
        finally:
            conn.close()

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # the group this server started, nothing else
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def start_ours(url: str, logs: Path) -> Server:
    port = free_port()
    env = dict(
        os.environ,
        MAPPER_DATABASE_URL=url,
        MAPPER_TILES_URL='""',
        MAPPER_SECRET_KEY="bench",
        MAPPER_MAX_FEATURES_PER_TILE=str(MAX_FEATURES_PER_TILE),
        MAPPER_RATELIMIT_ENABLED="false",  # a benchmark measures the feeds, not the limiter
    )
    argv = [
        str(PROJECT_ROOT / ".venv" / "bin" / "granian"),
        "--interface",
        "wsgi",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(WORKERS),
        "--blocking-threads",
        str(THREADS),
        "--no-access-log",
        "--factory",
        "mapper:create_app",
    ]
    return Server("ours (granian)", argv, env, PROJECT_ROOT, port, "/healthz", logs / "ours.log")


def ensure_tipg(venv: Path) -> Path:
    """The virtualenv's Python with tipg and uvicorn, made with ``python3 -m venv`` + pip if missing."""
    python = venv / "bin" / "python"
    check = [str(python), "-c", "import tipg, uvicorn, uvicorn_worker, gunicorn"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    progress(f"installing {' '.join(TIPG_PACKAGES)} into {venv}")
    subprocess.run(["python3", "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", *TIPG_PACKAGES], check=True)
    subprocess.run(check, check=True)
    return python


def tipg_version(python: Path) -> str:
    code = "import tipg, uvicorn, gunicorn; print(tipg.__version__, uvicorn.__version__, gunicorn.__version__)"
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True).stdout.split()
    return f"tipg {out[0]} (uvicorn {out[1]}, gunicorn {out[2]})"


def start_tipg(python: Path, url: str, logs: Path) -> Server:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TIPG_", "MAPPER_"))}
    env.update(
        {
            "DATABASE_URL": url.replace("postgresql+psycopg2://", "postgresql://"),
            "TIPG_DB_SCHEMAS": '["public"]',
            "TIPG_DB_TABLES": f'["{TIPG_COLLECTION}"]',
            "TIPG_DB_FUNCTIONS": "[]",
            f"TIPG_TABLE_CONFIG__{TIPG_COLLECTION.replace('.', '_')}__PROPERTIES": json.dumps(list(TIPG_PROPERTIES)),
            "TIPG_MAX_FEATURES_PER_TILE": str(MAX_FEATURES_PER_TILE),
            "TIPG_CATALOG_TTL": "0",  # no catalog refresh (extent scans) in the middle of a measurement
        }
    )
    # gunicorn with uvicorn workers, not `uvicorn --workers 2`: the latter's sockets lack TCP_NODELAY, which
    # stalls every response after the first on a keep-alive connection by ~40 ms (Nagle + delayed ACK).
    argv = [
        str(python.with_name("gunicorn")),
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(WORKERS),
        "--worker-class",
        "uvicorn_worker.UvicornWorker",
        "--timeout",
        "300",
        "--no-control-socket",
        "tipg.main:app",
    ]
    # cwd outside the project: tipg's settings also read a ./.env file
    return Server("tipg (gunicorn + uvicorn)", argv, env, logs, port, "/healthz", logs / "tipg.log")


# --- load ---------------------------------------------------------------------------------------------
@dataclass
class Load:
    """One closed-loop run: per-request latencies (s) over ``seconds`` of wall-clock time."""

    latencies: list[float]
    seconds: float
    errors: list[str] = field(default_factory=list)
    client_cpu: float = 0.0  # CPU seconds of this process (the client threads) during the run

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    def pct(self, q: float) -> float:
        return float(np.percentile(self.latencies, q)) * 1000  # ms

    @property
    def p50(self) -> float:
        return self.pct(50)

    @property
    def p95(self) -> float:
        return self.pct(95)


class Connection:
    """A minimal HTTP/1.1 keep-alive client for GETs on loopback: the request in one write, the response read by
    its Content-Length (or chunks). http.client spends ~0.3 ms of CPU per response (its header parsing goes
    through email.parser); that would count in every server's latency, and under load take CPU from the
    servers on this 2-CPU machine. The same client is used for both servers."""

    def __init__(self, port: int, timeout: float = 300):
        self.port, self.timeout = port, timeout
        self.sock: socket.socket | None = None
        self.buf = b""
        self.request_head = (f"Host: 127.0.0.1:{port}\r\nAccept: {HEADERS['Accept']}\r\n\r\n").encode()

    def get(self, path: str) -> tuple[int, bytes]:
        """GET ``path``; a keep-alive connection that the server closed meanwhile is reopened once (as
        urllib3 does), any other failure is raised."""
        status, _, body = self.send(b"GET " + path.encode() + b" HTTP/1.1\r\n" + self.request_head)
        return status, body

    def send(self, request: bytes) -> tuple[int, dict[str, str], bytes]:
        """Send one whole HTTP/1.1 request (head and body, prepared by the caller); its status, headers
        (lower-case names) and body. A keep-alive connection the server closed meanwhile is reopened once."""
        reused = self.sock is not None
        try:
            return self._exchange(request)
        except (ConnectionError, EOFError):
            self.close()
            if not reused:
                raise
            return self._exchange(request)

    def _exchange(self, request: bytes) -> tuple[int, dict[str, str], bytes]:
        if self.sock is None:
            self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=self.timeout)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.buf = b""
        self.sock.sendall(request)
        head = self._read_until(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        if headers.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while size := int(self._read_until(b"\r\n").split(b";")[0], 16):
                parts.append(self._read(size + 2)[:-2])
            self._read_until(b"\r\n")  # the empty trailer
            body = b"".join(parts)
        else:
            body = self._read(int(headers.get("content-length", 0)))
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, headers, body

    def _fill(self) -> None:
        data = self.sock.recv(1 << 18)
        if not data:
            raise EOFError("the server closed the connection")
        self.buf += data

    def _read_until(self, marker: bytes) -> bytes:
        while (end := self.buf.find(marker)) < 0:
            self._fill()
        out, self.buf = self.buf[:end], self.buf[end + len(marker) :]
        return out

    def _read(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock, self.buf = None, b""


def run_load(port: int, paths: list[str], concurrency: int, duration: float) -> Load:
    """``concurrency`` threads, each with one keep-alive connection, send ``paths`` in turn until
    ``duration`` seconds have passed and every path was sent at least once."""
    counter, lock = itertools.count(), threading.Lock()
    latencies: list[float] = []
    errors: list[str] = []
    cpu = time.process_time()
    started = time.perf_counter()
    deadline = started + duration

    def client() -> None:
        conn = Connection(port)
        mine = []
        try:
            while True:
                i = next(counter)
                if i >= len(paths) and time.perf_counter() >= deadline:
                    break
                t0 = time.perf_counter()
                try:
                    status, _ = conn.get(paths[i % len(paths)])
                except (OSError, EOFError, ValueError) as e:
                    conn.close()
                    status = repr(e)
                mine.append(time.perf_counter() - t0)
                if status not in (200, 204):
                    with lock:
                        errors.append(f"{paths[i % len(paths)]}: {status}")
        finally:
            conn.close()
            with lock:
                latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return Load(latencies, time.perf_counter() - started, errors, time.process_time() - cpu)


def merged(loads: list[Load]) -> Load:
    """Several runs as one: all their latencies over the sum of their durations."""
    return Load(
        [x for load in loads for x in load.latencies],
        sum(load.seconds for load in loads),
        [e for load in loads for e in load.errors],
        sum(load.client_cpu for load in loads),
    )


def serial_and_raw(
    port: int, url: str, paths: list[str], statements: list[tuple[str, dict]], passes: int = SERIAL_PASSES
) -> tuple[Load, Load]:
    """Our endpoint with one client, and the SQL it runs for each request (``statements``, on one autocommit
    psycopg2 connection made as the app makes them, every row fetched), interleaved request by request
    (their order alternating each pass), so both see the same machine: latencies without queueing, for the
    us/raw-SQL ratio."""
    engine = db.make_engine(url)
    raw = engine.raw_connection()
    raw.driver_connection.autocommit = True
    conn = Connection(port)
    ours, sql_times = [], []
    started = time.perf_counter()
    try:
        with raw.cursor() as cur:
            for n in range(passes):
                for path, (sql, params) in zip(paths, statements, strict=False):
                    for step in ("http", "sql") if n % 2 else ("sql", "http"):
                        t0 = time.perf_counter()
                        if step == "sql":
                            cur.execute(sql, params)
                            cur.fetchall()
                            sql_times.append(time.perf_counter() - t0)
                        else:
                            status, _ = conn.get(path)
                            if status not in (200, 204):
                                raise RuntimeError(f"{path}: HTTP {status}")
                            ours.append(time.perf_counter() - t0)
    finally:
        conn.close()
        raw.close()
        engine.dispose()
    seconds = time.perf_counter() - started
    return Load(ours, seconds), Load(sql_times, seconds)


def check_responses(query: Query, ours: Server, tipg: Server) -> tuple[dict[str, float], Load]:
    """Every item request returns exactly ``limit`` features from both servers, every tile request a tile;
    also the warm-up of both. The mean response size (KiB) per server, and our latencies of these first
    requests (cold: no tile was cached yet)."""
    sizes, cold = {}, []
    started = time.perf_counter()
    for key, server, paths in (("ours", ours, query.ours), ("tipg", tipg, query.tipg)):
        conn = Connection(server.port)
        total = 0
        try:
            for path in paths:
                t0 = time.perf_counter()
                status, body = conn.get(path)
                if key == "ours":
                    cold.append(time.perf_counter() - t0)
                if status != 200:
                    raise RuntimeError(f"{server.name} {path}: HTTP {status}: {body[:300]!r}")
                if query.limit is not None:
                    doc = json.loads(body)
                    if len(doc["features"]) != query.limit or doc.get("numberReturned") != query.limit:
                        raise RuntimeError(
                            f"{server.name} {path}: {len(doc['features'])} features, "
                            f"numberReturned {doc.get('numberReturned')}, expected {query.limit}"
                        )
                elif not body:
                    raise RuntimeError(f"{server.name} {path}: empty tile")
                total += len(body)
        finally:
            conn.close()
        sizes[key] = total / len(paths) / 1024
    return sizes, Load(cold, time.perf_counter() - started)


@dataclass
class Result:
    query: Query
    sizes: dict[str, float]  # mean KiB per response, "ours" and "tipg"
    tipg: Load
    ours: Load
    ours_serial: Load
    raw: Load
    ours_cold: Load  # the first request of each bbox / tile, one client


def measure(
    query: Query,
    sizes: dict[str, float],
    cold: Load,
    ours: Server,
    tipg: Server,
    url: str,
    concurrency: int,
    duration: float,
    repeat: int,
) -> Result:
    """tipg and ours under load, ``duration`` × ``repeat`` seconds each in ``SLICES`` × ``repeat`` alternating
    slices (so a change in the machine's other load hits both alike), then our serial latency interleaved with
    the raw SQL."""
    runs: dict[str, list[Load]] = {"tipg": [], "ours": []}
    slices = SLICES * repeat
    for i in range(slices):
        for name, server in (("tipg", tipg), ("ours", ours))[:: 1 if i % 2 == 0 else -1]:
            runs[name].append(
                run_load(server.port, query.tipg if name == "tipg" else query.ours, concurrency, duration / SLICES)
            )
    loads = {name: merged(r) for name, r in runs.items()}
    for name, load in loads.items():
        if load.errors:
            raise RuntimeError(f"{query.name}: {len(load.errors)} failed requests to {name}, e.g. {load.errors[0]}")
    ours_serial, raw = serial_and_raw(ours.port, url, query.ours, query.sql)
    return Result(query, sizes, loads["tipg"], loads["ours"], ours_serial, raw, cold)


# --- where our time goes ------------------------------------------------------------------------------
def phases(app, query: Query) -> dict[str, float]:
    """Median ms, in process and serially, of one items request: the pooled connection, the page statement
    (``feeds.PageReader.read_page``: version, count and features in one round trip), and the whole request
    through the app's test client (our Python, no HTTP server); with the share of pages whose numberMatched
    was given."""
    times: dict[str, list[float]] = {"connection": [], "statement": [], "flask": []}
    counted = 0
    client, engine = app.test_client(), app.extensions["mapper.engine"]
    for path in query.ours * 2:
        box = tuple(float(v) for v in path.split("bbox=")[1].replace("%2C", ",").split(","))
        view = app.extensions["mapper.registry"].get(LAYER_ID)
        q = feeds.FeedQuery(view_for(view, None), limit=query.limit, bboxes=[box])
        t0 = time.perf_counter()
        reader = feeds.PageReader(engine, q)
        t1 = time.perf_counter()
        reader.read_page()
        t2 = time.perf_counter()
        resp = client.get(path, headers=HEADERS)
        t3 = time.perf_counter()
        if resp.status_code != 200:
            raise RuntimeError(f"{query.name}: HTTP {resp.status_code} in process")
        counted += "numberMatched" in resp.get_json()
        for key, seconds in (("connection", t1 - t0), ("statement", t2 - t1), ("flask", t3 - t2)):
            times[key].append(seconds)
    result = {k: float(np.median(v)) * 1000 for k, v in times.items()}
    result["counted"] = counted / len(query.ours) / 2
    return result


# --- report -------------------------------------------------------------------------------------------
def ms(value: float) -> str:
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def table(results: list[Result]) -> str:
    header = (
        "query",
        "tipg req/s",
        "ours req/s",
        "us/tipg",
        "tipg p50/p95 ms",
        "ours p50/p95 ms",
        "ours cold p50/p95",
        "ours 1-client p50",
        "raw SQL p50",
        "us/raw",
        "KiB tipg/ours",
    )
    rows = []
    for r in results:
        rows.append(
            (
                f"{r.query.name} ({r.query.note})",
                f"{r.tipg.rate:.1f}",
                f"{r.ours.rate:.1f}",
                f"{r.ours.rate / r.tipg.rate:.2f}×",
                f"{ms(r.tipg.p50)} / {ms(r.tipg.p95)}",
                f"{ms(r.ours.p50)} / {ms(r.ours.p95)}",
                f"{ms(r.ours_cold.p50)} / {ms(r.ours_cold.p95)}",
                ms(r.ours_serial.p50),
                ms(r.raw.p50),
                us_raw(r),
                f"{r.sizes['tipg']:.0f} / {r.sizes['ours']:.0f}",
            )
        )
    return markdown_table(header, rows)


def us_raw(r: Result) -> str:
    """Our one-client p50 over the raw SQL's; for tiles (cached once rendered) our cold p50 over it."""
    if r.query.limit is not None:
        return f"{r.ours_serial.p50 / r.raw.p50:.2f}×"
    return f"{r.ours_cold.p50 / r.raw.p50:.2f}× cold"


def client_share(results: list[Result]) -> str:
    """How much of the 2 CPUs the load generator itself took (it competes with the servers)."""
    runs = [(r.query.name, name, load) for r in results for name, load in (("tipg", r.tipg), ("ours", r.ours))]
    name, server, load = max(runs, key=lambda x: x[2].client_cpu / x[2].seconds)
    return f"The client threads used at most {load.client_cpu / load.seconds:.0%} of one CPU ({name}, {server})."


def aims(results: list[Result]) -> str:
    mark = lambda ok: "met" if ok else "NOT met"  # noqa: E731
    lines = []
    by_limit = {r.query.limit: r for r in results if r.query.limit}
    for limit, aim in AIM_VS_TIPG.items():
        if limit in by_limit:
            ratio = by_limit[limit].ours.rate / by_limit[limit].tipg.rate
            lines.append(
                f"items limit {limit:,}: ours / tipg = {ratio:.2f}× req/s (aim ≥ {aim:g}×: {mark(ratio >= aim)})"
            )
    items = [r for r in results if r.query.limit]
    if items:
        worst = max(items, key=lambda r: r.ours_serial.p50 / r.raw.p50)
        ratio = worst.ours_serial.p50 / worst.raw.p50
        lines.append(
            f"items: ours / raw SQL ≤ {ratio:.2f}× p50, worst at {worst.query.name} "
            f"(aim ≤ {AIM_VS_RAW:g}×: {mark(ratio <= AIM_VS_RAW)})"
        )
    tiles = [r for r in results if r.query.zoom is not None]
    if tiles:
        for label, load in (
            ("under load", lambda r: r.ours),
            ("cold (first request of each tile)", lambda r: r.ours_cold),
        ):
            slow = [f"z{r.query.zoom} {load(r).p95:.0f} ms" for r in tiles if load(r).p95 >= AIM_TILE_P95_MS]
            worst = max(tiles, key=lambda r: load(r).p95)
            lines.append(
                f"tiles {label}: ours p95 ≤ {load(worst).p95:.1f} ms, worst at z{worst.query.zoom} "
                f"(aim < {AIM_TILE_P95_MS:g} ms at every zoom: {mark(not slow)}"
                + (f"; over: {', '.join(slow)})" if slow else ")")
            )
    return "\n".join(lines)


def phases_table(rows: list[tuple[Result, dict[str, float]]]) -> str:
    header = ("query", "connection", "page statement", "whole request in process", "ours 1-client HTTP", "raw SQL")
    return markdown_table(
        header,
        [
            (
                r.query.name,
                ms(p["connection"]),
                f"{ms(p['statement'])} ({p['counted']:.0%} with numberMatched)",
                ms(p["flask"]),
                ms(r.ours_serial.p50),
                ms(r.raw.p50),
            )
            for r, p in rows
        ],
    )


def report(
    args,
    versions: str,
    tipg: str,
    load_seconds: float,
    results: list[Result],
    breakdown: list[tuple[Result, dict[str, float]]],
) -> str:
    runs = f"in {SLICES * args.repeat} slices alternating between the servers"
    loaded = f"database {args.database} reused" if args.database else f"loaded in {load_seconds:.0f} s"
    lines = [
        f"Feeds benchmark: {args.rows:,} {LAYER_ID} reports ({loaded}); {versions}; {tipg}; "
        f"{os.cpu_count()} CPUs shared by PostgreSQL, both servers and the client (load average "
        f"{args.load_average:.1f} before the run)",
        f"Load: {args.concurrency} client threads, keep-alive, {args.duration * args.repeat:g} s per query and server "
        f"(at least one pass over its {BBOXES_PER_QUERY} bboxes / {TILES_PER_ZOOM} tiles), {runs}; no compression.",
        f"Ours: granian {WORKERS} WSGI workers × {THREADS} threads, anonymous = public view of the sensitive crime "
        f"layer (locations generalised to 250 m, bbox on them);",
        f"tipg: gunicorn {WORKERS} uvicorn workers, properties {', '.join(TIPG_PROPERTIES)}, exact locations.",
        "",
        table(results),
        "",
        "us/tipg: ours req/s ÷ tipg req/s. us/raw: ours p50 with one client ÷ p50 of the SQL our endpoint runs "
        "(page_sql / tile_statement, psycopg2, interleaved with our requests); for tiles, which ours caches once "
        "rendered, our cold p50 (the first request of each tile) ÷ the raw SQL p50.",
        client_share(results),
        "",
        aims(results),
    ]
    if breakdown:
        lines += [
            "",
            "Where an items request of ours spends its time: medians in ms, in process and serial: "
            "taking a pooled connection, the page statement (layer version, numberMatched and the "
            "features in one round trip), and the whole request through the app's test client (no HTTP "
            "server; plain anonymous pages are answered in front of Flask, web.fast_items):",
            phases_table(breakdown),
        ]
    return "\n".join(lines)


# --- main ---------------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.feeds", description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="reports to load (default 1,000,000)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load per query and server")
    parser.add_argument("--concurrency", type=int, default=4, help="client threads (default 4)")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="measure each query R times as long (in R times as many alternating slices)",
    )
    parser.add_argument("--seed", type=int, default=42, help="random seed of the points, bboxes and tiles")
    parser.add_argument(
        "--tipg-venv",
        type=Path,
        default=Path(tempfile.gettempdir()) / "tipg-venv",
        help="virtualenv with tipg, uvicorn, uvicorn-worker and gunicorn, made if missing (default: %(default)s)",
    )
    parser.add_argument("--only", choices=("items", "tiles"), help="run only the items or only the tile queries")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database afterwards")
    parser.add_argument(
        "--database",
        help="reuse this database kept by an earlier run (--keep) with --rows "
        "reports, instead of loading a new one; it is kept",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # stop the servers and drop the database on TERM too
    if PROJECT_ROOT in args.tipg_venv.resolve().parents:
        raise SystemExit("--tipg-venv must be outside the project")
    registry = load_registry(PROJECT_ROOT / "layers")
    view = view_for(registry.get(LAYER_ID), None)
    python = ensure_tipg(args.tipg_venv)
    cluster = EmbeddedCluster(PROJECT_ROOT / "var")
    cluster.start()
    args.load_average = os.getloadavg()[0]
    bench = BenchDatabase(cluster, args.database or f"bench_feeds_{uuid.uuid4().hex[:8]}", peer_table=False)
    servers: list[Server] = []
    try:
        if args.database:
            found = bench.count("reports")
            if found != args.rows:
                raise SystemExit(f"database {args.database!r} holds {found:,} reports, not --rows {args.rows:,}")
            load_seconds = 0.0
        else:
            progress(f"loading {args.rows:,} reports")
            load_seconds = load_reports(bench, registry, args.rows, args.seed)
        rng = np.random.default_rng(args.seed)
        queries = [*items_queries(view, args.rows, rng, bench.engine), *tile_queries(view, rng, bench.engine)]
        queries = [q for q in queries if not args.only or (q.limit is not None) == (args.only == "items")]
        with tempfile.TemporaryDirectory(prefix="bench_feeds_") as tmp:
            logs = Path(tmp)
            servers.append(start_tipg(python, bench.url, logs))
            servers.append(start_ours(bench.url, logs))
            tipg, ours = servers
            results = []
            for query in queries:
                progress(f"{query.name}: checking responses")
                sizes, cold = check_responses(query, ours, tipg)
                progress(f"{query.name}: measuring")
                results.append(
                    measure(query, sizes, cold, ours, tipg, bench.url, args.concurrency, args.duration, args.repeat)
                )
            app = create_app({"DATABASE_URL": bench.url})
            breakdown = [(r, phases(app, r.query)) for r in results if r.query.limit]
            app.extensions["mapper.engine"].dispose()
            for server in servers:
                server.stop()
        print(report(args, bench.versions(), tipg_version(python), load_seconds, results, breakdown))
    finally:
        for server in servers:
            server.stop()
        bench.close(keep=args.keep or bool(args.database))


if __name__ == "__main__":
    main()
