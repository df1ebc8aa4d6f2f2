"""HTTP helpers shared by the feeds: conditional GET (ETag / Last-Modified → 304), CORS for GET, and which
responses shared caches may keep.

Only what anonymous callers get (the public view) is ``public``. A response to a request with credentials
(an ``Authorization`` header or a cookie: staff see exact data, private fields and hidden reports) is
``private`` — ``no-store`` when it had no cache policy — and carries ``Vary: Authorization, Cookie``
(``keep_private``, run after every request by ``web.access.init_app``)."""

from __future__ import annotations

import hashlib

from flask import Blueprint, Response, request
from werkzeug.http import http_date


def etag_for(*parts) -> str:
    """A strong ETag from the data version and everything else that shapes the response."""
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:32]


def not_modified(etag: str, changed_at) -> Response | None:
    """A 304 when the client's copy is current, else None."""
    if request.if_none_match and request.if_none_match.contains(etag):
        resp = Response(status=304)
    elif (
        not request.if_none_match
        and changed_at is not None
        and request.if_modified_since is not None
        and changed_at.replace(microsecond=0) <= request.if_modified_since
    ):
        resp = Response(status=304)
    else:
        return None
    resp.set_etag(etag)
    return resp


CORS_HEADERS = (
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Allow-Headers", "Authorization, Accept, If-None-Match"),
    ("Access-Control-Expose-Headers", "ETag, Last-Modified, Link"),
)


CREDENTIALS = ("Authorization", "Cookie")  # request headers that may change what a response shows
VARY = "Authorization, Cookie, Accept"


def credentialed() -> bool:
    """Whether the current request carries credentials, so its response may hold more than the public view."""
    return any(request.headers.get(name) for name in CREDENTIALS)


def validator_headers(etag: str, changed_at, max_age: int = 0, shared: bool = True) -> list[tuple[str, str]]:
    """ETag, Last-Modified, Cache-Control and Vary of a feed response; ``shared``: a response to an anonymous
    request (the public view), which shared caches may keep for ``max_age`` seconds."""
    headers = [("ETag", f'"{etag}"')]
    if changed_at is not None:
        headers.append(("Last-Modified", http_date(changed_at)))
    scope = "public" if shared else "private"
    headers += [("Cache-Control", f"{scope}, max-age={max_age}" if max_age else f"{scope}, no-cache"), ("Vary", VARY)]
    return headers


def set_validators(resp: Response, etag: str, changed_at, max_age: int = 0) -> Response:
    """``validator_headers`` set on ``resp``, for the current request."""
    for name, value in validator_headers(etag, changed_at, max_age, shared=not credentialed()):
        resp.headers[name] = value
    return resp


def keep_private(resp: Response) -> Response:
    """Keep the response to a request with credentials out of shared caches: ``private`` instead of
    ``public`` (``private, no-store`` when it set no policy), and ``Vary: Authorization, Cookie``."""
    if credentialed():
        cc = resp.cache_control
        if not resp.headers.get("Cache-Control"):
            resp.headers["Cache-Control"] = "private, no-store"
        elif cc.public or cc.s_maxage is not None or not cc.private:
            cc.public, cc.s_maxage, cc.private = False, None, True
        resp.vary.update(CREDENTIALS)
    return resp


def enable_cors(bp: Blueprint) -> None:
    """Let browsers on other origins GET (with a staff token, if they have one)."""

    @bp.after_request
    def cors(resp: Response) -> Response:
        if request.method in ("GET", "HEAD", "OPTIONS"):
            for name, value in CORS_HEADERS:
                resp.headers[name] = value
        return resp
