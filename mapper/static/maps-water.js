/* /maps/water: citizens' alerts outlined, each measurement against its WHO value in the popup (from the
 * score's explanation, fetched when the popup opens), and — for staff who may decide alerts, whose page
 * carries <meta name="csrf-token"> — buttons that verify or dismiss an alert. Values are set as text only. */
(function () {
  "use strict";
  const meta = name => { const m = document.querySelector(`meta[name="${name}"]`); return m ? m.content : ""; };
  const isWater = spec => Boolean(spec.alertField);

  CivicMap.hooks.ready.push(civicMap => {
    civicMap.layers.filter(l => isWater(l.spec)).forEach(layer => {
      layer.data.on("layeradd", event => {
        const f = event.layer.feature;
        if (f && f.properties && f.properties[layer.spec.alertField] === true) {
          event.layer.setStyle({color: layer.spec.alertColor, weight: 4});
          if (event.layer.getElement && event.layer.getElement()) event.layer.getElement().classList.add("water-alert");
          else event.layer.once("add", () => event.layer.getElement().classList.add("water-alert"));
        }
      });
    });
  });

  function row(table, cells, header) {
    const tr = table.insertRow();
    cells.forEach(value => tr.appendChild(CivicMap.text(header ? "th" : "td", value)));
    return tr;
  }

  function guideline(check) {
    if (check.lower !== null && check.upper !== null) return check.lower + "–" + check.upper;
    if (check.upper !== null) return "≤ " + check.upper;
    return "≥ " + check.lower;
  }

  function measurements(spec, box, doc) {
    const s = spec.pageStrings;
    const score = (doc.scores || []).find(d => d.method === "water_quality");
    if (!score) { box.replaceChildren(CivicMap.text("p", s.noScore, "hint")); return; }
    const r = score.result, table = document.createElement("table");
    table.className = "who-checks";
    table.appendChild(CivicMap.text("caption", s.measurements));
    row(table, [s.parameter, s.value, s.guideline, s.result], true);
    Object.keys(r.checks || {}).forEach(name => {
      const c = r.checks[name], i = spec.popupFields.indexOf(name);
      const tr = row(table, [i >= 0 ? spec.popupLabels[i] : name, String(c.value), guideline(c), c.pass ? s.pass : s.fail]);
      tr.className = c.pass ? "check-pass" : "check-fail";
    });
    const items = [CivicMap.text("p", s.safety + ": " + r.safety + " — " + r.reason, "water-safety")];
    if (r.alert) items.push(CivicMap.text("p", s.alert + ": " + r.alert.state, "water-alert-state"));
    box.replaceChildren(...items, table);
  }

  function decide(spec, feature, box, decision) {
    const s = spec.pageStrings, url = meta("alert-decision-url").replace("{id}", encodeURIComponent(feature.id));
    box.querySelectorAll("button").forEach(b => { b.disabled = true; });
    fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": meta("csrf-token"), Accept: "application/json"},
      body: JSON.stringify({decision: decision}),
    }).then(r => r.ok ? r.json() : Promise.reject(r.status)).then(result => {
      const status = (spec.enumLabels.status || {})[result.status] || result.status;
      box.replaceChildren(CivicMap.text("p", s.decided.replace("%(status)s", status), "decision-done"));
      const layer = window.civicMap.layers.find(l => l.spec === spec);
      if (layer) window.civicMap.refresh(layer);
    }).catch(status => {
      box.querySelectorAll("button").forEach(b => { b.disabled = false; });
      box.appendChild(CivicMap.text("p", s.refused.replace("%(status)s", String(status)), "decision-refused"));
    });
  }

  CivicMap.hooks.popup.push((spec, feature, box) => {
    if (!isWater(spec) || !Number.isInteger(feature.id)) return;
    const s = spec.pageStrings, section = document.createElement("div");
    section.className = "water-measurements";
    section.appendChild(CivicMap.text("p", s.loading, "hint"));
    box.appendChild(section);
    CivicMap.getJSON(spec.scoreUrl + encodeURIComponent(feature.id) + "?f=json")
      .then(doc => measurements(spec, section, doc))
      .catch(err => { section.replaceChildren(CivicMap.text("p", s.noScore, "hint")); console.warn(err.message); });
    if (meta("csrf-token") && (feature.properties || {})[spec.alertField] === true) {
      const actions = document.createElement("div");
      actions.className = "alert-actions";
      [["verify", s.verify], ["dismiss", s.dismiss]].forEach(([decision, label]) => {
        const button = CivicMap.text("button", label, "button");
        button.type = "button";
        button.dataset.decision = decision;
        button.addEventListener("click", () => decide(spec, feature, actions, decision));
        actions.appendChild(button);
      });
      box.appendChild(actions);
    }
  });
})();
