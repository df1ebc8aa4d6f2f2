"""The interface languages: the choice (Accept-Language, ?lang= kept in a cookie), the headers HTML pages carry,
catalogs that are complete and cover every string extraction finds, and the Spanish and French pages in a real
Chromium with no English string of the catalog left in them (and a report sent from the Spanish form)."""

from __future__ import annotations

import io
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po
from markupsafe import escape
from playwright.sync_api import expect

from mapper import catalogs
from mapper.domain import lifecycle
from mapper.domain.layers import CONTACT_FIELDS
from mapper.services import staff
from mapper.web import csrf, i18n
from tests.conftest import count
from tests.test_explain_pages import hotspot_cell  # noqa: F401  (a fixture)

ROOT = Path(__file__).resolve().parent.parent
TRANSLATED = ("es", "fr")
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|\{\w+\}")


def pot():
    with (catalogs.DIRECTORY / "messages.pot").open("rb") as f:
        return read_po(f)


def po(lang: str):
    with (catalogs.DIRECTORY / lang / "LC_MESSAGES" / "messages.po").open("rb") as f:
        return read_po(f, locale=lang)


def tr(lang: str, msgid: str) -> str:
    """The catalog's translation of ``msgid`` (what the page must show)."""
    message = po(lang).get(msgid)
    assert message is not None and message.string, f"{lang}: {msgid!r} untranslated"
    return message.string


def shown(lang: str, msgid: str) -> str:
    """The translation as an HTML page carries it (escaped)."""
    return str(escape(tr(lang, msgid)))


class Links(HTMLParser):
    """The ``<a>`` elements inside ``<nav class="languages">``."""

    def __init__(self):
        super().__init__()
        self.inside, self.links = False, []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "nav" and attrs.get("class") == "languages":
            self.inside = True
        elif tag == "a" and self.inside:
            self.links.append(attrs)

    def handle_endtag(self, tag):
        if tag == "nav":
            self.inside = False


def language_links(html: str) -> list[dict]:
    parser = Links()
    parser.feed(html)
    return parser.links


# --- choosing the language -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "accept, lang",
    [("es-ES,es;q=0.9,en;q=0.5", "es"), ("fr-CA,fr;q=0.8", "fr"), ("de-DE,de;q=0.9", "en"), ("en-GB", "en")],
)
def test_accept_language_picks_the_language(client, accept, lang):
    resp = client.get("/", headers={"Accept-Language": accept})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert f'<html lang="{lang}">' in html
    assert resp.headers["Content-Language"] == lang
    assert {"Accept-Language", "Cookie"} <= set(resp.vary)
    heading = "Civic reports for our city"
    assert f"<h1>{tr(lang, heading) if lang != 'en' else heading}</h1>" in html
    assert "lang=" not in resp.headers.get("Set-Cookie", "")  # only a switch is remembered


def test_the_switch_sets_the_cookie_and_it_persists(client):
    resp = client.get("/report?lang=fr", headers={"Accept-Language": "es"})
    cookie = resp.headers["Set-Cookie"]
    assert cookie.startswith("lang=fr;")
    assert f"Max-Age={i18n.COOKIE_MAX_AGE}" in cookie and i18n.COOKIE_MAX_AGE >= 365 * 24 * 3600
    assert "SameSite=Lax" in cookie and "HttpOnly" in cookie and "Path=/" in cookie
    assert resp.cache_control.private and not resp.cache_control.public
    assert resp.headers["Content-Language"] == "fr"

    # The browser sends the cookie back: it wins over Accept-Language on every page, with nothing set again.
    for path in ("/", "/report", "/staff/login"):
        again = client.get(path, headers={"Accept-Language": "es"})
        assert '<html lang="fr">' in again.get_data(as_text=True), path
        assert again.headers["Content-Language"] == "fr"
        assert "Set-Cookie" not in again.headers or "lang=" not in again.headers["Set-Cookie"]

    # Another switch replaces it; an unknown language is ignored (no cookie, the kept choice stays).
    assert client.get("/?lang=es").headers["Set-Cookie"].startswith("lang=es;")
    unknown = client.get("/?lang=de")
    assert "Set-Cookie" not in unknown.headers
    assert '<html lang="es">' in unknown.get_data(as_text=True)


