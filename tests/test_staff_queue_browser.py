"""The staff queue in a real headless Chromium against the live app (granian): sign in, filter, open a report,
take it through every legal transition of the lifecycle with the page's form, reject one with a reason, hide
one as a moderator, see illegal transitions (a stale form, a crafted one) refused on the page, move two
reports at once, merge a duplicate. The pages keep their strict CSP: no console error, no failed request but
the refusals' own statuses."""

from __future__ import annotations

import pytest
import requests
from playwright.sync_api import Page, expect

from mapper.services.staff import create_user
from mapper.services.tokens import create_api_token
from tests.browser_checks import new_context, sign_in
from tests.test_report_browser import Watch

pytestmark = pytest.mark.browser
PASSWORD = "correct horse battery"
POLICE, MODERATOR = "officer@example.org", "mod@example.org"


def crime(base: str, y: float = 39.96, category: str = "theft") -> int:
    feature = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [-83.0, y]},
        "properties": {"category": category, "severity": 2, "occurred_at": "2026-11-01T21:30:00Z"},
    }
    r = requests.post(f"{base}/api/layers/crime/reports", json=feature, timeout=10)
    assert r.status_code == 201, r.text
    return r.json()["id"]


@pytest.fixture
def staff(live_server, clean):
    create_user(clean, POLICE, "police", PASSWORD)
    create_user(clean, MODERATOR, "moderator", PASSWORD)
    return clean


@pytest.fixture
def open_page(browser, live_server, staff):
    """Factory: a signed-in page (its own context) and its watch."""
    contexts = []

    def make(email: str) -> tuple[Page, Watch]:
        ctx = new_context(browser, live_server, "desktop")
        contexts.append(ctx)
        page = ctx.new_page()
        watch = Watch(page)
        sign_in(page, email, PASSWORD)
        return page, watch

    yield make
    for ctx in contexts:
        ctx.close()


def move(page: Page, to: str, reason: str | None = None, comment: str = "", note: str = "") -> None:
    page.select_option("#move-to", to)
    if reason:
        page.select_option("#move-reason", reason)
    page.fill("#move-comment", comment)
    page.fill("#move-note", note)
    with page.expect_navigation():
        page.click("#transition-apply")


def offered(page: Page) -> list[str]:
    return [v for v in page.locator("#move-to option").evaluate_all("os => os.map(o => o.value)") if v]


def refusals_only(watch: Watch, *statuses: int) -> list[str]:
    """The watch's problems but the refused documents' own statuses (and Chromium's console line for them)."""
    said = tuple(f"status of {s}" for s in statuses)
    return [p for p in watch.problems() if not p.startswith(tuple(f"{s} " for s in statuses)) and not any(
        s in p for s in said)]  # fmt: skip


def test_every_legal_transition_through_the_page(open_page, live_server):
    rid = crime(live_server)
    other = crime(live_server, y=39.97, category="assault")
    page, watch = open_page(POLICE)
    page.click("#staff-queue-link")
    expect(page).to_have_url(f"{live_server}/staff/queue")
    # filter: crime, submitted only
    page.select_option("#filter-layer", "crime")
    for box in page.locator('input[name="status"]').all():
        box.set_checked(box.get_attribute("value") == "submitted")
    page.click("#filter-apply")
    expect(page.locator("#queue-table tbody tr")).to_have_count(2)
    expect(page.locator("#queue-count")).to_have_text("2 reports")
    page.click(f'a[href="/staff/reports/{rid}"]')
    expect(page.locator("#report-status")).to_have_text("submitted")
    assert offered(page) == ["verified", "rejected"]  # crime is moderated before: no closing unverified
    steps = [("verified", None), ("in_progress", None), ("resolved", None), ("reopened", None),
             ("closed", "no_action_needed")]  # fmt: skip
    for to, reason in steps:
        move(page, to, reason, comment=f"now {to}", note=f"internal {to}")
        expect(page.locator("#report-done")).to_be_visible()
        expect(page.locator("#report-status")).to_have_text(to.replace("_", " "))
        assert page.locator("#report-history li").last.inner_text().count(f"internal {to}") == 1
    expect(page.locator("#report-history li")).to_have_count(6)
    assert offered(page) == ["reopened"]
    # a rejection needs a reason: without one the page says so, with one it is done
    page.goto(f"/staff/reports/{other}")
    move(page, "rejected")
    expect(page.locator("#report-error")).to_contain_text("needs a reason")
    expect(page.locator("#report-status")).to_have_text("submitted")
    move(page, "rejected", "out_of_area", comment="Not in the city")
    expect(page.locator("#report-status")).to_have_text("rejected")
    expect(page.locator("#report-final")).to_be_visible()  # police may not hide: nothing more to offer
    assert refusals_only(watch, 422) == []


