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
    civicMap.filters.from = reports.spec.windowFrom;
    civicMap.filters.to = "";
    civicMap.refreshAll();
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
    let heat = null;
    const toggle = document.getElementById("heat-toggle");
    function drawHeat() {
      if (heat) { civicMap.map.removeLayer(heat); heat = null; }
      if (!toggle.checked || !L.heatLayer) return;
      const pts = [];
      reports.data.eachLayer(m => { if (m.getLatLng) { const p = m.getLatLng(); pts.push([p.lat, p.lng, 1]); } });
      heat = L.heatLayer(pts, {radius: 25}).addTo(civicMap.map);
    }
    toggle.addEventListener("change", drawHeat);
    civicMap.map.on("moveend", () => setTimeout(drawHeat, 300));
  });
})();
