"""Staff sign-in in the browser: ``/staff/login``, ``/staff/logout`` and the ``/staff`` page (Flask-Login over
the cookie sessions of ``web.sessions``).

A signed-in member of staff holds their account's role exactly as an API token of that role would:
``web.auth.current_role`` reads it from the session when a request has no ``Authorization`` header, and the
route markers and views (``domain.privacy.view_for``) know no other source. The session cookie is HttpOnly,
SameSite=Lax and, when ``SESSION_COOKIE_SECURE`` says so (``"auto"``: when ``PUBLIC_URL`` is https), Secure.
Signing in starts a new session (nothing of the one before survives, its CSRF token included); an account
disabled meanwhile (``mapper user disable``) is signed out on its next request, since every request with a
session loads the account again. Sign-in attempts take the ``login`` rate limit; every refusal says the same
words with the same status (``services.staff.authenticate``), and ``next`` is followed only to a path of this
site.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, Flask, current_app, redirect, render_template, request, session, url_for
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user

from mapper.db import get_engine
from mapper.domain import policy
from mapper.domain.errors import Unauthorized
from mapper.services import staff
from mapper.web import access
from mapper.web.auth import current_role
from mapper.web.rate_limits import limited

bp = Blueprint("signin", __name__)


class SessionUser(UserMixin):
    """The account behind a session (Flask-Login's user)."""

    def __init__(self, user: staff.StaffUser):
        self.id, self.email, self.role = user.id, user.email, user.role

    def get_id(self) -> str:
        return str(self.id)


def safe_next(target: str | None) -> str:
    """``target`` when it is a path on this site (``/…``, not ``//host`` nor ``/\\host``, no scheme or host),
    else the staff page: a sign-in never sends anyone elsewhere."""
    fallback = url_for("signin.staff_home")
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return fallback
    if any(c in target for c in "\\\r\n\t") or any(ord(c) < 0x20 or ord(c) == 0x7F for c in target):
        return fallback
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return fallback
    return target


def session_role() -> str | None:
    """The role of the account signed in on this request's session, None when there is none (or it is disabled
    now). Requests without the session cookie never open a session for this."""
    if current_app.config["SESSION_COOKIE_NAME"] not in request.cookies:
        return None
    if getattr(current_app, "login_manager", None) is None:
        return None
    return current_user.role if current_user.is_authenticated else None


def _form(status: int = 200, error: str | None = None, email: str = ""):
    target = request.values.get("next", "")
    return render_template("signin.html", error=error, email=email, next=target), status


@bp.get("/staff/login")
@access.public
def login():
    """The sign-in form (already signed in: straight on to ``next``)."""
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")), 303)
    return _form()


@bp.post("/staff/login")
@access.public
@limited("login")
def login_post():
    """Check the e-mail and password; on success a new session for the account, then on to ``next``."""
    email = request.form.get("email", "")
    try:
        user = staff.authenticate(get_engine(), email, request.form.get("password", ""))
    except Unauthorized as e:
        return _form(401, e.detail, email)
    session.clear()  # a new session: nothing from before signing in (a planted cookie, its CSRF token) survives
    login_user(SessionUser(user))
    return redirect(safe_next(request.form.get("next")), 303)


@bp.post("/staff/logout")
@access.public
def logout():
    """Sign out: the session is emptied and its cookie deleted."""
    logout_user()
    session.clear()
    return redirect(url_for("signin.login"), 303)


@bp.get("/staff")
@access.staff
def staff_home():
    """Who is signed in, with which role; the sign-out button. (Anonymous browsers are sent to the form.)"""
    return render_template("staff.html", user=current_user, may_read_log=policy.may(current_role(), "read_access_log"))


@bp.after_request
def no_store(resp):
    """Sign-in pages hold a CSRF token and personal data: never stored by any cache."""
    resp.headers["Cache-Control"] = "no-store"
    resp.vary.add("Cookie")
    return resp


def _load(user_id: str) -> SessionUser | None:
    try:
        user = staff.active_user(get_engine(), int(user_id))
    except ValueError:
        return None
    return SessionUser(user) if user is not None else None


def init_app(app: Flask) -> LoginManager:
    """Cookie flags and Flask-Login for ``app``."""
    secure = app.config.get("SESSION_COOKIE_SECURE", "auto")
    if secure == "auto":
        secure = str(app.config.get("PUBLIC_URL", "")).lower().startswith("https://")
    app.config["SESSION_COOKIE_SECURE"] = bool(secure)
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = app.config.get("SESSION_COOKIE_SAMESITE") or "Lax"
    app.config["REMEMBER_COOKIE_SECURE"] = app.config["SESSION_COOKIE_SECURE"]
    manager = LoginManager()
    manager.user_loader(_load)
    manager.init_app(app)
    app.register_blueprint(bp)
    return manager