def test_the_switch_links_every_language_in_its_own_language(client):
    html = client.get("/report?layer=crime&lang=es").get_data(as_text=True)
    links = language_links(html)
    assert [a["hreflang"] for a in links] == list(i18n.LANGUAGES)
    for a in links:
        assert a["lang"] == a["hreflang"]
        assert a["href"] == f"?layer=crime&lang={a['hreflang']}"  # the same page, its parameters kept
        assert ("aria-current" in a) == (a["hreflang"] == "es")
    for code, name in i18n.LANGUAGES.items():
        assert f'hreflang="{code}">{name}</a>' in html or f'aria-current="true">{name}</a>' in html


def test_api_responses_are_not_translated(client, registry):
    resp = client.get("/api/layers/crime", headers={"Accept-Language": "fr", "Cookie": "lang=fr"})
    assert resp.status_code == 200
    assert "Content-Language" not in resp.headers
    body = resp.get_json()
    assert body["title"] == registry.get("crime").title
    assert body["fields"][0]["values"] == list(registry.get("crime").fields[0].values)


# --- what HTML pages show ------------------------------------------------------------------------------------
@pytest.mark.parametrize("lang", TRANSLATED)
def test_the_report_form_shows_translated_layer_texts_and_sends_the_same_values(client, registry, lang):
    html = client.get(f"/report?lang={lang}").get_data(as_text=True)
    for layer in registry:
        assert shown(lang, layer.title) in html and shown(lang, layer.description) in html
        for f in layer.fields:
            assert shown(lang, f.label) in html, f.label
            if f.help:
                assert shown(lang, f.help) in html, f.help
            for v in f.values:
                assert f'value="{v}"' in html  # the API's value is untouched…
                label = shown(lang, catalogs.value_label(v))
                assert f"> {label}</label>" in html or f'value="{v}">{label}</option>' in html  # …its label is not
    # report.js takes its messages from the page's JSON block: translated, statuses labelled.
    block = re.search(r'<script type="application/json" id="report-messages">(.*?)</script>', html, re.S).group(1)
    messages = json.loads(block)
    assert messages["no_geometry"] == tr(lang, "place the report on the map or type its coordinates")
    assert messages["statuses"] == {s: tr(lang, catalogs.value_label(s)) for s in lifecycle.STATUSES}


def test_sign_in_refusals_and_csrf_refusals_are_translated(client):
    form = client.get("/staff/login?lang=es").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    refused = client.post("/staff/login", data={"csrf_token": token, "email": "x@example.org", "password": "nope"})
    assert refused.status_code == 401
    assert tr("es", staff.WRONG_CREDENTIALS) in refused.get_data(as_text=True)
    assert staff.WRONG_CREDENTIALS not in refused.get_data(as_text=True)

    page = client.post("/staff/login?lang=fr", data={"email": "x@example.org"}, headers={"Accept": "text/html"})
    html = page.get_data(as_text=True)
    assert page.status_code == 400
    assert shown("fr", csrf.REFUSED) in html and shown("fr", "Bad request") in html
    # The API's problem+json stays in English.
    problem = client.post("/staff/login?lang=fr", data={}, headers={"Accept": "application/problem+json"})
    assert problem.get_json()["detail"] == csrf.REFUSED


# --- the catalogs --------------------------------------------------------------------------------------------
def msgid_of(message) -> str:
    return message.id[0] if isinstance(message.id, tuple | list) else message.id  # plurals: the singular


def forms_of(message) -> tuple:
    """A message's translation as a tuple of its forms (one for a plain message)."""
    return tuple(message.string) if isinstance(message.string, tuple | list) else (message.string,)


@pytest.mark.parametrize("lang", TRANSLATED)
def test_catalogs_are_complete_and_compile(lang):
    template = {msgid_of(m) for m in pot() if m.id}
    catalog = po(lang)
    entries = {msgid_of(m): m for m in catalog if m.id}
    assert template - set(entries) == set(), "msgids of the .pot missing from the catalog"
    untranslated = [k for k, m in entries.items() if not (all(m.string) if isinstance(m.string, tuple) else m.string)]
    assert untranslated == []
    assert [k for k, m in entries.items() if m.fuzzy] == []
    assert [(m.id, errs) for m, errs in catalog.check()] == []  # Babel's own checks (python-format, …)
    for k, m in entries.items():  # every placeholder survives translation (braces too, which Babel ignores)
        forms = forms_of(m)  # plural entries: every form
        source = m.id[-1] if isinstance(m.id, tuple | list) else m.id
        for form in forms:
            assert sorted(PLACEHOLDER.findall(source)) == sorted(PLACEHOLDER.findall(form)), k
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    compiled = read_mo(buf)
    assert {msgid_of(m): forms_of(m) for m in compiled if m.id} == {k: forms_of(m) for k, m in entries.items()}