def test_a_moderator_hides_a_report(open_page, live_server):
    rid = crime(live_server)
    page, watch = open_page(MODERATOR)
    page.goto("/staff/queue")
    expect(page.locator(f'tr[data-report="{rid}"]')).to_be_visible()  # waiting for moderation
    page.goto(f"/staff/reports/{rid}")
    assert offered(page) == ["verified", "rejected", "hidden"]
    move(page, "hidden", note="names a neighbour")
    expect(page.locator("#report-status")).to_have_text("hidden")
    page.goto("/staff/queue")
    expect(page.locator(f'tr[data-report="{rid}"]')).to_have_count(0)
    assert watch.problems() == []


def test_illegal_transitions_are_refused_on_the_page(open_page, live_server, staff):
    rid = crime(live_server)
    page, watch = open_page(POLICE)
    page.goto(f"/staff/reports/{rid}")
    # a stale form: someone else verified and started the report meanwhile
    token = create_api_token(staff, "police", "elsewhere")
    for to in ("verified", "in_progress"):
        r = requests.post(f"{live_server}/api/reports/{rid}/transitions", json={"to": to},
                          headers={"Authorization": f"Bearer {token}"}, timeout=10)  # fmt: skip
        assert r.status_code == 200, r.text
    move(page, "verified")
    expect(page.locator("#report-error")).to_contain_text("cannot become verified")
    expect(page.locator("#report-status")).to_have_text("in progress")
    # a crafted one: a status the form does not offer
    page.locator("#move-to").evaluate("s => { s.options[1].value = 'submitted'; }")
    page.select_option("#move-to", "submitted")
    with page.expect_navigation() as nav:
        page.click("#transition-apply")
    assert nav.value.status == 409
    expect(page.locator("#report-error")).to_contain_text("cannot become submitted")
    # a crafted hide: police do not hide
    page.locator("#move-to").evaluate("s => { s.options[1].value = 'hidden'; }")
    page.select_option("#move-to", "hidden")
    with page.expect_navigation() as nav:
        page.click("#transition-apply")
    assert nav.value.status == 403
    expect(page.locator("#report-status")).to_have_text("in progress")
    assert refusals_only(watch, 403, 409) == []


def test_two_reports_at_once_and_a_merge(open_page, live_server):
    a, b, c = crime(live_server), crime(live_server, y=39.9601), crime(live_server, y=39.99)
    page, watch = open_page(POLICE)
    page.goto("/staff/queue?layer=crime")
    page.check(f"#pick-{a}")
    page.check(f"#pick-{b}")
    page.select_option("#bulk-to", "verified")
    page.fill("#bulk-comment", "Thank you, we are on it")
    with page.expect_navigation():
        page.click("#bulk-apply")
    expect(page.locator("#bulk-done li")).to_have_count(2)
    expect(page.locator("#bulk-refused")).to_have_count(0)
    expect(page.locator(f'tr[data-report="{a}"] .status')).to_have_text("verified")
    expect(page.locator(f'tr[data-report="{c}"] .status')).to_have_text("submitted")
    # b duplicates a (11 m apart): merge it from its page
    page.goto(f"/staff/reports/{b}")
    expect(page.locator(f'#report-duplicates li[data-report="{a}"]')).to_be_visible()
    expect(page.locator(f'#report-duplicates li[data-report="{c}"]')).to_have_count(0)  # 3 km away
    with page.expect_navigation():
        page.click(f"#merge-into-{a}")
    expect(page.locator("#report-merged")).to_be_visible()
    expect(page.locator("#report-status")).to_have_text("rejected")
    expect(page.locator("#report-duplicate-of")).to_have_text(f"#{a}")
    assert watch.problems() == []
