"""The interface language (Flask-Babel): English, Spanish or French, from the visitor's choice (``?lang=``,
kept in the ``lang`` cookie) or else the browser's ``Accept-Language``. Catalogs live in
``mapper/translations/<lang>/LC_MESSAGES/messages.po``; adding a language is adding a catalog there and its code
to ``LANGUAGES``. API field names and values are never translated; only HTML pages are."""

from __future__ import annotations

from flask import Flask, request
from flask_babel import Babel, get_locale

LANGUAGES = {"en": "English", "es": "Español", "fr": "Français"}
DEFAULT = "en"
COOKIE = "lang"


def chosen_language() -> str:
    """``?lang=`` (a switch), else the ``lang`` cookie, else the best match of ``Accept-Language``."""
    for choice in (request.args.get(COOKIE), request.cookies.get(COOKIE)):
        if choice in LANGUAGES:
            return choice
    return request.accept_languages.best_match(LANGUAGES, default=DEFAULT)


def current_language() -> str:
    return str(get_locale() or DEFAULT)


def init_app(app: Flask) -> None:
    Babel(app, locale_selector=chosen_language, default_translation_directories="translations")
    app.jinja_env.globals.update(current_language=current_language, languages=LANGUAGES)
