// Reports kept on the citizen's device while there is no network (IndexedDB), and their sending: each with the
// Idempotency-Key made when the citizen pressed send, so a resend (lost answer, two tabs, Background Sync and
// the page together) never stores a report twice — the server answers a known key with the first response.
// Used by the page (offline-report.js) and by the service worker (sw.js): no DOM here.
(function (scope) {
  "use strict";
  const DB_NAME = "civic-mapper-offline", DB_VERSION = 1;
  const WAITING = "waiting", SENT = "sent";
  const CHANNEL = "civic-mapper-offline";
  const SYNC_TAG = "civic-mapper-send-reports";

  function opened() {
    return new Promise((resolve, reject) => {
      const req = indexedDB.open(DB_NAME, DB_VERSION);
      req.onupgradeneeded = () => {
        req.result.createObjectStore(WAITING, { keyPath: "key" });
        req.result.createObjectStore(SENT, { keyPath: "key" });
      };
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
  }

  // One transaction over ``stores``: ``work(objectStores)`` queues its requests; resolves with what it returns
  // once the transaction has committed.
  async function inTransaction(stores, mode, work) {
    const db = await opened();
    try {
      return await new Promise((resolve, reject) => {
        const tx = db.transaction(stores, mode);
        const result = work(...stores.map(s => tx.objectStore(s)));
        tx.oncomplete = () => resolve(result && "result" in result ? result.result : result);
        tx.onerror = () => reject(tx.error);
        tx.onabort = () => reject(tx.error);
      });
    } finally {
      db.close();
    }
  }

  function changed() {
    if (typeof BroadcastChannel === "undefined") return;
    const ch = new BroadcastChannel(CHANNEL);
    ch.postMessage("changed");
    ch.close();
  }

  // A report to keep: {key, layer, feature (the JSON text sent), made (ISO time)}.
  async function keep(item) {
    await inTransaction([WAITING], "readwrite", w => { w.put({ ...item, problem: null }); });
    changed();
  }

  function all(store) {
    return inTransaction([store], "readonly", s => s.getAll());
  }

  async function list() {
    const byTime = (a, b) => a.made < b.made ? -1 : a.made > b.made ? 1 : 0;
    return { waiting: (await all(WAITING)).sort(byTime), sent: (await all(SENT)).sort(byTime) };
  }

  async function forget(store, key) {
    await inTransaction([store], "readwrite", s => { s.delete(key); });
    changed();
  }

  async function forgetSent() {
    await inTransaction([SENT], "readwrite", s => { s.clear(); });
    changed();
  }

  // Send one kept report. "sent" (201, a replay too): moved to the sent list with its tracking page;
  // "refused" (a 4xx problem): kept, with the server's problem, for the citizen to read and remove;
  // "waiting" (no network, 5xx, 408, 429): kept as it was, to be sent again later.
  async function send(item) {
    let resp;
    try {
      resp = await fetch(`/api/layers/${encodeURIComponent(item.layer)}/reports`, {
        method: "POST",
        headers: { "Content-Type": "application/geo+json", "Accept": "application/json",
                   "Idempotency-Key": item.key, "X-Mapper-Form": "1" },
        body: item.feature,
        credentials: "same-origin",
      });
    } catch (err) {
      return "waiting";
    }
    let body = null;
    try { body = await resp.json(); } catch (err) { body = null; }
    if (resp.status === 201 && body) {
      const sent = { key: item.key, layer: item.layer, made: item.made, id: body.id, status: body.status,
                     tracking_page: body.tracking_page, replayed: resp.headers.get("Idempotent-Replayed") === "true" };
      await inTransaction([WAITING, SENT], "readwrite", (w, s) => { w.delete(item.key); s.put(sent); });
      return "sent";
    }
    if (resp.status >= 400 && resp.status < 500 && resp.status !== 408 && resp.status !== 429) {
      const problem = { status: resp.status, detail: (body && body.detail) || "",
                        errors: (body && Array.isArray(body.errors)) ? body.errors : [] };
      await inTransaction([WAITING], "readwrite", w => { w.put({ ...item, problem: problem }); });
      return "refused";
    }
    return "waiting";
  }

  // One sender at a time in this browser (the page's tabs and the service worker share the lock), so the same
  // key is never in flight twice at once (the server would answer the second with 409 "in progress").
  function exclusively(work) {
    const locks = scope.navigator && scope.navigator.locks;
    return locks ? locks.request("civic-mapper-offline-send", work) : work();
  }

  // Send every kept report not refused yet. Resolves with the outcomes' counts; rejects when some are still
  // waiting, so a Background Sync is tried again later.
  async function sendWaiting() {
    const counts = await exclusively(async () => {
      const tally = { sent: 0, refused: 0, waiting: 0 };
      for (const item of await all(WAITING)) {
        if (item.problem) continue;
        tally[await send(item)] += 1;
      }
      return tally;
    });
    if (counts.sent || counts.refused) changed();
    if (counts.waiting) throw new Error(`${counts.waiting} report(s) still waiting for the network`);
    return counts;
  }

  scope.OfflineQueue = { CHANNEL, SYNC_TAG, keep, list, forget, forgetSent, send, sendWaiting,
                         WAITING, SENT };
})(self);
