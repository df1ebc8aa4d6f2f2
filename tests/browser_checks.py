"""Checks every browser test can apply to a page: axe-core's WCAG 2.0/2.1 A and AA rules, screenshots at a
desktop and a phone width that must not be blank, and a watch on what went wrong while the page loaded.

axe is injected with ``page.evaluate`` (evaluated scripts are not subject to the page's Content-Security-
Policy, which stays on: the pages are checked as they are served). A page to check is a ``Target``; the lists
of targets live with the tests (``tests/test_accessibility.py``), one line per page.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, expect

from mapper.config import PROJECT_ROOT
from tests.test_report_browser import TIMEZONE, Watch

AXE_JS = PROJECT_ROOT / "node_modules" / "axe-core" / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING_IMPACTS = ("serious", "critical")

# Playwright context options per screen; the phone is a 390×844 CSS-pixel touch screen (an iPhone 12-14).
SCREENS = {
    "desktop": {"viewport": {"width": 1280, "height": 800}},
    "phone": {
        "viewport": {"width": 390, "height": 844},
        "device_scale_factor": 2,
        "is_mobile": True,
        "has_touch": True,
    },
}

# A screenshot is "not blank" when the page's content region has at least this many colours and this share of
# pixels unlike its most common (background) colour. A white page has 1 colour and 0 %; a heading and a line of
# anti-aliased text already give dozens of colours and a few per cent.
MIN_COLOURS = 8
MIN_INK_SHARE = 0.001


@dataclass(frozen=True)
class Target:
    """A page to check: ``path`` (``{name}`` placeholders filled from the test's seeded values), the status its
    document answers with, a selector that says it is ready, and an optional ``then(page)`` run once it is
    (e.g. submitting a form, whose answer is then the page checked)."""

    name: str
    path: str
    status: int = 200
    ready: str = "main"
    signed_in: bool | str = False  # True: signed in as the test's staff member; a role name: as an account of it
    then: Callable[[Page], None] | None = field(default=None, compare=False)


def sign_in(page: Page, email: str, password: str) -> None:
    """Sign in through the staff form as a person does; the staff page then names the account."""
    page.goto("/staff/login")
    page.fill("#email", email)
    page.fill("#password", password)
    with page.expect_navigation():
        page.press("#password", "Enter")
    expect(page.locator("#staff-email")).to_have_text(email)


def screenshot_dir(tmp_path_factory) -> Path:
    """Where screenshots go: ``$MAPPER_SCREENSHOTS`` if set, else ``screenshots/`` in pytest's output
    directory (``--basetemp``; by default the newest /tmp/pytest-of-USER/pytest-N/)."""
    chosen = os.environ.get("MAPPER_SCREENSHOTS")
    if chosen:
        path = Path(chosen)
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path_factory.mktemp("screenshots", numbered=False)


def new_context(browser: Browser, base_url: str, screen: str):
    ctx = browser.new_context(base_url=base_url, locale="en-US", timezone_id=TIMEZONE, **SCREENS[screen])
    ctx.set_default_timeout(10_000)
    return ctx


def open_target(page: Page, target: Target, values: dict) -> Watch:
    """Go to the target and wait until it is ready; its document must answer ``target.status``. Returns the
    page's watch, with the document's own expected error status (a 404 page's 404) left out."""
    watch = Watch(page)
    url = target.path.format(**values)
    response = page.goto(url, wait_until="networkidle")
    if target.then:
        with page.expect_navigation(wait_until="networkidle") as nav:
            target.then(page)
        response = nav.value
    assert response is not None and response.status == target.status, (url, response and response.status)
    page.wait_for_selector(target.ready, state="attached")
    page.evaluate("document.fonts.ready")
    if target.status >= 400:  # Chromium also logs the document's own error status to the console
        watch.http_errors.remove(f"{target.status} {response.url}")
        said = f"the server responded with a status of {target.status}"
        watch.console_errors = [e for e in watch.console_errors if not (said in e and f"'url': '{response.url}'" in e)]
    return watch


# --- axe ---------------------------------------------------------------------------------------------------------
def axe_violations(page: Page, impacts=BLOCKING_IMPACTS) -> list[dict]:
    """axe-core's violations of WCAG 2.0/2.1 A and AA on the page as it is now, of the given impacts."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE_JS.read_text(encoding="utf-8"))
    result = page.evaluate(
        """tags => axe.run(document, {runOnly: {type: "tag", values: tags}, resultTypes: ["violations"]})
                     .then(r => r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                       helpUrl: v.helpUrl, targets: v.nodes.map(n => n.target.join(" ")),
                       summaries: v.nodes.map(n => n.failureSummary)})))""",
        WCAG_TAGS,
    )
    return [v for v in result if v["impact"] in impacts]


def describe(violations: list[dict]) -> str:
    lines = []
    for v in violations:
        lines.append(f"{v['id']} ({v['impact']}): {v['help']} — {v['helpUrl']}")
        for target, summary in list(zip(v["targets"], v["summaries"], strict=True))[:10]:
            lines.append(f"    {target}: {summary.splitlines()[-1].strip() if summary else ''}")
    return "\n".join(lines)


def assert_accessible(page: Page, where: str) -> None:
    violations = axe_violations(page)
    if violations:
        pytest.fail(f"{where}: axe found serious or critical WCAG A/AA violations:\n{describe(violations)}")


# --- screenshots --------------------------------------------------------------------------------------------------
def ink(png: bytes, box: dict | None = None, scale: float = 1) -> tuple[int, float]:
    """(distinct colours, share of pixels unlike the most common colour) of a PNG, or of ``box`` (CSS pixels
    of the page, as Playwright's bounding boxes give them) within it."""
    img = Image.open(io.BytesIO(png)).convert("RGB")
    if box:
        left, top = max(0, int(box["x"] * scale)), max(0, int(box["y"] * scale))
        right = min(img.width, int((box["x"] + box["width"]) * scale))
        bottom = min(img.height, int((box["y"] + box["height"]) * scale))
        img = img.crop((left, top, max(left + 1, right), max(top + 1, bottom)))
    colours = img.getcolors(maxcolors=img.width * img.height)
    background = max(n for n, _ in colours)
    total = img.width * img.height
    return len(colours), (total - background) / total


def assert_not_blank(png: bytes, where: str, box: dict | None = None, scale: float = 1) -> None:
    colours, share = ink(png, box, scale)
    assert colours >= MIN_COLOURS and share >= MIN_INK_SHARE, (
        f"{where}: screenshot looks blank ({colours} colours, {share:.2%} of pixels unlike the background)"
    )


def screenshot(page: Page, out: Path, name: str) -> Path:
    """A full-page screenshot written to ``out/name.png``, checked not blank as a whole and in ``main`` (the
    content, without the site's header bar) when the page has one."""
    path = out / f"{name}.png"
    png = page.screenshot(path=str(path), full_page=True)
    assert_not_blank(png, name)
    main = page.locator("main")
    if main.count():
        box = page.evaluate(
            """() => { const r = document.querySelector("main").getBoundingClientRect();
                       return {x: r.x + scrollX, y: r.y + scrollY, width: r.width, height: r.height}; }"""
        )
        assert_not_blank(png, f"{name} (main)", box, page.evaluate("devicePixelRatio"))
    return path