def test_extracting_again_finds_no_msgid_missing_from_the_pot():
    with (ROOT / "babel.cfg").open() as f:
        method_map, options_map = parse_mapping_cfg(f)
    found = {msgid_of_tuple(m) for m in extract_from_dir(str(ROOT), method_map, options_map)}
    template = {msgid_of(m) for m in pot() if m.id}
    assert found - template == set(), "new strings: run scripts/catalogs.sh and translate them"


def msgid_of_tuple(extracted) -> str:
    message = extracted[2]
    return message[0] if isinstance(message, tuple) else message


def test_every_string_the_layer_registry_shows_is_in_the_pot(registry):
    """The extractor reads the layer files as the loader does: nothing the form shows escapes the catalog."""
    template = {msgid_of(m) for m in pot() if m.id}
    shown = set()
    for layer in registry:
        shown |= {layer.title, layer.description}
        for f in (*layer.fields, *CONTACT_FIELDS):
            shown |= {f.label, f.help} | {catalogs.value_label(v) for v in f.values}
    assert shown - {""} - template == set()


def test_mo_files_are_compiled_when_missing_or_stale(tmp_path):
    copy = tmp_path / "translations"
    shutil.copytree(catalogs.DIRECTORY, copy, ignore=shutil.ignore_patterns("*.mo"))
    assert catalogs.compiled(copy) == copy
    mos = sorted(copy.glob("*/LC_MESSAGES/messages.mo"))
    assert [m.parent.parent.name for m in mos] == sorted(TRANSLATED)
    mo = copy / "fr" / "LC_MESSAGES" / "messages.mo"
    with mo.open("rb") as f:
        assert read_mo(f).get("Map").string == tr("fr", "Map")
    # A changed catalog is compiled again; an unchanged one is left alone.
    po_file = mo.with_suffix(".po")
    po_file.write_text(po_file.read_text().replace(f'msgstr "{tr("fr", "Map")}"', 'msgstr "Plan"', 1))
    es_before = (copy / "es" / "LC_MESSAGES" / "messages.mo").stat().st_mtime_ns
    catalogs.compiled(copy)
    with mo.open("rb") as f:
        assert read_mo(f).get("Map").string == "Plan"
    assert (copy / "es" / "LC_MESSAGES" / "messages.mo").stat().st_mtime_ns == es_before


# --- in Chromium ---------------------------------------------------------------------------------------------
MAP_PAGES = ["/map", "/maps/water", "/maps/health", "/maps/hotspots/crime", "/maps/transit", "/maps/planning"]
pages_in = pytest.mark.parametrize("path", ["/", "/report", "/staff/login", *MAP_PAGES])


@pytest.fixture
def context_in(browser, live_server, clean):
    contexts = []

    def make(locale: str):
        ctx = browser.new_context(base_url=live_server, locale=locale, viewport={"width": 1280, "height": 900})
        ctx.set_default_timeout(10_000)
        contexts.append(ctx)
        return ctx

    yield make
    for ctx in contexts:
        ctx.close()


def english_left(lang: str, text: str) -> list[str]:
    """The English msgids of the catalog (translated differently) found as whole words in ``text``."""
    left = []
    for m in po(lang):
        if not m.id or isinstance(m.id, tuple) or m.string == m.id:
            continue
        for part in PLACEHOLDER.split(m.id):  # a message with placeholders: its literal pieces
            part = part.strip(" .,;:()")
            if len(part) < 3 or part in m.string:
                continue
            if re.search(rf"(?<![\w-]){re.escape(part)}(?![\w-])", text):
                left.append(part)
    return left


@pytest.mark.browser
@pytest.mark.parametrize("lang, locale", [("es", "es-ES"), ("fr", "fr-FR")])
@pages_in
def test_pages_show_no_english_in_chromium(context_in, lang, locale, path):
    page = context_in(locale).new_page()  # Chromium's own Accept-Language chooses the language
    errors = []
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path, wait_until="networkidle")
    expect(page.locator("html")).to_have_attribute("lang", lang)
    visible = page.evaluate("document.body.innerText")
    # Hidden parts too (other layers' fieldsets, the thank-you section): everything but scripts and styles.
    everything = page.evaluate(
        """() => { const b = document.body.cloneNode(true);
                   b.querySelectorAll('script, style').forEach(e => e.remove()); return b.textContent; }"""
    )
    assert tr(lang, "Report a problem") in visible
    assert english_left(lang, visible) == [], visible[:3000]
    assert english_left(lang, everything) == []
    assert errors == []


