"""RFC 9457 problem details: every API error is ``application/problem+json`` naming the field and reason."""

from __future__ import annotations

import json

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from mapper.domain.errors import (
    BadRequest,
    Conflict,
    FieldProblem,
    Forbidden,
    MapperError,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    ValidationFailed,
)

STATUS = {
    BadRequest: 400,
    ValidationFailed: 422,
    NotFound: 404,
    Conflict: 409,
    PayloadTooLarge: 413,
    Unauthorized: 401,
    Forbidden: 403,
}


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


def _wants_problem() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best in (
        "application/json",
        "application/problem+json",
    )


def init_app(app: Flask) -> None:
    @app.errorhandler(MapperError)
    def mapper_error(e: MapperError):
        return problem(STATUS.get(type(e), 400), e.title, e.detail, e.problems)

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException):
        if not _wants_problem():
            return e
        problems = [FieldProblem("body", "too large")] if e.code == 413 else []
        return problem(e.code or 500, e.name, e.description or e.name, problems)
