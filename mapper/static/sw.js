// The report form's service worker (scope /report): keeps the form's shell and its same-origin assets so the
// form opens without a network, and sends the reports kept offline (offline-queue.js) on Background Sync.
// Registered by offline-report.js as /sw.js?v=<asset version>: a deploy changes the version, so the browser
// installs a new worker, which fills a new cache and deletes the old ones.
"use strict";
importScripts("/static/offline-queue.js");

const VERSION = new URL(self.location.href).searchParams.get("v") || "0";
const CACHE_PREFIX = "civic-mapper-report-";
const CACHE = CACHE_PREFIX + VERSION;
const SHELL = [
  "/report",
  "/static/site.css",
  "/static/favicon.svg",
  "/static/offline-queue.js",
  "/static/offline-report.js",
  "/static/report.js",
  "/vendor/leaflet/dist/leaflet.css",
  "/vendor/leaflet/dist/leaflet.js",
  "/api/layers",
];
// Never kept: what is private to a person or changes with every answer (sign-in, tracking, report status).
const NEVER = [/^\/staff(\/|$)/, /^\/track(\/|$)/, /^\/api\/reports(\/|$)/];

self.addEventListener("install", event => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    await cache.addAll(SHELL);
    // The layer schemas the form describes, each one's own document.
    const layers = await (await cache.match("/api/layers")).json();
    await cache.addAll(layers.layers.map(l => "/api/layers/" + encodeURIComponent(l.id)));
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", event => {
  event.waitUntil((async () => {
    const names = await caches.keys();
    await Promise.all(names.filter(n => n.startsWith(CACHE_PREFIX) && n !== CACHE).map(n => caches.delete(n)));
    await self.clients.claim();
  })());
});

// Kept: GETs of this origin's report form, its static and vendor files and the layer schemas.
function keeps(request) {
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return false;
  if (NEVER.some(re => re.test(url.pathname))) return false;
  return url.pathname === "/report" || url.pathname.startsWith("/static/") || url.pathname.startsWith("/vendor/")
    || /^\/api\/layers(\/[^/]+)?$/.test(url.pathname) || url.pathname === "/favicon.ico";
}

// Network first (a fresh page whenever there is a network), the kept copy when there is none.
async function networkFirst(request) {
  const cache = await caches.open(CACHE);
  try {
    const response = await fetch(request);
    if (response.ok && response.type === "basic") await cache.put(request, response.clone());
    return response;
  } catch (err) {
    // HTML varies by language (Vary: Accept-Language, Cookie): the last page kept is the one to show.
    const kept = await cache.match(request, { ignoreVary: true })
      || (request.mode === "navigate" && await cache.match("/report", { ignoreVary: true }));
    if (kept) return kept;
    throw err;
  }
}

self.addEventListener("fetch", event => {
  if (keeps(event.request)) event.respondWith(networkFirst(event.request));
});

self.addEventListener("sync", event => {
  if (event.tag === OfflineQueue.SYNC_TAG) event.waitUntil(OfflineQueue.sendWaiting());
});
