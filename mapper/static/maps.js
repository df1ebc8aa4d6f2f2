/* civic-mapper's map client: each layer of a Folium map is read from its feed for the visible bounding box
 * (or, where the box holds more reports than it draws, as counts per square of the screen), popups and the
 * list of reports in view show citizens' values as text only, and filters re-query the feeds.
 *
 * The page gives its configuration as JSON (<script type="application/json" id="civic-map-config">, no
 * citizen's input in it) and Folium's script calls CivicMap.attach(map, {layerId: featureGroup}).
 * While requests are in flight <html data-map-pending> counts them; after each draw data-map-drawn-at is
 * performance.now() and data-map-features the number of features drawn (benchmarks and tests read them).
 */
(function () {
  "use strict";
  const root = document.documentElement;
  let pending = 0;
  function track(delta) {
    pending += delta;
    root.dataset.mapPending = String(pending);
  }
  root.dataset.mapPending = "0";

  function text(tag, value, cls) {
    const el = document.createElement(tag);
    if (cls) el.className = cls;
    el.textContent = value;
    return el;
  }

  function displayValue(spec, name, value) {
    const labels = (spec.enumLabels || {})[name];
    const one = v => (labels && Object.prototype.hasOwnProperty.call(labels, v)) ? labels[v] : v;
    if (Array.isArray(value)) return value.map(one).join(", ");
    if (typeof value === "boolean") return value ? spec.strings.yes : spec.strings.no;
    if (typeof value === "number") return value.toLocaleString(root.lang || undefined, {maximumFractionDigits: 3});
    if (value !== null && typeof value === "object") return JSON.stringify(value);
    return String(one(value));
  }

  function popupContent(spec, feature) {
    const props = feature.properties || {};
    const box = document.createElement("div"), table = document.createElement("table");
    box.className = "report-popup";
    box.appendChild(text("h3", spec.title, "popup-title"));
    spec.popupFields.forEach(function (name, i) {
      const value = props[name];
      if (value === null || value === undefined || value === "") return;
      const row = table.insertRow(), th = document.createElement("th"), td = row.insertCell();
      th.scope = "row";
      th.textContent = spec.popupLabels[i];
      row.insertBefore(th, td);
      td.textContent = displayValue(spec, name, value);
    });
    box.appendChild(table);
    hooks.popup.forEach(hook => hook(spec, feature, box));
    if (spec.scoreUrl && Number.isInteger(feature.id)) {
      const link = text("a", spec.strings.how);
      link.href = spec.scoreUrl + encodeURIComponent(feature.id);
      box.appendChild(link);
    }
    return box;
  }

  function styleFor(spec, feature) {
    const props = (feature && feature.properties) || {};
    let color = spec.color;
    if (spec.colorField && /^#?[0-9a-fA-F]{6}$/.test(props[spec.colorField] || "")) {
      color = "#" + String(props[spec.colorField]).replace("#", "");
    }
    if (spec.classes) {  // items: {value} or a range {min, max}, a colour and a label each
      const value = props[spec.classes.field];
      const hit = spec.classes.items.find(c => ("value" in c) ? c.value === value
        : (typeof value === "number" && (c.min === undefined || value >= c.min) && (c.max === undefined || value < c.max)));
      if (hit) color = hit.color;
    }
    return {color: color, fillColor: color, weight: spec.geometry === "polygon" ? 1 : 1.5,
            fillOpacity: spec.geometry === "polygon" ? 0.45 : 0.8};
  }

  function radiusFor(spec, feature) {  // radiusField: area proportional to the value (stops by departures)
    const v = spec.radiusField ? Number((feature.properties || {})[spec.radiusField]) : NaN;
    return Number.isFinite(v) && v > 0 ? Math.min(24, 3 + Math.sqrt(v) * (spec.radiusScale || 0.5)) : (spec.radius || 7);
  }

  // Page scripts of their own (static/maps-*.js) extend popups: hooks.popup.push((spec, feature, box) => …)
  // … and follow what is drawn: hooks.drawn.push(civicMap => …) runs after every draw.
  const hooks = {popup: [], ready: [], drawn: []};

  function bboxOf(map) {
    const b = map.getBounds();
    const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
    return [clamp(b.getWest(), -180, 180), clamp(b.getSouth(), -90, 90),
            clamp(b.getEast(), -180, 180), clamp(b.getNorth(), -90, 90)].map(v => v.toFixed(6)).join(",");
  }

  // A request superseded by a newer one (the map moved again) is left to finish and its answer dropped:
  // aborting it would show as a failed request.
  const STALE = new Error("superseded");
  function getJSON(url) {
    track(1);
    return fetch(url, {headers: {Accept: "application/geo+json, application/json"}, credentials: "same-origin"})
      .then(r => r.ok ? r.json() : Promise.reject(new Error(url + " answered " + r.status)))
      .finally(() => track(-1));
  }

  function CivicMap(map, groups, config) {
    this.map = map;
    this.config = config;
    this.strings = config.strings;
    this.filters = {from: config.filters.from || "", to: config.filters.to || "", values: {}};
    this.layers = config.layers.map(spec => this.makeLayer(spec, groups[spec.id]));
    let moved = null;
    map.on("moveend", () => {
      clearTimeout(moved);
      moved = setTimeout(() => { this.listCursor = null; this.refreshAll(); }, 120);
    });
    map.on("layeradd layerremove", event => {
      const layer = this.layers.find(l => l.group === event.layer);
      if (!layer) return;
      this.refresh(layer);
      this.updateLegend();
      if (layer === this.listLayer()) this.refreshList();
    });
    this.bindControls();
    this.updateLegend();
    this.refreshAll();
  }

  CivicMap.prototype.makeLayer = function (spec, group) {
    spec.strings = this.strings;
    const data = L.geoJSON(null, {
      renderer: spec.canvas ? L.canvas({padding: 0.5}) : undefined,  // many polygons: one canvas, not SVG paths
      pointToLayer: (feature, latlng) => L.circleMarker(latlng, {radius: radiusFor(spec, feature), ...styleFor(spec, feature)}),
      style: feature => styleFor(spec, feature),
      onEachFeature: (feature, layer) => layer.bindPopup(() => popupContent(spec, feature), {maxWidth: 320}),
    });
    const counts = L.layerGroup();
    data.addTo(group);
    counts.addTo(group);
    return {spec: spec, group: group, data: data, counts: counts, seq: 0};
  };

  CivicMap.prototype.query = function (layer, extra) {
    const p = new URLSearchParams(extra);
    const f = this.filters, spec = layer.spec;
    if (spec.timeFilter && (f.from || f.to)) {
      p.set("datetime", (f.from ? f.from + "T00:00:00Z" : "..") + "/" + (f.to ? f.to + "T23:59:59Z" : ".."));
    }
    if (spec.filterField && f.values[spec.id]) p.set(spec.filterField, f.values[spec.id]);
    return p.toString();
  };

  CivicMap.prototype.refreshAll = function () {
    this.layers.forEach(layer => this.refresh(layer));
    this.refreshList();
  };

  CivicMap.prototype.refresh = function (layer) {
    const seq = ++layer.seq, current = value => seq === layer.seq ? value : Promise.reject(STALE);
    if (!this.map.hasLayer(layer.group)) {
      layer.data.clearLayers();
      layer.counts.clearLayers();
      layer.wholeQuery = null;
      this.drawn();
      return;
    }
    const spec = layer.spec;
    const limit = spec.detailLimit, bbox = bboxOf(this.map), zoom = this.map.getZoom();
    // A small collection (spec.whole: hot spot cells) is read once, whole, and kept while the map moves.
    const wholeQuery = spec.whole ? this.query(layer, {limit: limit}) : null;
    if (wholeQuery !== null && wholeQuery === layer.wholeQuery) { this.drawn(); return; }
    const url = spec.feed + "?" + (wholeQuery !== null ? wholeQuery : this.query(layer, {bbox: bbox, limit: limit}));
    const items = () => getJSON(url).then(current)
      .then(collection => {
        layer.counts.clearLayers();
        layer.data.clearLayers();
        layer.data.addData(collection);
        layer.wholeQuery = wholeQuery;
        this.drawn();
      });
    const work = spec.counts
      ? getJSON(spec.counts + "?" + this.query(layer, {bbox: bbox, zoom: zoom, limit: limit})).then(current)
          .then(doc => doc.numberMatched > limit ? this.drawCounts(layer, doc) : items())
      : items();
    work.catch(err => { if (err !== STALE) console.warn(err.message); });
  };

  CivicMap.prototype.drawCounts = function (layer, doc) {
    layer.data.clearLayers();
    layer.counts.clearLayers();
    const spec = layer.spec, strings = this.strings;
    doc.features.forEach(feature => {
      const n = feature.properties.report_count, c = feature.geometry.coordinates;
      const badge = text("span", n.toLocaleString(root.lang || undefined), "count-badge");
      const size = Math.round(26 + 8 * Math.log10(Math.max(1, n)));
      badge.style.background = spec.color;
      const marker = L.marker([c[1], c[0]], {
        icon: L.divIcon({html: badge, className: "count-marker", iconSize: [size, size]}),
        title: strings.countTitle.replace("%(n)s", n).replace("%(layer)s", spec.title),
        alt: strings.countTitle.replace("%(n)s", n).replace("%(layer)s", spec.title),
        keyboard: true,
        reportCount: n,  // what the square stands for (a heat map weighs it so)
      });
      const zoomIn = () => this.map.setView(marker.getLatLng(), Math.min(this.map.getZoom() + 2, 19));
      marker.on("click", zoomIn);
      marker.on("add", () => marker.getElement().addEventListener("keydown", event => {
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); zoomIn(); }
      }));
      layer.counts.addLayer(marker);
    });
    this.drawn();
  };

  CivicMap.prototype.drawn = function () {
    let n = 0;
    this.layers.forEach(layer => { n += layer.data.getLayers().length + layer.counts.getLayers().length; });
    root.dataset.mapFeatures = String(n);
    hooks.drawn.forEach(hook => hook(this));
    root.dataset.mapDrawnAt = String(performance.now());
  };

  // --- controls beside the map: filters, legend, the list of reports in view ----------------------------
  CivicMap.prototype.bindControls = function () {
    const form = document.getElementById("map-filters");
    if (form) {
      form.addEventListener("submit", event => {
        event.preventDefault();
        this.filters.from = form.elements.from ? form.elements.from.value : "";  // no dates without a time field
        this.filters.to = form.elements.to ? form.elements.to.value : "";
        this.layers.forEach(layer => {
          const select = form.elements["value-" + layer.spec.id];
          this.filters.values[layer.spec.id] = select ? select.value : "";
        });
        this.listCursor = null;
        this.refreshAll();
      });
      form.addEventListener("reset", () => setTimeout(() => form.requestSubmit(), 0));
    }
    const chooser = document.getElementById("list-layer");
    if (chooser) chooser.addEventListener("change", () => { this.listCursor = null; this.refreshList(); });
    document.querySelectorAll("[data-list-page]").forEach(button => button.addEventListener("click", () => {
      this.listCursor = button.dataset.href || null;
      this.refreshList(true);
    }));
    const reportHere = document.getElementById("report-here");
    if (reportHere) {
      reportHere.addEventListener("click", () => {
        const c = this.map.getCenter();
        window.location.href = reportHere.dataset.href + "?lat=" + c.lat.toFixed(6) + "&lon=" + c.lng.toFixed(6);
      });
      this.map.on("contextmenu", event => {
        window.location.href = reportHere.dataset.href + "?lat=" + event.latlng.lat.toFixed(6) +
          "&lon=" + event.latlng.lng.toFixed(6);
      });
    }
  };

  CivicMap.prototype.updateLegend = function () {
    this.layers.forEach(layer => {
      const entry = document.getElementById("legend-" + layer.spec.id);
      if (entry) entry.hidden = !this.map.hasLayer(layer.group);
    });
  };

  CivicMap.prototype.listLayer = function () {
    const chooser = document.getElementById("list-layer");
    return chooser ? this.layers.find(layer => layer.spec.id === chooser.value) : null;
  };

  CivicMap.prototype.refreshList = function (keepFocus) {
    const list = document.getElementById("map-list-items"), layer = this.listLayer();
    if (!list || !layer) return;
    const seq = this.listSeq = (this.listSeq || 0) + 1, spec = layer.spec;
    const url = this.listCursor ||
      (spec.feed + "?" + this.query(layer, {bbox: bboxOf(this.map), limit: 10, cursor: "b999999999999999999"}));
    getJSON(url).then(collection => seq === this.listSeq ? collection : Promise.reject(STALE)).then(collection => {
      const features = collection.features.slice().sort((a, b) => b.id - a.id);
      list.replaceChildren();
      features.forEach(feature => list.appendChild(this.listItem(layer, feature)));
      const status = document.getElementById("map-list-status");
      status.textContent = features.length ? "" : this.strings.noneInView;
      const link = rel => (collection.links || []).find(l => l.rel === rel);
      document.querySelectorAll("[data-list-page]").forEach(button => {
        const found = link(button.dataset.listPage);
        button.disabled = !found;
        button.dataset.href = found ? found.href : "";
      });
      if (keepFocus && list.firstElementChild) list.firstElementChild.querySelector("button").focus();
    }).catch(err => { if (err !== STALE) console.warn(err.message); });
  };

  CivicMap.prototype.listItem = function (layer, feature) {
    const spec = layer.spec, props = feature.properties || {};
    const item = document.createElement("li"), button = document.createElement("button");
    item.dataset.id = String(feature.id);
    button.type = "button";
    const name = spec.listFields.map(n => props[n]).find(v => v !== null && v !== undefined && v !== "");
    button.appendChild(text("span", name === undefined ? spec.title : displayValue(spec, spec.listFields[0], name),
                            "item-title"));
    const when = props[spec.timeField] || "";
    const meta = [when ? String(when).slice(0, 10) : "", displayValue(spec, "status", props.status)]
      .filter(Boolean).join(" · ");
    button.appendChild(text("span", meta, "item-meta"));
    button.addEventListener("click", () => {
      const shape = L.geoJSON(feature);
      const center = shape.getBounds().getCenter();
      L.popup({maxWidth: 320}).setLatLng(center).setContent(popupContent(spec, feature)).openOn(this.map);
    });
    item.appendChild(button);
    return item;
  };

  window.CivicMap = {
    hooks: hooks,
    text: text,
    getJSON: getJSON,
    bbox: bboxOf,  // the map's bounds as a feed's bbox parameter
    attach: function (map, groups) {
      const config = JSON.parse(document.getElementById("civic-map-config").textContent);
      window.civicMap = new CivicMap(map, groups, config);
      hooks.ready.forEach(hook => hook(window.civicMap));
      return window.civicMap;
    },
  };
})();
