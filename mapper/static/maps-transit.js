/* The transit page: a stop's popup lists its routes and headway; the feed and service date beside the map. */
(function () {
  "use strict";
  CivicMap.hooks.ready.push(function (civicMap) {
    const stops = civicMap.layers.find(l => l.spec.id === "transit_stops");
    const out = document.getElementById("transit-feed");
    civicMap.map.on("moveend", show);
    setTimeout(show, 800);
    function show() {
      if (!stops || !out) return;
      let p = null;
      stops.data.eachLayer(m => { if (!p && m.feature) p = m.feature.properties; });
      if (p) out.textContent = (p.feed || "") + " · " + (p.service_date || "");
    }
  });
})();
