"""Reporting where the network comes and goes: the report form in a real Chromium whose network is switched off
and on again (``context.set_offline``), against the live app and real PostGIS.

The form's service worker (``/sw.js``) keeps the form's shell, so the page opens with no network; a report sent
then is kept on the device (IndexedDB) with the Idempotency-Key made when it was sent, listed as waiting, and
sent when the network returns; sending it again with its key (a lost answer) stores nothing new.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser_checks import assert_accessible
from tests.conftest import count
from tests.test_report_browser import REPORTS_URL, TIMEZONE, Watch, fill_crime

pytestmark = pytest.mark.browser

expect.set_options(timeout=10_000)
TRACK_LINK = re.compile(r"^/track/[A-Za-z0-9_-]{20,}$")
PROBE = "/healthz?probe"  # the test's own look at the network, which fails while it is off


@pytest.fixture
def context(browser, live_server, clean):
    ctx = browser.new_context(base_url=live_server, locale="en-US", timezone_id=TIMEZONE)
    ctx.set_default_timeout(10_000)
    yield ctx
    ctx.close()


def open_online(page: Page) -> None:
    """Open the form with a network and wait until its service worker is active and has kept the shell."""
    page.goto("/report", wait_until="networkidle")
    expect(page.locator("#map.leaflet-container")).to_be_visible()
    state = page.evaluate("navigator.serviceWorker.ready.then(r => r.active.state)")
    assert state in ("activating", "activated")
    page.wait_for_function("navigator.serviceWorker.controller !== null")


def kept_urls(page: Page) -> list[str]:
    return page.evaluate(
        """async () => { const names = await caches.keys();
             const cache = await caches.open(names.find(n => n.startsWith("civic-mapper-report-")));
             return (await cache.keys()).map(r => new URL(r.url).pathname); }"""
    )


def fill_urban_life(page: Page, comment: str) -> None:
    page.select_option("#layer", "urban_life")
    page.fill("#lat", "-4.8769")  # Kigoma Ujiji
    page.fill("#lon", "29.6266")
    page.select_option("#urban_life-sentiment", "negative")
    page.select_option("#urban_life-theme", "lighting")
    page.fill("#urban_life-comment", comment)


def test_reports_made_offline_are_kept_listed_and_sent_once_when_the_network_returns(context, engine, registry):
    page = context.new_page()
    watch = Watch(page)
    # Every report sent, by the page or by its service worker (Background Sync), with its answer.
    posts, answers = [], []
    context.on("request", lambda r: r.method == "POST" and REPORTS_URL.search(r.url) and posts.append(r))
    context.on("response", lambda r: REPORTS_URL.search(r.url) and answers.append(r))
    open_online(page)
    kept = kept_urls(page)
    for path in ("/report", "/static/report.js", "/static/offline-queue.js", "/static/site.css", "/api/layers"):
        assert path in kept, (path, kept)
    assert {f"/api/layers/{layer_id}" for layer_id in registry.ids()} <= set(kept)
    assert not [p for p in kept if p.startswith(("/staff", "/track", "/api/reports"))]

    # No network: the page still opens, from the worker's cache.
    context.set_offline(True)
    response = page.reload(wait_until="load")
    assert response is not None and response.status == 200 and response.from_service_worker
    expect(page.locator("#map.leaflet-container")).to_be_visible()
    expect(page.locator("#submit")).to_be_enabled()
    assert page.evaluate(f"fetch('{PROBE}').then(() => 'reached', () => 'unreachable')") == "unreachable"
    # Playwright does not tell a document loaded while offline that it is offline (navigator.onLine stays true,
    # so no "online" event would come): the emulation is applied again, as a browser's own state would be.
    context.set_offline(False)
    context.set_offline(True)
    assert page.evaluate("navigator.onLine") is False

    # A report made now is kept and listed as waiting; nothing reaches the server.
    fill_crime(page, lat="4.9016", lon="-1.7831")  # Sekondi-Takoradi
    page.fill("#crime-description", "Street lights out on the harbour road")
    page.click("#submit")
    status = page.locator("#offline-status")
    expect(status).to_have_text(re.compile("kept on this device and will be sent when the connection returns"))
    expect(status).to_have_attribute("aria-live", "polite")
    waiting = page.locator("#offline-waiting li")
    expect(waiting).to_have_count(1)
    expect(waiting.first).to_contain_text("Crime")
    expect(waiting.first).to_contain_text("waiting for the network")
    expect(waiting.first.locator("time")).to_have_count(1)
    expect(page.locator("#crime-description")).to_have_value("")  # the form is free for the next report
    assert count(engine) == 0

    fill_urban_life(page, "The lamp at the market corner has been dark for a week")
    page.click("#submit")
    expect(waiting).to_have_count(2)
    expect(waiting.nth(1)).to_contain_text("Urban life")
    assert count(engine) == 0 and count(engine, "idempotency_keys") == 0
    stored = page.evaluate("OfflineQueue.list().then(l => l.waiting)")
    assert [s["layer"] for s in stored] == ["crime", "urban_life"]
    keys = [s["key"] for s in stored]
    assert all(re.fullmatch(r"[0-9a-f-]{36}", k) for k in keys) and len(set(keys)) == 2
    assert posts == []  # the browser knows it is offline: nothing was tried
    assert_accessible(page, "report form with reports waiting")

    # The network returns: both are sent, each with its own key, and listed with their tracking links.
    context.set_offline(False)
    expect(waiting).to_have_count(0)
    expect(page.locator("#offline-waiting-box")).to_be_hidden()
    links = page.locator("#offline-sent li a")
    expect(links).to_have_count(2)
    for i in range(2):
        expect(links.nth(i)).to_have_attribute("href", TRACK_LINK)
    expect(status).to_have_text(re.compile("were sent"))
    assert sorted(r.headers["idempotency-key"] for r in posts) == sorted(keys)
    assert [a.status for a in answers] == [201, 201]
    assert count(engine) == 2
    assert count(engine, "reports", "private->>'description' = 'Street lights out on the harbour road'") == 1
    assert count(engine, "reports", "layer = 'urban_life' AND source = 'web'") == 1
    hrefs = [links.nth(i).get_attribute("href") for i in range(2)]
    assert_accessible(page, "report form with reports sent")

    # A lost answer: the same kept reports sent again, twice at once, with their keys: the server replays.
    del posts[:], answers[:]
    page.evaluate(
        """async items => { for (const item of items) await OfflineQueue.keep(item);
             await Promise.all([OfflineQueue.sendWaiting(), OfflineQueue.sendWaiting()]);
             await OfflineQueue.keep(items[0]); await OfflineQueue.send(items[0]);
             await OfflineReports.render(); }""",
        stored,
    )
    # The lock let each key through once per round, the second concurrent round finding nothing left.
    assert sorted(r.headers["idempotency-key"] for r in posts) == sorted([*keys, keys[0]])
    assert [a.status for a in answers] == [201, 201, 201]
    assert all(a.headers.get("idempotent-replayed") == "true" for a in answers)
    assert count(engine) == 2
    expect(waiting).to_have_count(0)
    expect(links).to_have_count(2)
    assert [links.nth(i).get_attribute("href") for i in range(2)] == hrefs  # the first answers, replayed

    # A tracking link leads to the report's page.
    links.first.click()
    expect(page.locator("#track-status")).to_have_text("submitted")
    assert [p for p in watch.problems() if PROBE not in p] == []  # no console error, CSP report or failed request


def test_a_refused_report_stays_listed_with_its_reason_and_the_citizens_text(context, engine):
    page = context.new_page()
    watch = Watch(page)
    posts = []
    context.on("request", lambda r: r.method == "POST" and REPORTS_URL.search(r.url) and posts.append(r))
    open_online(page)
    context.set_offline(True)
    fill_urban_life(page, "Kept although the server will refuse it")
    page.fill("#urban_life-rating", "9")  # over the layer's maximum: the server says so once it is sent
    page.click("#submit")
    expect(page.locator("#offline-waiting li")).to_have_count(1)

    with page.expect_response(REPORTS_URL) as answer:
        context.set_offline(False)
    assert answer.value.status == 422
    item = page.locator("#offline-waiting li")
    expect(item).to_contain_text("properties.rating: must be <= 5")
    item.locator("summary").click()
    expect(item.locator("pre")).to_contain_text("Kept although the server will refuse it")
    assert_accessible(page, "report form with a refused report")
    assert count(engine) == 0
    # It is not sent again by itself (it would be refused again); the citizen removes it.
    page.evaluate("OfflineReports.sendWaiting()")
    expect(item).to_have_count(1)
    assert len(posts) == 1
    item.get_by_role("button", name="Remove").click()
    expect(page.locator("#offline")).to_be_hidden()
    assert page.evaluate("OfflineQueue.list().then(l => l.waiting.length)") == 0
    assert len(posts) == 1 and watch.page_errors == []
    assert all("status of 422" in e for e in watch.console_errors)  # Chromium logs the refusal, nothing else


def test_the_worker_script_is_served_from_the_root_uncached_under_a_strict_policy(context):
    response = context.request.get("/sw.js?v=1")
    assert response.status == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.headers["cache-control"] == "no-cache"
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "connect-src 'self'" in csp
    assert "unsafe" not in csp and "http" not in csp
    page = context.request.get("/report").text()
    version = re.search(r'data-worker="/sw\.js\?v=([0-9a-f]{16})"', page)
    assert version, "the page registers the worker with the asset version"
