// The report form without a network: registers the service worker (sw.js) that keeps the form's shell, keeps a
// report that could not be sent (offline-queue.js) and lists the reports kept on this device — waiting, refused
// (with the server's reasons, never dropped silently) or sent (with their tracking links). Waiting reports are
// sent again when the connection returns, when the page opens, and by Background Sync where the browser has it.
// report.js calls ``OfflineReports.keep(layer, featureJson, idempotencyKey)`` when a send fails for lack of network.
(function () {
  "use strict";
  const section = document.getElementById("offline");
  if (!section || !window.OfflineQueue || !window.indexedDB) return;
  const text = JSON.parse(document.getElementById("offline-messages").textContent);
  const status = document.getElementById("offline-status");
  const waitingList = document.getElementById("offline-waiting");
  const sentList = document.getElementById("offline-sent");
  const waitingBox = document.getElementById("offline-waiting-box");
  const sentBox = document.getElementById("offline-sent-box");
  let shownWaiting = new Set();
  // Tried again after 5 s, 10 s, … up to every 2 minutes while some are waiting: a network can come back
  // without an "online" event (the device was "online" all along, behind a dead Wi-Fi).
  const FIRST_RETRY_MS = 5000, LAST_RETRY_MS = 120000;
  let retryMs = FIRST_RETRY_MS, retryTimer = null;

  if ("serviceWorker" in navigator && window.isSecureContext) {
    navigator.serviceWorker.register(section.dataset.worker, { scope: section.dataset.scope })
      .catch(() => { /* no worker (private mode, policy): the form still works online */ });
  }

  function layerTitle(id) {
    const option = document.querySelector(`#layer option[value="${CSS.escape(id)}"]`);
    return option ? option.textContent : id;
  }

  function when(iso) {
    const t = document.createElement("time");
    t.dateTime = iso;
    t.textContent = new Date(iso).toLocaleString(document.documentElement.lang || undefined,
                                                 { dateStyle: "medium", timeStyle: "short" });
    return t;
  }

  // "<layer>, made <time>" at the start of a list item.
  function itemHead(item) {
    const li = document.createElement("li");
    li.dataset.key = item.key;
    const title = document.createElement("strong");
    title.textContent = layerTitle(item.layer);
    const made = text.made.split("{time}");
    li.append(title, ", " + made[0], when(item.made), made[1] || "");
    return li;
  }

  function button(label, onClick) {
    const b = document.createElement("button");
    b.type = "button"; b.textContent = label;
    b.addEventListener("click", onClick);
    return b;
  }

  // A refused report keeps what the citizen wrote on the page, with the server's reasons.
  function refusedDetails(item) {
    const box = document.createElement("div");
    box.className = "offline-problem";
    const reasons = document.createElement("p");
    reasons.className = "error";
    const problem = item.problem;
    const named = problem.errors.map(e => `${e.field}: ${e.reason}`);
    reasons.textContent = text.refused + " " + (named.length ? named.join("; ") : problem.detail || String(problem.status));
    const details = document.createElement("details");
    const summary = document.createElement("summary");
    summary.textContent = text.show_report;
    const pre = document.createElement("pre");
    let feature = item.feature;
    try { feature = JSON.stringify(JSON.parse(item.feature).properties, null, 2); } catch (err) { /* as kept */ }
    pre.textContent = feature;
    details.append(summary, pre);
    box.append(reasons, details, button(text.remove, () => OfflineQueue.forget(OfflineQueue.WAITING, item.key).then(render)));
    return box;
  }

  function waitingItem(item) {
    const li = itemHead(item);
    if (item.problem) li.append(" — ", refusedDetails(item));
    else li.append(" — " + text.waiting);
    return li;
  }

  function sentItem(item) {
    const li = itemHead(item);
    const link = document.createElement("a");
    link.textContent = text.see_status;
    if (String(item.tracking_page).startsWith("/track/")) link.href = item.tracking_page;
    li.append(" — " + text.sent_as.replace("{id}", String(item.id)) + " (", link, ")");
    return li;
  }

  async function render() {
    const { waiting, sent } = await OfflineQueue.list();
    waitingList.replaceChildren(...waiting.map(waitingItem));
    sentList.replaceChildren(...sent.map(sentItem));
    waitingBox.hidden = !waiting.length;
    sentBox.hidden = !sent.length;
    section.hidden = !waiting.length && !sent.length;
    const arrived = sent.filter(s => shownWaiting.has(s.key));
    if (arrived.length) say(text.sent_now);
    shownWaiting = new Set(waiting.map(w => w.key));
    retryLater(waiting.some(w => !w.problem));
  }

  function retryLater(anyWaiting) {
    window.clearTimeout(retryTimer);
    if (!anyWaiting) { retryMs = FIRST_RETRY_MS; return; }
    retryTimer = window.setTimeout(() => { retryMs = Math.min(2 * retryMs, LAST_RETRY_MS); sendWaiting(); }, retryMs);
  }

  function say(message) {
    status.textContent = "";
    // A new text node in the live region is announced even when the message is the same as the last one.
    window.setTimeout(() => { status.textContent = message; }, 50);
  }

  async function sendWaiting() {
    try { await OfflineQueue.sendWaiting(); } catch (err) { /* still no network: kept for the next try */ }
    await render();
  }

  async function askForBackgroundSync() {
    try {
      const reg = await navigator.serviceWorker.ready;
      if (reg.sync) await reg.sync.register(OfflineQueue.SYNC_TAG);
    } catch (err) { /* no Background Sync: the page sends when the connection returns */ }
  }

  // Keep a report that could not be sent; true when it is kept (the form may then be cleared).
  async function keep(layer, feature, key) {
    try {
      await OfflineQueue.keep({ key: key, layer: layer, feature: feature, made: new Date().toISOString() });
    } catch (err) {
      return false;  // no storage (private mode, full disk): report.js says the send failed
    }
    await render();
    say(text.kept);
    section.scrollIntoView({ block: "nearest" });
    if ("serviceWorker" in navigator) askForBackgroundSync();
    return true;
  }

  document.getElementById("offline-forget-sent").addEventListener("click", () => OfflineQueue.forgetSent().then(render));
  window.addEventListener("online", () => { retryMs = FIRST_RETRY_MS; sendWaiting(); });
  if (typeof BroadcastChannel !== "undefined") new BroadcastChannel(OfflineQueue.CHANNEL).onmessage = render;
  render().then(() => { if (navigator.onLine) sendWaiting(); });

  window.OfflineReports = { keep: keep, sendWaiting: sendWaiting, render: render };
})();
