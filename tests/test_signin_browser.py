"""Staff sign-in in a real headless Chromium against the live app (granian): with the keyboard only, landing on
/staff, then signing out; no failed request and no console error (the pages keep the strict CSP)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from mapper.services.staff import create_user

pytestmark = pytest.mark.browser
PASSWORD = "correct horse battery"


def test_sign_in_with_the_keyboard_and_out_again(browser, live_server, clean):
    create_user(clean, "ana@example.org", "police", PASSWORD)
    context = browser.new_context()
    page = context.new_page()
    problems = []
    page.on("console", lambda m: m.type == "error" and problems.append(m.text))
    page.on("requestfailed", lambda r: problems.append(f"{r.url}: {r.failure}"))
    try:
        page.goto(f"{live_server}/staff")  # anonymous: sent to the form, coming back here afterwards
        expect(page).to_have_url(f"{live_server}/staff/login?next=/staff")
        expect(page.locator("#nav-staff")).to_have_text("Staff sign-in")
        expect(page.locator("#email")).to_be_focused()  # autofocus
        page.keyboard.type("ana@example.org")
        page.keyboard.press("Tab")
        expect(page.locator("#password")).to_be_focused()
        page.keyboard.type("not the password")
        page.keyboard.press("Enter")
        expect(page.get_by_role("alert")).to_have_text("Wrong e-mail or password.")
        page.locator("#password").focus()
        page.keyboard.type(PASSWORD)
        page.keyboard.press("Enter")
        expect(page).to_have_url(f"{live_server}/staff")
        expect(page.locator("#staff-email")).to_have_text("ana@example.org")
        expect(page.locator("#staff-role")).to_have_text("police")
        expect(page.locator("#nav-staff")).to_have_text("ana@example.org")
        cookie = next(c for c in context.cookies() if c["name"] == "session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
        page.get_by_role("button", name="Sign out").focus()
        page.keyboard.press("Enter")
        expect(page).to_have_url(f"{live_server}/staff/login")
        expect(page.locator("#nav-staff")).to_have_text("Staff sign-in")
        page.goto(f"{live_server}/staff")
        expect(page).to_have_url(f"{live_server}/staff/login?next=/staff")
    finally:
        context.close()
    assert not [p for p in problems if "401" not in p], problems
