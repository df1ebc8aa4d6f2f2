"""What ``bench.maps`` measures in headless Chromium: one page load until the first features are drawn, then a pan.

The signal of "features drawn" is the map client's contract when the page has it (``<html data-map-pending>``:
requests in flight; ``data-map-drawn-at``: ``performance.now()`` of the last draw; ``data-map-features``: what is
drawn): every change of ``data-map-drawn-at`` is recorded with the features and requests pending then, and the end
of the frame rendered after it (a task queued from ``requestAnimationFrame``, which runs once that frame's style,
layout and paint are done) is when that draw is on screen. The first features are the first draw with features;
a page whose layers are all empty has its first draw instead: the draw after which nothing was pending and nothing
changed for ``SETTLED_MS``. Pages without the contract (Folium's own) get a generic signal that fits any Leaflet
page: the end of the first frame rendered after drawn vector paths (``.leaflet-overlay-pane
path.leaflet-interactive``) or marker icons appear in the DOM (for icons: once their image has loaded). Bytes
are the Resource Timing ``transferSize`` (headers + encoded body) of the document and of every resource whose
response had ended by the draw, in the page's own clock; the browser context is new for each load (empty cache).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from playwright.sync_api import TimeoutError as PlaywrightTimeout

DRAWN = ".leaflet-overlay-pane path.leaflet-interactive, .leaflet-marker-pane .leaflet-marker-icon"
VIEWPORT = {"width": 1280, "height": 800}
FIRST_DRAW_TIMEOUT_MS = 600_000

# Runs before any script of the page (CSP does not apply to it): records the first generic draw and every draw
# the map client reports (its time, features, requests pending, and the end of the frame that showed it).
SETTLED_MS = 1_000  # a contract page with nothing pending and no change for this long has drawn all it will
INIT_JS = f"""
(() => {{
  const b = window.__bench = {{generic: null, genericCount: 0, draws: [], changed: 0}};
  performance.setResourceTimingBufferSize(100000);
  let seen = false, lastAt, lastPending;
  const observer = new MutationObserver(() => {{
    const d = document.documentElement && document.documentElement.dataset;
    if (d && (d.mapDrawnAt !== lastAt || d.mapPending !== lastPending)) {{
      b.changed = performance.now();
      if (d.mapDrawnAt !== undefined && d.mapDrawnAt !== lastAt) {{
        const draw = {{at: Number(d.mapDrawnAt), features: Number(d.mapFeatures), pending: Number(d.mapPending),
                      painted: null}};
        b.draws.push(draw);
        requestAnimationFrame(() => setTimeout(() => {{ draw.painted = performance.now(); }}, 0));
      }}
      lastAt = d.mapDrawnAt;
      lastPending = d.mapPending;
    }}
    if (!seen && document.querySelector({DRAWN!r})) {{
      seen = true;
      // marker icons are drawn once their image has loaded (Folium's default markers: thousands of them)
      const icon = document.querySelector(".leaflet-marker-pane img.leaflet-marker-icon");
      const loaded = !icon || icon.complete ? Promise.resolve() : new Promise(r => {{
        icon.addEventListener("load", r, {{once: true}});
        icon.addEventListener("error", r, {{once: true}});
      }});
      loaded.then(() => requestAnimationFrame(() => setTimeout(() => {{
        b.generic = performance.now();
        b.genericCount = document.querySelectorAll({DRAWN!r}).length;
      }}, 0)));
    }}
  }});
  observer.observe(document, {{subtree: true, childList: true, attributes: true,
                               attributeFilter: ["data-map-drawn-at", "data-map-features", "data-map-pending"]}});
}})();
"""

# A contract page: drawn once a draw with features is on screen, or (every layer empty) once it has settled.
# A page without the contract: the generic signal.
FIRST_DRAWN_JS = f"""
() => {{
  const b = window.__bench, d = document.documentElement.dataset;
  if (!b) return false;
  if (d.mapPending === undefined) return b.generic !== null;
  if (b.draws.some(r => r.features > 0 && r.painted !== null)) return true;
  const last = b.draws[b.draws.length - 1];
  return d.mapPending === "0" && last !== undefined && last.painted !== null && document.readyState === "complete"
    && performance.now() - b.changed >= {SETTLED_MS};
}}
"""
HAS_CONTRACT_JS = "() => document.documentElement.dataset.mapPending !== undefined"
IDLE_JS = "() => document.documentElement.dataset.mapPending === '0'"
# No response has ended for QUIET_MS (Resource Timing lists a resource once it has ended). Playwright's own
# "networkidle" never comes on a page with thousands of marker images.
QUIET_MS = 500
QUIET_JS = f"""
async () => {{
  let count = -1, since = performance.now();
  while (performance.now() - since < {QUIET_MS}) {{
    await new Promise(r => setTimeout(r, 50));
    const now = performance.getEntriesByType("resource").length;
    if (now !== count) {{ count = now; since = performance.now(); }}
  }}
}}
"""

# The drawn moment and the bytes that had arrived by then. Contract: the first draw with features on screen, or
# (none) the last draw, which showed the empty layers; "all" is the last draw of the load (the page has settled).
FIRST_JS = """
(useContract) => {
  const DATA = ["fetch", "xmlhttprequest"];
  const b = window.__bench;
  let t, features, all = null, empty = false;
  if (useContract) {
    const first = b.draws.find(r => r.features > 0 && r.painted !== null);
    const last = b.draws[b.draws.length - 1];
    empty = first === undefined;
    t = (first || last).painted;
    features = (first || last).features;
  } else {
    t = b.generic;
    features = b.genericCount;
  }
  const nav = performance.getEntriesByType("navigation")[0];
  const entries = [nav, ...performance.getEntriesByType("resource")];
  const before = entries.filter(e => e.responseEnd <= t);
  return {
    ms: t,
    empty: empty,
    features: features,
    bytes: before.reduce((s, e) => s + e.transferSize, 0),
    dataBytes: before.filter(e => DATA.includes(e.initiatorType)).reduce((s, e) => s + e.transferSize, 0),
    requests: before.length,
    htmlBytes: nav.decodedBodySize,
    htmlTransfer: nav.transferSize,
  };
}
"""

# Once the page has settled: its last draw on screen and what each layer of the map client shows.
SETTLED_JS = """
() => {
  const b = window.__bench, last = b.draws[b.draws.length - 1];
  const c = window.civicMap;
  const layers = c ? c.layers.map(l => ({id: l.spec.id, shown: c.map.hasLayer(l.group),
                                          features: l.data.getLayers().length, cells: l.counts.getLayers().length}))
                   : [];
  return {ms: last ? last.painted : null, draws: b.draws.length, layers: layers};
}
"""

# Pan by half the viewport's width without animation. Contract: drawn at the end of the frame showing the last
# draw made after the pan, once nothing is pending; generic: the end of the first frame after Leaflet's moveend.
# The Leaflet map is the map client's (window.civicMap.map), else the first found on window (Folium's variable).
PAN_JS = """
async ([useContract, drawn]) => {
  const frame = () => new Promise(r => requestAnimationFrame(r));
  const painted = () => new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)));
  let map = window.civicMap ? window.civicMap.map : null;
  for (const key of map ? [] : Object.keys(window)) {
    try { if (window[key] instanceof L.Map) { map = window[key]; break; } } catch (e) {}
  }
  if (map === null) return {error: "no Leaflet map object found on window"};
  const b = window.__bench, d = document.documentElement.dataset, size = map.getSize();
  const seen = b.draws.length;
  const t0 = performance.now();
  const moved = new Promise(r => map.once("moveend", r));
  map.panBy([Math.round(size.x / 2), 0], {animate: false});
  await moved;
  let t = null, features = null;
  if (useContract) {
    while (performance.now() < t0 + 30000) {
      const after = b.draws.slice(seen).filter(r => r.at > t0), last = after[after.length - 1];
      if (last && d.mapPending === "0" && last.painted !== null) { t = last.painted; features = last.features; break; }
      await frame();
    }
    if (t === null) return {error: "no draw reported within 30 s of the pan"};
  } else {
    await painted();
    t = performance.now();
    features = document.querySelectorAll(drawn).length;
  }
  const after = performance.getEntriesByType("resource").filter(e => e.startTime >= t0 && e.responseEnd <= t);
  return {ms: t - t0, bytes: after.reduce((s, e) => s + e.transferSize, 0), requests: after.length,
          features: features, via: window.civicMap && map === window.civicMap.map ? "civicMap" : "window"};
}
"""


@dataclass
class PageLoad:
    """One cold load of a map page and one pan."""

    signal: str  # "contract" (data-map-*), "contract, empty" (no layer drew a feature) or "generic"
    html_bytes: int
    first_ms: float | None  # None: not drawn within FIRST_DRAW_TIMEOUT_MS
    first_bytes: int
    first_data_bytes: int  # of which fetch/XHR responses (the features), the rest being the page and its assets
    first_requests: int
    first_features: int
    all_ms: float | None  # contract: the load's last draw on screen (every layer drawn, nothing pending)
    pan_ms: float | None
    pan_bytes: int
    pan_features: int
    layers: list[dict] = field(default_factory=list)  # contract: per layer id, shown, features, count cells
    problems: list[str] = field(default_factory=list)


def load_page(browser, url: str) -> PageLoad:
    """Open ``url`` in a new browser context, wait for the first features drawn, let the page settle, pan."""
    context = browser.new_context(viewport=VIEWPORT)
    problems: list[str] = []
    try:
        page = context.new_page()
        page.on("requestfailed", lambda r: problems.append(f"failed: {r.url} {r.failure}"))
        page.on("response", lambda r: r.status >= 400 and problems.append(f"HTTP {r.status}: {r.url}"))
        page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text}"))
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.add_init_script(INIT_JS)
        page.goto(url, wait_until="commit", timeout=FIRST_DRAW_TIMEOUT_MS)
        try:
            page.wait_for_function(FIRST_DRAWN_JS, timeout=FIRST_DRAW_TIMEOUT_MS, polling=50)
        except PlaywrightTimeout:
            problems.append(f"{url}: no features drawn within {FIRST_DRAW_TIMEOUT_MS / 1000:.0f} s")
            return PageLoad("none", 0, None, 0, 0, 0, 0, None, None, 0, 0, problems=problems)
        contract = page.evaluate(HAS_CONTRACT_JS)
        first = page.evaluate(FIRST_JS, contract)
        if contract:
            page.wait_for_function(IDLE_JS, timeout=FIRST_DRAW_TIMEOUT_MS, polling=50)
        page.wait_for_load_state("load", timeout=FIRST_DRAW_TIMEOUT_MS)
        page.evaluate(QUIET_JS)
        settled = page.evaluate(SETTLED_JS) if contract else {"ms": None, "layers": []}
        pan = page.evaluate(PAN_JS, [contract, DRAWN])
        if "error" in pan:
            problems.append(f"pan: {pan['error']}")
        elif contract and pan["via"] != "civicMap":
            problems.append(f"{url}: the pan moved a Leaflet map found on window, not the map client's")
        return PageLoad(
            signal=("contract, empty" if first["empty"] else "contract") if contract else "generic",
            html_bytes=first["htmlBytes"],
            first_ms=first["ms"],
            first_bytes=first["bytes"],
            first_data_bytes=first["dataBytes"],
            first_requests=first["requests"],
            first_features=first["features"],
            all_ms=settled["ms"],
            pan_ms=pan.get("ms"),
            pan_bytes=pan.get("bytes", 0),
            pan_features=pan.get("features", 0),
            layers=settled["layers"],
            problems=problems,
        )
    finally:
        context.close()
