"""Map pages benchmark: our map pages over a large crime layer against Folium's default (features inlined).

N synthetic ``crime`` reports (default 1,000,000) are generated inside PostgreSQL (one ``INSERT … SELECT`` from
``generate_series`` over the demo city's extent, written in geohash order like the importer's spatial order),
then ``VACUUM (ANALYZE)``. In headless Chromium (a new browser context, so an empty cache, for every load):

* ours   every map page (``OUR_PAGES``: ``/map``, ``/maps/hotspots/crime``, ``/maps/water``, ``/maps/health``,
         ``/maps/transit``, ``/maps/planning``; each must answer 200) from ``mapper:create_app`` under granian,
         restarted before every load (cold server caches and connection pools; PostgreSQL's buffers stay warm),
         after the layer's hot spots have been scored as ``mapper score crime`` does (timed);
* peer   the same map built the way Folium does by default: ``folium.GeoJson`` with the newest 10,000 and
         100,000 public crime reports inlined (public fields and generalised locations, as the public sees them),
         saved as HTML and served, with the same local Leaflet assets, by a plain ``http.server``.

For each page: the HTML's size, the bytes transferred until the first features are drawn, the time from
navigation start until then, and the time until a viewport panned by half its width is drawn
(``bench.maps_browser`` says how "drawn" is detected). Medians over ``--repeat`` loads.

    .venv/bin/python -m bench.maps [--reports N] [--quick] [--repeat R] [--seed S] [--keep] [--database NAME]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import folium
from playwright.sync_api import sync_playwright

from bench.feeds import Server, free_port, start_ours
from bench.ingest import LAYER_ID, BenchDatabase, markdown_table, progress
from bench.maps_browser import FIRST_DRAW_TIMEOUT_MS, PageLoad, load_page
from mapper.config import PROJECT_ROOT, load_settings
from mapper.domain.layers import load_registry
from mapper.domain.lifecycle import PUBLIC_HIDDEN_STATUSES
from mapper.embedded_db import EmbeddedCluster
from mapper.services import scoring
from mapper.services.demo import BOX
from mapper.web.assets import use_local_assets
from tests.conftest import CHROMIUM_ARGS

QUICK_REPORTS = 50_000
PEER_SIZES = (10_000, 100_000)
OUR_PAGES = ("/map", f"/maps/hotspots/{LAYER_ID}", "/maps/water", "/maps/health", "/maps/transit", "/maps/planning")
RESULTS = PROJECT_ROOT / "bench" / "results" / "maps.md"
AIM_HTML_KB = 300
AIM_FIRST_MS = 2_000
AIM_PAN_MS = 500
CHROMIUM = "/usr/bin/chromium"
WORKERS = 2  # granian workers of ours (bench.feeds.start_ours)

# Reports over the demo city's box, uniform, every field of layers/crime.toml, observed over the 365 days before
# the run's day (so the hot spot page's default window, the last 3 months, holds about a quarter of them); ids drawn
# in generation order (newest = highest id, as for an import), rows written in geohash order so a map window's
# reports share pages.
GENERATE_SQL = """
INSERT INTO reports (id, layer, geom, properties, private, status, observed_at, source, public_precision_m)
SELECT id, %(layer)s, geom,
       jsonb_build_object('category', category, 'severity', severity,
                          'occurred_at', to_char(observed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                          'reported_to_police', reported),
       jsonb_build_object('description', CASE WHEN id %% 5 <> 0 THEN 'Generated report #' || id END,
                          'reporter_name', NULL, 'reporter_email', NULL, 'reporter_phone', NULL),
       'submitted', observed_at, 'bench', %(precision)s
FROM (SELECT nextval('reports_id_seq') AS id,
             ST_SetSRID(ST_MakePoint(%(x0)s + random() * (%(x1)s - %(x0)s),
                                     %(y0)s + random() * (%(y1)s - %(y0)s)), 4326) AS geom,
             (%(categories)s::text[])[1 + floor(random() * %(n_categories)s)::int] AS category,
             1 + floor(random() * 5)::int AS severity,
             date_trunc('day', now()) - random() * interval '365 days' AS observed_at,
             random() < 0.3 AS reported
      FROM generate_series(1, %(n)s)) g
ORDER BY ST_GeoHash(geom, 8)
"""

# The newest public reports as the public feed shows them (public fields, generalised location, status).
NEWEST_SQL = """
SELECT json_build_object('type', 'FeatureCollection', 'features', coalesce(json_agg(f), '[]'))::text
FROM (SELECT 'Feature' AS type, id, ST_AsGeoJSON(public_geom)::json AS geometry,
             (SELECT jsonb_object_agg(k, properties -> k) FROM unnest(%(fields)s::text[]) k)
               || jsonb_build_object('status', status) AS properties
      FROM reports
      WHERE layer = %(layer)s AND status <> ALL(%(hidden)s) AND public_precision_m = %(precision)s
      ORDER BY id DESC LIMIT %(n)s) f
"""


# --- data ---------------------------------------------------------------------------------------------
def generate_reports(bench: BenchDatabase, layer, n: int, seed: int) -> tuple[float, float]:
    """``n`` crime reports generated in PostgreSQL; the seconds of the INSERT and of the VACUUM (ANALYZE)."""
    params = {
        "layer": layer.id,
        "precision": float(layer.precision_m),
        "categories": list(layer.field("category").values),
        "n_categories": len(layer.field("category").values),
        "n": n,
        **dict(zip(("x0", "y0", "x1", "y1"), BOX, strict=True)),
    }
    started = time.perf_counter()
    with bench.engine.begin() as conn:
        conn.exec_driver_sql("SELECT setseed(%(s)s)", {"s": (seed % 1000) / 1000})
        inserted = conn.exec_driver_sql(GENERATE_SQL, params).rowcount
    if inserted != n:
        raise RuntimeError(f"expected {n} generated reports, got {inserted}")
    generated = time.perf_counter()
    bench.execute(f"VACUUM (ANALYZE) {', '.join(bench.tables)}, public_cells", "CHECKPOINT")
    return generated - started, time.perf_counter() - generated


def score_hotspots(bench: BenchDatabase, layer) -> tuple[float, list]:
    """What ``mapper score crime`` runs (``scoring.score_layer``: the layer's hot spots), timed; then ANALYZE of
    the tables it wrote (untimed; autovacuum would do it within a minute). Refused or failed: stop."""
    started = time.perf_counter()
    summaries = scoring.score_layer(bench.engine, layer)
    seconds = time.perf_counter() - started
    refused = [s for s in summaries if s.run_id is None]
    if not summaries or refused:
        raise SystemExit(f"scoring {layer.id} did not give hot spots: {[s.detail for s in refused] or 'nothing run'}")
    bench.execute("ANALYZE derived_features, score_runs")
    return seconds, summaries


def newest_collection(bench: BenchDatabase, layer, n: int) -> dict:
    with bench.engine.connect() as conn:
        text = conn.exec_driver_sql(
            NEWEST_SQL,
            {
                "fields": [f.name for f in layer.public_fields],
                "layer": layer.id,
                "hidden": list(PUBLIC_HIDDEN_STATUSES),
                "precision": float(layer.precision_m),
                "n": n,
            },
        ).scalar_one()
    return json.loads(text)


# --- the peer -----------------------------------------------------------------------------------------
def build_peer(collection: dict, layer, path: Path) -> float:
    """Folium's default way: the features inlined with ``folium.GeoJson``, local assets; seconds to build + save."""
    started = time.perf_counter()
    settings = load_settings()
    m = folium.Map(location=settings["MAP_CENTER"], zoom_start=settings["MAP_ZOOM"], tiles=None, control_scale=True)
    folium.GeoJson(collection, name=layer.title).add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    m.save(str(path))
    return time.perf_counter() - started


def static_root(tmp: Path) -> Path:
    """A directory served as is: the peers' pages, and the app's asset URLs (``/vendor/``, ``/static/``)."""
    root = tmp / "www"
    root.mkdir()
    (root / "vendor").symlink_to(PROJECT_ROOT / "node_modules")
    (root / "static").symlink_to(PROJECT_ROOT / "mapper" / "static")
    (root / "favicon.ico").symlink_to(PROJECT_ROOT / "mapper" / "static" / "favicon.svg")
    return root


def start_static(root: Path, logs: Path) -> Server:
    port = free_port()
    argv = [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "--directory", str(root), str(port)]
    return Server("http.server", argv, dict(os.environ), root, port, "/", logs / "static.log")


# --- ours -----------------------------------------------------------------------------------------------
def start_cold(url: str, logs: Path) -> Server:
    """Ours freshly started, once every worker has booted (a booting worker would take no requests)."""
    server = start_ours(url, logs)
    deadline = time.monotonic() + 60
    while server.log.read_text(errors="replace").count("Started worker-") < WORKERS:
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"granian's workers did not all start:\n{server.log_tail()}")
        time.sleep(0.1)
    return server


def status_of(port: int, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", path, headers={"Accept": "text/html"})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


# --- measuring --------------------------------------------------------------------------------------------
@dataclass
class Row:
    page: str
    loads: list[PageLoad]
    note: str = ""


def median(values) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def check_pages(url: str, logs: Path) -> None:
    """Every page of OUR_PAGES answers 200, or the run stops here."""
    server = start_cold(url, logs)
    try:
        failed = {p: status for p in OUR_PAGES if (status := status_of(server.port, p)) != 200}
        if failed:
            raise SystemExit(
                "map pages not answering 200: "
                + ", ".join(f"{p} ({status})" for p, status in failed.items())
                + f"\nthe server's log ends:\n{server.log_tail()}"
            )
    finally:
        server.stop()


def measure_ours(browser, url: str, logs: Path, repeat: int) -> list[Row]:
    loads = {path: [] for path in OUR_PAGES}
    check_pages(url, logs)
    for i in range(repeat):
        for path in OUR_PAGES:
            progress(f"ours {path}: cold load {i + 1}/{repeat}")
            server = start_cold(url, logs)  # every load on a fresh server: cold caches
            try:
                loads[path].append(load_page(browser, f"http://127.0.0.1:{server.port}{path}"))
            finally:
                server.stop()
    return [Row(f"ours `{p}`", loads[p], "server restarted before each load") for p in OUR_PAGES]


def measure_peers(browser, port: int, sizes: list[int], repeat: int) -> list[Row]:
    rows = []
    for n in sizes:
        loads = []
        for i in range(repeat):
            progress(f"peer {n:,}: load {i + 1}/{repeat}")
            loads.append(load_page(browser, f"http://127.0.0.1:{port}/peer-{n}.html"))
        rows.append(Row(f"peer: folium.GeoJson, {n:,} inlined", loads, "static file, http.server"))
    return rows


# --- report -----------------------------------------------------------------------------------------------
def kb(value: float | None) -> str:
    return "—" if value is None else f"{value / 1024:,.1f}"


def ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def table(rows: list[Row]) -> str:
    header = (
        "page",
        "HTML KiB",
        "KiB until first features",
        "of which features",
        "requests until then",
        "first features ms",
        "features drawn then",
        "all drawn ms",
        "pan drawn ms",
        "pan KiB",
        "signal",
    )
    body = []
    for r in rows:
        if all(load.first_ms is None for load in r.loads):
            undrawn = f"not drawn in {FIRST_DRAW_TIMEOUT_MS / 1000:.0f} s"
            body.append((r.page, "—", "—", "—", "—", undrawn, "—", "—", "—", "—", "none"))
            continue
        drawn = [load for load in r.loads if load.first_ms is not None]
        m = {k: median(getattr(load, k) for load in drawn) for k in NUMERIC}
        body.append(
            (
                r.page,
                kb(m["html_bytes"]),
                kb(m["first_bytes"]),
                kb(m["first_data_bytes"]),
                f"{m['first_requests']:.0f}",
                ms(m["first_ms"]),
                f"{m['first_features']:,.0f}",
                ms(m["all_ms"]),
                ms(m["pan_ms"]),
                kb(m["pan_bytes"]),
                "/".join(sorted({load.signal for load in r.loads})),
            )
        )
    return markdown_table(header, body)


NUMERIC = [k for k, f in PageLoad.__dataclass_fields__.items() if f.type in ("int", "float | None")]


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def aims(rows: list[Row]) -> list[str]:
    lines = []
    for r in rows:
        if not r.page.startswith("ours"):
            continue
        html = median(load.html_bytes for load in r.loads) / 1024
        first = median(load.first_ms for load in r.loads)
        pan = median(load.pan_ms for load in r.loads)
        empty = all(load.first_features == 0 for load in r.loads)
        what = "first draw (every layer empty)" if empty else "first features"
        lines.append(
            f"{r.page}: HTML {html:,.1f} KiB (aim ≤ {AIM_HTML_KB} KB: {verdict(html * 1024 <= AIM_HTML_KB * 1000)}); "
            f"{what} {ms(first)} ms (aim < {AIM_FIRST_MS:,} ms: "
            f"{verdict(first is not None and first < AIM_FIRST_MS)}); "
            f"pan {ms(pan)} ms (aim < {AIM_PAN_MS} ms: {verdict(pan is not None and pan < AIM_PAN_MS)})"
        )
    return lines


def spread(rows: list[Row]) -> list[str]:
    """Min–max of the timings per page, so a median from a noisy machine can be judged."""
    out = []
    for r in rows:
        first = [load.first_ms for load in r.loads if load.first_ms is not None]
        if not first:
            out.append(f"- {r.page}: no features drawn within {FIRST_DRAW_TIMEOUT_MS / 1000:.0f} s ({r.note})")
            continue
        pans = [load.pan_ms for load in r.loads if load.pan_ms is not None]
        pan = f"{min(pans):,.0f}–{max(pans):,.0f}" if pans else "—"
        out.append(f"- {r.page}: first features {min(first):,.0f}–{max(first):,.0f} ms, pan {pan} ms ({r.note})")
    return out


def layer_notes(rows: list[Row], stored: dict[str, int]) -> list[str]:
    """What each of our pages drew, per layer of its map client, once settled (the last load's)."""
    out = []
    for r in rows:
        load = next((load for load in reversed(r.loads) if load.layers), None)
        if load is None:
            continue
        parts = []
        for layer in load.layers:
            n = stored.get(layer["id"], 0)
            shown = "" if layer["shown"] else ", not shown by default"
            what = f"{layer['cells']:,} count cells" if layer["cells"] else f"{layer['features']:,} features"
            parts.append(f"`{layer['id']}` {what} ({n:,} in the database{shown})")
        empty = all(stored.get(layer["id"], 0) == 0 for layer in load.layers)
        lead = "every layer empty in the bench database, so HTML size and first draw only: " if empty else ""
        out.append(f"- {r.page}: {lead}" + "; ".join(parts))
    return out


def checks(rows: list[Row]) -> list[str]:
    """Our pages must be measured on the map client's contract (first draw and pan)."""
    return [
        f"{r.page}: load {i + 1} measured with the {load.signal!r} signal, not the map client's contract"
        for r in rows
        if r.page.startswith("ours")
        for i, load in enumerate(r.loads)
        if not load.signal.startswith("contract")
    ]


def report(args, versions: str, setup: dict, rows: list[Row], stored: dict[str, int], problems: list[str]) -> str:
    data = (
        f"database {args.database} reused"
        if args.database
        else f"generated in PostgreSQL in {setup['generate']:.1f} s "
        f"({args.reports / setup['generate']:,.0f} reports/s; VACUUM ANALYZE {setup['vacuum']:.1f} s)"
    )
    scored = "; ".join(f"{s.method}: {s.detail} (run {s.run_id})" for s in setup["scores"])
    peers = ", ".join(f"{n:,}: {s:.1f} s" for n, s in setup["peers"].items())
    lines = [
        f"Map pages benchmark: {args.reports:,} {LAYER_ID} reports ({data}); {versions}; {setup['chromium']} "
        f"headless, viewport 1280×800; {os.cpu_count()} CPUs shared by PostgreSQL, the servers and Chromium "
        f"(load average {args.load_average:.1f} before the run); medians of {args.repeat} load(s) per page of ours, "
        f"{args.peer_repeat} per peer page.",
        f"Hot spot score before the loads, as `mapper score {LAYER_ID}` runs it (`scoring.score_layer`): "
        f"{setup['score']:.1f} s — {scored}.",
        f"Peer pages built with Folium {folium.__version__} (query + GeoJson + save): {peers}.",
        "",
        table(rows),
        "",
        "Bytes: Resource Timing transferSize (headers + body, no compression on either server) of the document and "
        "every response that had ended when the first features were drawn; pan KiB: responses started by the pan and "
        "ended by its draw; 'of which features': fetch/XHR responses. Time: from navigation start "
        "(performance.timeOrigin) to the end of the frame that showed the draw. Signal: `contract` = the map "
        "client's data-map-drawn-at / data-map-features / data-map-pending (first features: its first draw with "
        "features; all drawn: its last draw of the load, nothing pending; pan: its last draw after the pan, nothing "
        "pending), `contract, empty` = no layer drew a feature, so the first draw is the one after which nothing "
        "was pending, `generic` = the end of the first frame rendered after drawn Leaflet paths or marker icons "
        "appear (pan: of the first frame after moveend). The pan is panBy of half the viewport's width, no "
        "animation, on the map client's map (Folium's map object for the peer).",
        "",
        *spread(rows),
        "",
        "What our pages drew once settled (per layer of the map client; the database holds only the generated "
        f"{LAYER_ID} reports and the hot spot cells scored from them):",
        *layer_notes(rows, stored),
        "",
        *aims(rows),
    ]
    if problems:
        lines += ["", "Problems seen (failed requests, HTTP errors, console errors, signals):"]
        lines += [f"- {p}" for p in sorted(set(problems))[:20]]
    return "\n".join(lines)


def stored_counts(bench: BenchDatabase) -> dict[str, int]:
    """Rows per layer in the benchmark database (reports and derived features such as hot spot cells)."""
    with bench.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT layer, count(*) FROM reports GROUP BY layer "
            "UNION ALL SELECT layer, count(*) FROM derived_features GROUP BY layer"
        ).all()
    return {layer: int(n) for layer, n in rows}


# --- main -------------------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.maps", description=__doc__.split("\n")[0])
    parser.add_argument("--reports", type=int, help="crime reports to generate (default 1,000,000)")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_REPORTS:,} reports, one load per page")
    parser.add_argument("--repeat", type=int, help="cold loads per page, the median is reported (default 3)")
    parser.add_argument(
        "--peer-repeat", type=int, default=1, help="loads per peer page (default 1: the 100,000 one takes minutes)"
    )
    parser.add_argument("--seed", type=int, default=42, help="seed of the generated reports")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database afterwards")
    parser.add_argument("--database", help="reuse this database kept by an earlier run with --reports reports")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where the table is written (%(default)s)")
    args = parser.parse_args(argv)
    args.reports = args.reports or (QUICK_REPORTS if args.quick else 1_000_000)
    args.repeat = args.repeat or (1 if args.quick else 3)
    return args


