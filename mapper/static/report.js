// The citizen's report form: place the report, fill the layer's fields, send it as a GeoJSON Feature.
(function () {
  "use strict";
  const form = document.getElementById("report-form");
  const layerSelect = document.getElementById("layer");
  const lat = document.getElementById("lat"), lon = document.getElementById("lon");
  const polygonText = document.getElementById("polygon");
  // The page's messages in its language (a JSON block written by the server: report.html).
  const text = JSON.parse(document.getElementById("report-messages").textContent);
  // One key per report body: a retry of the same body (double submit, lost response) reuses it, so the
  // server stores the report once; a corrected body gets a new key (reusing one with another body is a 409).
  let idempotencyKey = null, keyedBody = null, keyedLayer = null;

  function newKey() {
    return (window.crypto && crypto.randomUUID) ? crypto.randomUUID()
      : String(Date.now()) + "-" + Math.random().toString(16).slice(2);
  }

  // --- map ---------------------------------------------------------------------------------------
  const map = L.map("map", { keyboard: true }).setView(JSON.parse(form.dataset.center), Number(form.dataset.zoom));
  if (form.dataset.tilesUrl) {
    L.tileLayer(form.dataset.tilesUrl, { attribution: form.dataset.tilesAttribution, maxZoom: 19 }).addTo(map);
  }
  let marker = null, outline = null, vertices = [];

  function geometryKind() { return layerSelect.selectedOptions[0].dataset.geometry; }

  function setPoint(latV, lonV, pan) {
    if (!isFinite(latV) || !isFinite(lonV)) return;
    if (marker) marker.setLatLng([latV, lonV]);
    else marker = L.circleMarker([latV, lonV], { radius: 9, color: "#c0392b" }).addTo(map);
    if (pan) map.panTo([latV, lonV]);
  }

  function drawOutline() {
    if (outline) { map.removeLayer(outline); outline = null; }
    if (vertices.length) outline = L.polygon(vertices.map(v => [v[1], v[0]]), { color: "#d35400" }).addTo(map);
  }

  // A click, a tap, or Enter/Space on the focused map (at its centre, marked by a cross-hair: site.css).
  function place(latlng) {
    const p = latlng.wrap();
    if (geometryKind() === "point") {
      lat.value = p.lat.toFixed(6); lon.value = p.lng.toFixed(6);
      setPoint(p.lat, p.lng, false);
    } else {
      vertices.push([Number(p.lng.toFixed(6)), Number(p.lat.toFixed(6))]);
      polygonText.value = vertices.map(v => v[0] + ", " + v[1]).join("\n");
      drawOutline();
    }
  }
  map.on("click", e => place(e.latlng));
  // Keyboard: Leaflet's arrow keys move the map (+/- zoom); Enter or Space places the point, or the outline's
  // next corner, at the centre, once a move under way has ended. Keys on the map's own controls are theirs.
  const mapPane = map.getPane("mapPane");
  map.getContainer().addEventListener("keydown", function (e) {
    if (e.target !== map.getContainer() || (e.key !== "Enter" && e.key !== " ") || e.altKey || e.ctrlKey || e.metaKey) return;
    e.preventDefault();
    if (mapPane.classList.contains("leaflet-pan-anim")) map.once("moveend", () => place(map.getCenter()));
    else place(map.getCenter());
  });
  [lat, lon].forEach(el => el.addEventListener("change", () => setPoint(parseFloat(lat.value), parseFloat(lon.value), true)));
  polygonText.addEventListener("change", () => { vertices = parseVertices(); drawOutline(); });
  document.getElementById("clear-shape").addEventListener("click", () => { vertices = []; polygonText.value = ""; drawOutline(); });

  document.getElementById("locate").addEventListener("click", function () {
    if (!navigator.geolocation) { showError("geometry", text.no_geolocation); return; }
    navigator.geolocation.getCurrentPosition(
      pos => { lat.value = pos.coords.latitude.toFixed(6); lon.value = pos.coords.longitude.toFixed(6);
               setPoint(pos.coords.latitude, pos.coords.longitude, true); },
      () => showError("geometry", text.no_location));
  });

  function parseVertices() {
    return polygonText.value.split("\n").map(l => l.trim()).filter(Boolean)
      .map(l => l.split(/[,\s]+/).map(Number));
  }

  // --- layer switching -----------------------------------------------------------------------------
  function currentFieldset() { return form.querySelector(`fieldset[data-layer="${layerSelect.value}"]`); }
  function switchLayer() {
    form.querySelectorAll("fieldset.layer-fields").forEach(fs => {
      const on = fs.dataset.layer === layerSelect.value;
      fs.hidden = !on; fs.disabled = !on;
    });
    const poly = geometryKind() === "polygon";
    document.getElementById("point-inputs").hidden = poly;
    document.getElementById("polygon-inputs").hidden = !poly;
    if (marker && poly) { map.removeLayer(marker); marker = null; }
    if (outline && !poly) { map.removeLayer(outline); outline = null; vertices = []; }
    clearErrors();
  }
  layerSelect.addEventListener("change", switchLayer);

  // --- building the Feature ------------------------------------------------------------------------
  function collectProperties() {
    const props = {};
    const fs = currentFieldset();
    fs.querySelectorAll("[data-type]").forEach(el => {
      const name = el.name, type = el.dataset.type;
      if (type === "enum-multi") {
        if (!props[name]) props[name] = [];
        if (el.checked) props[name].push(el.value);
        return;
      }
      if (type === "boolean") { if (el.checked) props[name] = true; return; }
      const v = el.value.trim();
      if (v === "") return;
      if (type === "integer" || type === "number") {
        const n = Number(v); props[name] = isNaN(n) ? v : n;  // the server names the problem
      } else if (type === "datetime") {
        const d = new Date(v); props[name] = isNaN(d) ? v : d.toISOString();
      } else props[name] = v;
    });
    Object.keys(props).forEach(k => { if (Array.isArray(props[k]) && !props[k].length) delete props[k]; });
    return props;
  }

  function collectGeometry() {
    if (geometryKind() === "point") {
      if (lat.value.trim() === "" || lon.value.trim() === "") return null;
      return { type: "Point", coordinates: [Number(lon.value), Number(lat.value)] };
    }
    const ring = parseVertices();
    if (!ring.length) return null;
    const first = ring[0], last = ring[ring.length - 1];
    if (ring.length > 2 && (first[0] !== last[0] || first[1] !== last[1])) ring.push(first.slice());
    return { type: "Polygon", coordinates: [ring] };
  }

  // --- errors --------------------------------------------------------------------------------------
  function clearErrors() {
    form.querySelectorAll(".error").forEach(p => { p.textContent = ""; });  // the photos' list too
    form.querySelectorAll("[aria-invalid]").forEach(el => el.removeAttribute("aria-invalid"));
  }
  function showError(field, reason) {
    let el, inputs = [];
    if (field.startsWith("photo")) {
      const item = document.createElement("li");  // one line per refused file (its name is in the reason)
      item.textContent = reason.charAt(0).toUpperCase() + reason.slice(1) + ".";
      document.getElementById("err-photos").appendChild(item);
      photoInput.setAttribute("aria-invalid", "true");
      return photoInput;
    }
    if (field.startsWith("geometry") || field === "crs") {
      el = document.getElementById("err-geometry");
      // The inputs of the current geometry kind (the others are hidden and cannot take the focus).
      inputs = geometryKind() === "point" ? [lat, lon] : [polygonText];
    } else if (field.startsWith("properties.")) {
      el = document.getElementById(`err-${layerSelect.value}-${field.slice(11)}`);
      const box = el && el.closest(".field");
      const input = box && box.querySelector("input, select, textarea");
      if (input) inputs = [input];
    }
    el = el || document.getElementById("err-form");
    el.textContent = (el.textContent ? el.textContent + " " : "") + reason.charAt(0).toUpperCase() + reason.slice(1) + ".";
    inputs.forEach(i => i.setAttribute("aria-invalid", "true"));
    return inputs[0] || null;
  }

  // A number or date the browser cannot read has value "" (it would be dropped silently): name it here.
  function unreadableInputs() {
    const problems = [];
    currentFieldset().querySelectorAll("input[data-type]").forEach(el => {
      if (el.validity && el.validity.badInput) {
        const type = el.dataset.type;
        problems.push({ field: "properties." + el.name,
          reason: type === "integer" ? text.not_whole_number : type === "number" ? text.not_number
            : type === "date" ? text.not_date : text.not_datetime });
      }
    });
    [lat, lon].forEach(el => {
      if (geometryKind() === "point" && el.validity.badInput) {
        problems.push({ field: "geometry", reason: el === lat ? text.latitude_not_number : text.longitude_not_number });
      }
    });
    return problems;
  }

  function showErrors(errors) {
    let firstInput = null;
    errors.forEach(e => { const i = showError(e.field, e.reason); firstInput = firstInput || i; });
    if (firstInput) firstInput.focus();
  }

  // --- photos: with files the report goes as multipart/form-data (part "feature" + parts "photo") -----
  const photoInput = document.getElementById("photos");
  function photoFiles() { return Array.from(photoInput.files || []); }
  // The request body and its headers; "signature" tells a retry of the same report from a changed one.
  function reportBody(payload) {
    const files = photoFiles();
    if (!files.length) return { body: payload, type: "application/geo+json", signature: payload };
    const data = new FormData();
    data.append("feature", payload);
    files.forEach(f => data.append("photo", f, f.name));
    const signature = payload + files.map(f => "\n" + [f.name, f.size, f.lastModified].join("/")).join("");
    return { body: data, type: null, signature: signature };  // the browser writes the multipart boundary
  }

  // --- submit --------------------------------------------------------------------------------------
  form.addEventListener("submit", async function (ev) {
    ev.preventDefault();
    const button = document.getElementById("submit");
    if (button.disabled) return;  // a request is on its way (Enter pressed twice, double click)
    clearErrors();
    const unreadable = unreadableInputs();
    if (unreadable.length) { showErrors(unreadable); return; }
    const geometry = collectGeometry();
    if (!geometry) { showErrors([{ field: "geometry", reason: text.no_geometry }]); return; }
    const layerId = layerSelect.value;
    if (photoFiles().length > 3) { showErrors([{ field: "photo", reason: text.too_many_photos }]); return; }
    const payload = JSON.stringify({ type: "Feature", geometry: geometry, properties: collectProperties() });
    const sent = reportBody(payload);
    if (sent.signature !== keyedBody || layerId !== keyedLayer) { idempotencyKey = newKey(); keyedBody = sent.signature; keyedLayer = layerId; }
    button.disabled = true;
    let resp;
    try {
      if (navigator.onLine === false) throw new TypeError("offline");
      resp = await fetch(`/api/layers/${encodeURIComponent(layerId)}/reports`, {
        method: "POST",
        headers: Object.assign(sent.type ? { "Content-Type": sent.type } : {},
          { "Accept": "application/json", "Idempotency-Key": idempotencyKey, "X-Mapper-Form": "1" }),
        body: sent.body,
      });
    } catch (err) {
      button.disabled = false;
      // The browser is offline: the report is kept on this device and sent with the same key when the network
      // returns (offline-report.js). Online, a failed send (a reset connection, a lost answer) is the
      // citizen's to retry, with the same key, or to correct first.
      // Photos are not kept offline: a report with photos stays in the form for the citizen to send later.
      if (navigator.onLine === false && window.OfflineReports && !photoFiles().length
          && await OfflineReports.keep(layerId, payload, idempotencyKey)) { clearForm(); return; }
      showError("form", text.network);
      return;
    }
    let body = null;
    try { body = await resp.json(); } catch (err) { body = null; }
    button.disabled = false;
    if (resp.status === 201 && body) {
      showResult(body);
    } else {
      const fallback = { field: "form", reason: (body && body.detail) || text.server.replace("{status}", String(resp.status)) };
      showErrors(body && body.errors && body.errors.length ? body.errors : [fallback]);
    }
  });

  function showResult(body) {
    document.getElementById("result-id").textContent = body.id;
    document.getElementById("result-status").textContent = text.statuses[body.status] || body.status;
    document.getElementById("result-token").textContent = body.tracking_token;
    document.getElementById("result-link").href = body.tracking_page;
    form.hidden = true;
    const result = document.getElementById("result");
    result.hidden = false; result.focus();
  }
  function clearForm() {
    form.reset(); idempotencyKey = keyedBody = keyedLayer = null; vertices = []; drawOutline();
    if (marker) { map.removeLayer(marker); marker = null; }
    switchLayer();
  }
  document.getElementById("another").addEventListener("click", function () {
    clearForm();
    document.getElementById("result").hidden = true; form.hidden = false; layerSelect.focus();
  });
  switchLayer();
  // Opened from a map's "report a problem here" (/report?lat=&lon=): the server filled the coordinates.
  if (geometryKind() === "point" && lat.value !== "" && lon.value !== "") setPoint(parseFloat(lat.value), parseFloat(lon.value), false);
})();
