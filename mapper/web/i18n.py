"""The interface language (Flask-Babel): English, Spanish or French, from the visitor's choice (``?lang=``,
kept in the ``lang`` cookie for a year) or else the browser's ``Accept-Language``. HTML responses say which
language they are in (``Content-Language``) and what chose it (``Vary: Accept-Language, Cookie``). Catalogs
live in ``mapper/translations/<lang>/LC_MESSAGES/messages.po`` (compiled at start when their ``.mo`` is missing
or stale, ``mapper.catalogs``); adding a language is adding a catalog there and its code to ``LANGUAGES``.
API field names and values are never translated; only HTML pages are.

Templates get ``_()`` for their own literals (Jinja's newstyle gettext: ``%`` is ``%%``), ``translate()`` for
text that is data of the platform (layer files, messages of other modules; escaped like any value, never
citizens' input), ``value_label()`` / ``status_labels()`` for the displayed labels of values, and
``language_links()`` for the switch.
"""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Flask, Response, current_app, request
from flask_babel import Babel, get_locale, gettext

from mapper import catalogs
from mapper.domain import lifecycle

LANGUAGES = {"en": "English", "es": "Español", "fr": "Français"}  # each named in its own language
DEFAULT = "en"
COOKIE = "lang"
COOKIE_MAX_AGE = 365 * 24 * 3600  # the choice is kept a year
CHOSEN_BY = ("Accept-Language", "Cookie")


def chosen_language() -> str:
    """``?lang=`` (a switch), else the ``lang`` cookie, else the best match of ``Accept-Language``."""
    for choice in (request.args.get(COOKIE), request.cookies.get(COOKIE)):
        if choice in LANGUAGES:
            return choice
    return request.accept_languages.best_match(LANGUAGES, default=DEFAULT)


def current_language() -> str:
    return str(get_locale() or DEFAULT)


def translate(text: str | None) -> str:
    """The current language's translation of platform text (a layer's title, a field's help, an error's
    detail): a plain string, so Jinja escapes it. Empty text stays empty (gettext("") is the catalog header)."""
    return gettext(text) if text else ""


def layer_title(layer) -> str:
    """A layer's (or a derived collection's) title in the current language."""
    return catalogs.layer_title(layer, gettext)


def value_label(value: str) -> str:
    """The displayed, translated label of an enum value (the value itself is what forms send)."""
    return translate(catalogs.value_label(value))


def status_labels() -> dict[str, str]:
    """Every report status with its displayed, translated label (for the report form's script)."""
    return {status: value_label(status) for status in lifecycle.STATUSES}


def language_links() -> list[dict]:
    """The language switch: this page in every language (its other query parameters kept; a query-only link, so
    it cannot lead off the site whatever the request's path)."""
    args = [(k, v) for k, v in request.args.items(multi=True) if k != COOKIE]
    here = current_language()
    return [
        {
            "code": code,
            "name": name,
            "href": "?" + urlencode([*args, (COOKIE, code)]),
            "current": code == here,
        }
        for code, name in LANGUAGES.items()
    ]


def label_response(resp: Response) -> Response:
    """Keep a ``?lang=`` choice in the cookie; say an HTML page's language and what it varies with."""
    choice = request.args.get(COOKIE)
    if choice in LANGUAGES and request.cookies.get(COOKIE) != choice:
        resp.set_cookie(
            COOKIE,
            choice,
            max_age=COOKIE_MAX_AGE,
            samesite="Lax",
            httponly=True,
            secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")),
        )
        resp.cache_control.public = False  # a response setting a cookie is nobody else's
        resp.cache_control.private = True
    if resp.mimetype == "text/html":
        resp.headers["Content-Language"] = current_language()
        resp.vary.update(CHOSEN_BY)
    return resp


def init_app(app: Flask) -> None:
    directory = catalogs.compiled()
    Babel(app, locale_selector=chosen_language, default_translation_directories=str(directory))
    app.jinja_env.globals.update(
        current_language=current_language,
        languages=LANGUAGES,
        language_links=language_links,
        translate=translate,
        layer_title=layer_title,
        value_label=value_label,
        status_labels=status_labels,
    )
    app.after_request(label_response)
