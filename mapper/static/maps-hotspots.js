/* The hot spot page: the reports' window (?window= sets the date filter), a week slider, a heat map toggle. */
(function () {
  "use strict";
  const DAY = 86400000;
  function iso(t) { return new Date(t).toISOString().slice(0, 10); }
  CivicMap.hooks.ready.push(function (civicMap) {
    const reports = civicMap.layers.find(l => l.spec.windowFrom);
    if (!reports) return;
    const start = Date.parse(reports.spec.windowFrom), now = Date.now();
    const weeks = Math.max(1, Math.ceil((now - start) / (7 * DAY)));
    const slider = document.getElementById("week-slider"), label = document.getElementById("week-label");
    const whole = label.textContent;
    slider.max = String(weeks);
    // the window's start is the page's first filter (client_config): the first requests already carry it
    slider.addEventListener("input", function () {
      const w = Number(slider.value);
      if (w === 0) {
        civicMap.filters.from = reports.spec.windowFrom; civicMap.filters.to = ""; label.textContent = whole;
      } else {
        const from = start + (w - 1) * 7 * DAY;
        civicMap.filters.from = iso(from); civicMap.filters.to = iso(from + 6 * DAY);
        label.textContent = civicMap.filters.from + " – " + civicMap.filters.to;
      }
      civicMap.refreshAll();
    });
    // The heat map of the reports drawn: each report weighs 1, a square of counts (too many reports in view to
    // draw each) weighs the reports it stands for; redrawn after every draw of the map.
    let heat = null;
    const toggle = document.getElementById("heat-toggle");
    function drawHeat() {
      if (heat) { civicMap.map.removeLayer(heat); heat = null; }
      if (!toggle.checked || !L.heatLayer) return;
      const pts = [];
      reports.data.eachLayer(m => { if (m.getLatLng) { const p = m.getLatLng(); pts.push([p.lat, p.lng, 1]); } });
      reports.counts.eachLayer(m => { const p = m.getLatLng(); pts.push([p.lat, p.lng, m.options.reportCount]); });
      const max = pts.reduce((top, p) => Math.max(top, p[2]), 1);
      heat = L.heatLayer(pts, {radius: 25, max: max}).addTo(civicMap.map);
      root.dataset.heatPoints = String(pts.length);
      root.dataset.heatWeight = String(pts.reduce((sum, p) => sum + p[2], 0));
    }
    const root = document.documentElement;
    toggle.addEventListener("change", drawHeat);
    CivicMap.hooks.drawn.push(drawHeat);
  });
})();
