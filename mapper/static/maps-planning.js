/* The planning map's "export this view": the download link follows the map's bounds, the filters applied
 * (the client's own query for the chosen collection, bbox added) and the chosen collection and format, so
 * the file holds what the map shows. The link is a plain <a download>: keyboard reachable, no script to click. */
(function () {
  "use strict";
  CivicMap.hooks.ready.push(function (civicMap) {
    const link = document.getElementById("export-link");
    const chooseLayer = document.getElementById("export-layer"), chooseFormat = document.getElementById("export-format");
    if (!link || !chooseLayer || !chooseFormat) return;
    function update() {
      const layer = civicMap.layers.find(l => l.spec.id === chooseLayer.value);
      if (!layer) return;
      const name = layer.spec.id + "." + chooseFormat.value;
      const url = new URL(link.href, window.location.href);
      url.pathname = url.pathname.replace(/[^/]*$/, encodeURIComponent(name));
      url.search = civicMap.query(layer, {bbox: CivicMap.bbox(civicMap.map)});
      link.href = url.pathname + url.search;
      link.download = name;
    }
    const refreshAll = civicMap.refreshAll;
    civicMap.refreshAll = function () {  // every re-query (map moved, filters applied or cleared)
      refreshAll.apply(this, arguments);
      update();
    };
    civicMap.map.on("moveend", update);
    chooseLayer.addEventListener("change", update);
    chooseFormat.addEventListener("change", update);
    update();
  });
})();
