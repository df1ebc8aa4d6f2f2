/* /maps/health: a centre's popup gets its Bayesian rating and n and its complaints per month (counts only,
 * from the ratings score, joined by centre name) and its nearest transit stop with departures per day (from
 * the report's transit_access score). Values are set as text only. */
(function () {
  "use strict";
  let ratings = null;  // one request per page, made when the first popup opens

  function ratingsFor(spec) {
    if (!ratings) {
      ratings = CivicMap.getJSON(spec.ratingsUrl).then(doc => {
        const run = (doc.scores || {}).ratings, byName = new Map();
        ((run && run.results) || []).forEach(r => byName.set(r.centre, r));
        return byName;
      });
    }
    return ratings;
  }

  function line(table, label, value) {
    const tr = table.insertRow(), th = document.createElement("th");
    th.scope = "row";
    th.textContent = label;
    tr.appendChild(th);
    tr.appendChild(CivicMap.text("td", value));
  }

  const number = (v, digits) => Number(v).toLocaleString(document.documentElement.lang || undefined,
                                                         {maximumFractionDigits: digits});

  CivicMap.hooks.popup.push((spec, feature, box) => {
    if (!spec.ratingsUrl || !Number.isInteger(feature.id)) return;
    const s = spec.pageStrings, table = document.createElement("table");
    table.className = "centre-scores";
    const wait = CivicMap.text("p", s.loading, "hint");
    box.append(wait, table);
    const name = (feature.properties || {}).centre_name;
    const rating = ratingsFor(spec).then(byName => {
      const r = byName.get(name);
      line(table, s.rating, r && r.ratings ? s.ratingValue.replace("%(score)s", number(r.bayesian_average, 2))
        .replace("%(n)s", String(r.ratings)) : s.noRating);
      const months = r ? Object.keys(r.complaints_by_month || {}).sort() : [];
      line(table, s.complaints, months.length
        ? months.map(m => m + ": " + r.complaints_by_month[m]).join(", ") : s.noComplaints);
    });
    const transit = CivicMap.getJSON(spec.scoreUrl + encodeURIComponent(feature.id) + "?f=json").then(doc => {
      const t = (doc.scores || []).find(d => d.method === "transit_access");
      if (!t || t.result.nearest_stop === null) { line(table, s.stop, s.noTransit); return; }
      line(table, s.stop, s.stopValue.replace("%(stop)s", t.result.nearest_stop)
        .replace("%(m)s", number(t.result.nearest_stop_m, 0)));
      line(table, s.departures, number(t.result.departures_within_reach, 0));
    });
    Promise.allSettled([rating, transit]).then(results => {
      wait.remove();
      results.filter(r => r.status === "rejected").forEach(r => console.warn(r.reason && r.reason.message));
    });
  });
})();