@pytest.mark.browser
def test_the_switch_is_kept_across_pages_in_chromium(context_in):
    page = context_in("en-US").new_page()
    page.goto("/", wait_until="networkidle")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.locator('nav.languages a[hreflang="fr"]').focus()  # keyboard reachable
    page.keyboard.press("Enter")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.locator('nav.languages a[aria-current="true"]')).to_have_attribute("hreflang", "fr")
    page.get_by_role("link", name=tr("fr", "Report a problem")).first.click()
    expect(page).to_have_url(re.compile(r"/report$"))
    expect(page.locator("h1")).to_have_text(tr("fr", "Report a problem"))


@pytest.mark.browser
def test_a_report_is_sent_from_the_spanish_form(context_in, engine):
    page = context_in("es-ES").new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto("/report", wait_until="networkidle")
    expect(page.locator("#map.leaflet-container")).to_be_visible()
    page.select_option("#layer", "crime")

    # The form's own messages are in Spanish: a report without a place is refused before anything is sent.
    page.click("#submit")
    reason = tr("es", "place the report on the map or type its coordinates")
    expect(page.locator("#err-geometry")).to_have_text(reason[0].upper() + reason[1:] + ".")

    # Fields are found by their Spanish labels; the enum is chosen by its Spanish label, its value is sent.
    page.get_by_label(tr("es", "Latitude"), exact=True).fill("39.961")
    page.get_by_label(tr("es", "Longitude"), exact=True).fill("-83.004")
    page.locator("#crime-category").select_option(label=tr("es", "vehicle crime"))
    page.locator("#crime-severity").fill("2")
    page.locator("#crime-occurred_at").fill("2026-05-01T14:30")
    page.click("#submit")
    expect(page.locator("#result")).to_be_visible()
    expect(page.locator("#result h2")).to_have_text(tr("es", "Thank you — your report was received"))
    expect(page.locator("#result-status")).to_have_text(tr("es", "submitted"))
    assert count(engine, "reports", "layer = 'crime' AND properties->>'category' = 'vehicle_crime'") == 1
    assert errors == []


class Text(HTMLParser):
    """The text a page shows (scripts and styles left out, and the titles of works cited: a reference's own
    title stays in its language)."""

    def __init__(self):
        super().__init__()
        self.skip, self.parts = 0, []

    def handle_starttag(self, tag, attrs):
        self.skip += tag in ("script", "style", "cite")

    def handle_endtag(self, tag):
        self.skip -= tag in ("script", "style", "cite")

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)


def shown_text(html: str) -> str:
    parser = Text()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


@pytest.mark.parametrize("lang", TRANSLATED)
def test_score_explanations_are_written_in_the_pages_language(client, lang):
    from tests.test_explain_pages import CHROMIUM_ACCEPT
    from tests.test_scores import water_report

    point = water_report(
        client, "Kiosk 9", sampled_at="2026-05-10T09:00:00Z", e_coli_cfu_100ml=40, ph=6.2, nitrate_mg_l=62, alert=True
    )
    url = f"/api/scores/water_quality/{point}"
    page = client.get(f"{url}?lang={lang}", headers={"Accept": CHROMIUM_ACCEPT})
    assert page.status_code == 200 and page.mimetype == "text/html"
    shown = shown_text(page.get_data(as_text=True))
    assert tr(lang, "Citizen alert: %(state)s.").split("%(state)s")[0].strip() in shown
    assert english_left(lang, shown) == [], shown
    summary = client.get(url).get_json()["scores"][0]["summary"]  # the JSON stays in English
    assert "E. coli detected (40 CFU/100 mL)" in summary and "Citizen alert: alert — unverified." in summary


@pytest.mark.parametrize("lang", TRANSLATED)
def test_a_hot_spot_cells_explanation_is_written_in_the_pages_language(app, hotspot_cell, lang):  # noqa: F811
    from tests.test_explain_pages import CHROMIUM_ACCEPT

    url = f"/api/scores/crime-hotspots/{hotspot_cell.id}"
    page = app.test_client().get(f"{url}?lang={lang}", headers={"Accept": CHROMIUM_ACCEPT})
    assert page.status_code == 200 and page.mimetype == "text/html"
    shown = shown_text(page.get_data(as_text=True))
    assert english_left(lang, shown) == [], shown
    scale = app.test_client().get(url).get_json()["parameters"]["scale"]  # the JSON stays in English
    assert "Moran's I" in scale["reason"]