def chromium_version(browser) -> str:
    return f"Chromium {browser.version}"


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # stop the servers and drop the database on TERM too
    layer = load_registry(PROJECT_ROOT / "layers").get(LAYER_ID)
    cluster = EmbeddedCluster(PROJECT_ROOT / "var")
    cluster.start()
    args.load_average = os.getloadavg()[0]
    bench = BenchDatabase(cluster, args.database or f"bench_maps_{uuid.uuid4().hex[:8]}", peer_table=False)
    setup: dict = {"peers": {}}
    static = None
    try:
        if args.database:
            found = bench.count("reports")
            if found != args.reports:
                raise SystemExit(f"database {args.database!r} holds {found:,} reports, not --reports {args.reports:,}")
        else:
            progress(f"generating {args.reports:,} reports")
            setup["generate"], setup["vacuum"] = generate_reports(bench, layer, args.reports, args.seed)
        progress(f"scoring the hot spots of {LAYER_ID}")
        setup["score"], setup["scores"] = score_hotspots(bench, layer)
        use_local_assets()
        with tempfile.TemporaryDirectory(prefix="bench_maps_") as tmp:
            logs, root = Path(tmp), static_root(Path(tmp))
            sizes = [n for n in PEER_SIZES if n <= args.reports]
            for n in sizes:
                progress(f"building the peer page with {n:,} reports")
                started = time.perf_counter()
                collection = newest_collection(bench, layer, n)
                build_peer(collection, layer, root / f"peer-{n}.html")
                setup["peers"][n] = time.perf_counter() - started
            static = start_static(root, logs)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                setup["chromium"] = chromium_version(browser)
                ours = measure_ours(browser, bench.url, logs, args.repeat)
                peers = measure_peers(browser, static.port, sizes, args.peer_repeat)
                browser.close()
            static.stop()
        rows = [*ours, *peers]
        problems = [p for r in rows for load in r.loads for p in load.problems] + checks(rows)
        text = report(args, bench.versions(), setup, rows, stored_counts(bench), problems)
        print(text)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text + "\n")
        print(f"\n(written to {args.output})", file=sys.stderr)
    finally:
        if static is not None:
            static.stop()
        bench.close(keep=args.keep or bool(args.database))


if __name__ == "__main__":
    main()
