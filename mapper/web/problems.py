"""RFC 9457 problem details: every API error is ``application/problem+json`` naming the field and reason.

The status of a ``MapperError`` is looked up along its class's MRO, so a subclass (``ArchiveRefused`` is a
``ValidationFailed``) answers as its nearest listed ancestor. JSON routes (``/api``, ``/tiles``, ``/export``,
``/feeds``, and ``/ogc`` unless HTML is wanted) answer problem+json for every error, werkzeug's 404/405 included; an
unexpected exception is logged and answered with a generic 500 that names nothing of the failure."""

from __future__ import annotations

import json

from flask import Flask, Response, current_app, redirect, request, url_for
from werkzeug.exceptions import HTTPException, InternalServerError

from mapper.domain.errors import (
    BadRequest,
    Conflict,
    FieldProblem,
    Forbidden,
    MapperError,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    UnsupportedMediaType,
    ValidationFailed,
)
from mapper.web.ogc import wants_html

STATUS = {
    MapperError: 400,
    BadRequest: 400,
    ValidationFailed: 422,
    NotFound: 404,
    Conflict: 409,
    PayloadTooLarge: 413,
    UnsupportedMediaType: 415,
    Unauthorized: 401,
    Forbidden: 403,
}
JSON_PREFIXES = ("/api/", "/tiles/", "/export/", "/feeds/")
KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate")  # what werkzeug's error responses say beyond the body


def status_of(error: MapperError) -> int:
    """The HTTP status of ``error``: that of the nearest class of its MRO listed in ``STATUS``."""
    return next(STATUS[cls] for cls in type(error).__mro__ if cls in STATUS)


def problem(status: int, title: str, detail: str, problems: list[FieldProblem] = (), **extra) -> Response:
    body = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.path,
        **extra,
    }
    body = json.loads(json.dumps(body, default=str))
    if problems:
        body["errors"] = [p.as_dict() for p in problems]
    return Response(json.dumps(body), status=status, mimetype="application/problem+json")


def is_json_route() -> bool:
    """Whether the request is for an API (JSON) route rather than an HTML page."""
    path = request.path
    if path.startswith(JSON_PREFIXES) or path in ("/api", "/tiles", "/export"):
        return True
    if path == "/ogc" or path.startswith("/ogc/"):
        return not wants_html()
    return False


def wants_problem() -> bool:
    return is_json_route() or request.accept_mimetypes.best in ("application/json", "application/problem+json")


def browser_page() -> bool:
    """A browser asking for a page (GET, HTML preferred, no Authorization): a page that needs a staff role sends
    it to the sign-in form rather than answering 401."""
    return (
        request.method in ("GET", "HEAD")
        and not is_json_route()
        and not request.headers.get("Authorization")
        and request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html"
        and "html" in request.headers.get("Accept", "")
    )


def init_app(app: Flask) -> None:
    @app.errorhandler(MapperError)
    def mapper_error(e: MapperError):
        if isinstance(e, Unauthorized) and browser_page() and "signin.login" in current_app.view_functions:
            return redirect(url_for("signin.login", next=request.full_path.rstrip("?")), 303)
        return problem(status_of(e), e.title, e.detail, e.problems)

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException):
        if not wants_problem():
            return e
        problems = [FieldProblem("body", "too large")] if e.code == 413 else []
        resp = problem(e.code or 500, e.name, e.description or e.name, problems)
        for name, value in e.get_headers():
            if name in KEPT_HEADERS:
                resp.headers[name] = value
        return resp

    @app.errorhandler(Exception)
    def unexpected_error(e: Exception):
        """A failure nobody foresaw: logged with its traceback; the client learns only that it happened."""
        # the route's rule, not the path: a path may hold a secret (a tracking token)
        route = request.url_rule.rule if request.url_rule else "(no route)"
        current_app.logger.error("unexpected error on %s %s", request.method, route, exc_info=e)
        if not wants_problem():
            return InternalServerError()
        return problem(500, "Internal Server Error", "The server could not complete the request; the error was logged.")
