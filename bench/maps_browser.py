"""What ``bench.maps`` measures in headless Chromium: one page load until the first features are drawn, then a pan.

The signal of "features drawn" is the map client's contract when the page has it (``<html data-map-pending>``:
requests in flight; ``data-map-drawn-at``: ``performance.now()`` of the last draw; ``data-map-features``: what is
drawn), else a generic one that fits any Leaflet page, Folium's own included: the end of the first frame rendered
after drawn vector paths (``.leaflet-overlay-pane path.leaflet-interactive``) or marker icons appear in the DOM
(for icons: once their image has loaded), taken by a task queued from ``requestAnimationFrame``, which runs once
that frame's style, layout and paint are done. Bytes
are the Resource Timing ``transferSize`` (headers + encoded body) of the document and of every resource whose
response had ended by the draw, in the page's own clock; the browser context is new for each load (empty cache).
"""

from __future__ import annotations

from dataclasses import dataclass

from playwright.sync_api import TimeoutError as PlaywrightTimeout

DRAWN = ".leaflet-overlay-pane path.leaflet-interactive, .leaflet-marker-pane .leaflet-marker-icon"
VIEWPORT = {"width": 1280, "height": 800}
FIRST_DRAW_TIMEOUT_MS = 600_000
CONTRACT_WAIT_MS = 30_000  # after the generic signal, how long a page with the contract gets to report its draw

# Runs before any script of the page (CSP does not apply to it): records the first draw by either signal.
INIT_JS = f"""
(() => {{
  const b = window.__bench = {{generic: null, genericCount: 0, contract: null, contractFeatures: 0}};
  performance.setResourceTimingBufferSize(100000);
  let seen = false;
  const observer = new MutationObserver(() => {{
    const d = document.documentElement && document.documentElement.dataset;
    if (d && b.contract === null && d.mapDrawnAt !== undefined && Number(d.mapFeatures) > 0) {{
      b.contract = Number(d.mapDrawnAt);
      b.contractFeatures = Number(d.mapFeatures);
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
    if (seen && b.contract !== null) observer.disconnect();
  }});
  observer.observe(document, {{subtree: true, childList: true, attributes: true,
                               attributeFilter: ["data-map-drawn-at", "data-map-features"]}});
}})();
"""

FIRST_DRAWN_JS = "() => window.__bench && (window.__bench.generic !== null || window.__bench.contract !== null)"
HAS_CONTRACT_JS = "() => document.documentElement.dataset.mapPending !== undefined"
CONTRACT_DRAWN_JS = "() => window.__bench.contract !== null"
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

# The drawn moment and the bytes that had arrived by then.
FIRST_JS = """
(useContract) => {
  const DATA = ["fetch", "xmlhttprequest"];
  const b = window.__bench, t = useContract ? b.contract : b.generic;
  const nav = performance.getEntriesByType("navigation")[0];
  const entries = [nav, ...performance.getEntriesByType("resource")];
  const before = entries.filter(e => e.responseEnd <= t);
  return {
    ms: t,
    features: useContract ? b.contractFeatures : b.genericCount,
    bytes: before.reduce((s, e) => s + e.transferSize, 0),
    dataBytes: before.filter(e => DATA.includes(e.initiatorType)).reduce((s, e) => s + e.transferSize, 0),
    requests: before.length,
    htmlBytes: nav.decodedBodySize,
    htmlTransfer: nav.transferSize,
  };
}
"""

# Pan by half the viewport's width without animation; drawn when the contract reports a draw after the pan with
# nothing in flight, or (generic) when the first frame after Leaflet's moveend has been rendered.
PAN_JS = """
async ([useContract, drawn]) => {
  const frame = () => new Promise(r => requestAnimationFrame(r));
  const painted = () => new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)));
  let map = null;
  for (const key of Object.keys(window)) {
    try { if (window[key] instanceof L.Map) { map = window[key]; break; } } catch (e) {}
  }
  if (map === null) return {error: "no Leaflet map object found on window"};
  const d = document.documentElement.dataset, size = map.getSize();
  const t0 = performance.now();
  const moved = new Promise(r => map.once("moveend", r));
  map.panBy([Math.round(size.x / 2), 0], {animate: false});
  await moved;
  let t = null;
  if (useContract) {
    while (performance.now() < t0 + 30000) {
      if (Number(d.mapDrawnAt) > t0 && d.mapPending === "0") { t = Number(d.mapDrawnAt); break; }
      await frame();
    }
    if (t === null) return {error: "no draw reported within 30 s of the pan"};
  } else {
    await painted();
    t = performance.now();
  }
  const after = performance.getEntriesByType("resource").filter(e => e.startTime >= t0 && e.responseEnd <= t);
  return {ms: t - t0, bytes: after.reduce((s, e) => s + e.transferSize, 0), requests: after.length,
          features: useContract ? Number(d.mapFeatures) : document.querySelectorAll(drawn).length};
}
"""


@dataclass
class PageLoad:
    """One cold load of a map page and one pan."""

    signal: str  # "contract" (data-map-*) or "generic" (drawn Leaflet elements)
    html_bytes: int
    first_ms: float | None  # None: not drawn within FIRST_DRAW_TIMEOUT_MS
    first_bytes: int
    first_data_bytes: int  # of which fetch/XHR responses (the features), the rest being the page and its assets
    first_requests: int
    first_features: int
    pan_ms: float | None
    pan_bytes: int
    pan_features: int
    problems: list[str]


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
            return PageLoad("none", 0, None, 0, 0, 0, 0, None, 0, 0, problems)
        contract = page.evaluate(HAS_CONTRACT_JS)
        if contract:
            page.wait_for_function(CONTRACT_DRAWN_JS, timeout=CONTRACT_WAIT_MS, polling=50)
        first = page.evaluate(FIRST_JS, contract)
        if contract:
            page.wait_for_function(IDLE_JS, timeout=FIRST_DRAW_TIMEOUT_MS, polling=50)
        page.wait_for_load_state("load", timeout=FIRST_DRAW_TIMEOUT_MS)
        page.evaluate(QUIET_JS)
        pan = page.evaluate(PAN_JS, [contract, DRAWN])
        if "error" in pan:
            problems.append(f"pan: {pan['error']}")
        return PageLoad(
            signal="contract" if contract else "generic",
            html_bytes=first["htmlBytes"],
            first_ms=first["ms"],
            first_bytes=first["bytes"],
            first_data_bytes=first["dataBytes"],
            first_requests=first["requests"],
            first_features=first["features"],
            pan_ms=pan.get("ms"),
            pan_bytes=pan.get("bytes", 0),
            pan_features=pan.get("features", 0),
            problems=problems,
        )
    finally:
        context.close()
