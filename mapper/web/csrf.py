"""CSRF protection, decided in one place: every unsafe request (POST, PUT, PATCH, DELETE) must carry this
session's token (Flask-WTF's ``CSRFProtect``: the ``csrf_token`` form field, or an ``X-CSRFToken`` header)
unless its blueprint is listed in ``EXEMPT`` with the reason; a staff form's view may check it itself, right
after its access marker (``checked_in_view``), so that anonymous callers get 401 first.

The exempt blueprints are the JSON API's: their callers authenticate with ``Authorization: Bearer …``, which a
browser never adds to a cross-site request by itself, and their bodies are JSON, which a cross-site form cannot
send. Because a cookie *is* sent cross-site, an unsafe request to an exempt route gets no role from a browser
session (``web.auth.current_role``): there, only a Bearer token counts, or a session whose request carries
its CSRF token in the ``X-CSRFToken`` header (``session_may_act``). tests/test_signin.py walks every route
taking an unsafe method and checks it is either refused without the token or listed here.
"""

from __future__ import annotations

import functools

from flask import Flask, current_app, render_template, request
from flask_wtf.csrf import CSRFError, CSRFProtect, validate_csrf
from wtforms import ValidationError

from mapper.domain.errors import BadRequest, FieldProblem

UNSAFE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
EXEMPT = {
    "intake": "the JSON API: report intake takes JSON bodies (415 otherwise) or multipart ones from no other site "
    "(intake_api.refuse_other_sites); staff send a Bearer token",
    "photos": "the JSON API: photos are hidden and shown by moderators with a Bearer token",
    "scores": "the JSON API: score runs and alert decisions are authorised by a Bearer token only",
    "gtfs": "the JSON API: feed uploads are authorised by a Bearer token only",
}
IN_VIEW = "csrf_checked_in_view"
REFUSED = "The form was refused: it did not carry this session's CSRF token (reload the page and try again)."


def exempt_endpoint(endpoint: str | None) -> bool:
    """Whether unsafe requests to ``endpoint`` skip the CSRF check (and so take no role from a session)."""
    return bool(endpoint) and "." in endpoint and endpoint.split(".", 1)[0] in EXEMPT


def checked_in_view(view):
    """For a staff form's view, under its access marker: the token is checked as the view starts, once the
    marker has let the caller in, rather than before it, so that a caller without a role is told to sign in
    (401) and not that the form lacked a token (400). Nothing of the view runs before the check."""

    @functools.wraps(view)
    def checked(*args, **kwargs):
        if current_app.config["WTF_CSRF_ENABLED"]:
            current_app.extensions["csrf"].protect()
        return view(*args, **kwargs)

    setattr(checked, IN_VIEW, True)
    return checked


def session_may_act() -> bool:
    """Whether a browser session may lend its role to the current request: always for safe methods, and for
    unsafe ones only where the CSRF token was checked — by ``CSRFProtect`` outside ``EXEMPT``, and on the
    exempt API when the request carries this session's token in ``X-CSRFToken`` (the map pages' buttons)."""
    if request.method not in UNSAFE_METHODS or not exempt_endpoint(request.endpoint):
        return True
    token = request.headers.get("X-CSRFToken")
    if not token:
        return False
    try:
        validate_csrf(token)
    except ValidationError:
        return False
    return True


def refused(e: CSRFError):
    """400, as problem+json for API clients, else a page: the form's token was missing, wrong or expired."""
    from mapper.web.problems import problem, wants_problem

    error = BadRequest(REFUSED, [FieldProblem("csrf_token", e.description)])
    if wants_problem():
        return problem(400, error.title, error.detail, error.problems)
    return render_template("refused.html", error=error), 400


def init_app(app: Flask) -> CSRFProtect:
    """Protect every unsafe request but those of ``EXEMPT`` (call it once the blueprints are registered)."""
    missing = set(EXEMPT) - set(app.blueprints)
    if missing:
        raise RuntimeError(f"CSRF exemptions for unknown blueprints: {', '.join(sorted(missing))}")
    app.config["WTF_CSRF_METHODS"] = list(UNSAFE_METHODS)
    csrf = CSRFProtect(app)
    for name in EXEMPT:
        csrf.exempt(app.blueprints[name])
    for view in app.view_functions.values():
        if getattr(view, IN_VIEW, False):  # (functools.wraps carries the mark up to the access marker's wrapper)
            csrf.exempt(view)  # from the check before the view: checked_in_view makes it inside
    app.register_error_handler(CSRFError, refused)
    return csrf
