"""HTTP helpers shared by the feeds: conditional GET (ETag / Last-Modified → 304) and CORS for GET."""

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


def validator_headers(etag: str, changed_at, max_age: int = 0) -> list[tuple[str, str]]:
    """ETag, Last-Modified, Cache-Control and Vary of a feed response."""
    headers = [("ETag", f'"{etag}"')]
    if changed_at is not None:
        headers.append(("Last-Modified", http_date(changed_at)))
    headers += [
        ("Cache-Control", f"public, max-age={max_age}" if max_age else "no-cache"),
        ("Vary", "Authorization, Accept"),
    ]
    return headers


def set_validators(resp: Response, etag: str, changed_at, max_age: int = 0) -> Response:
    """``validator_headers`` set on ``resp``."""
    for name, value in validator_headers(etag, changed_at, max_age):
        resp.headers[name] = value
    return resp


def enable_cors(bp: Blueprint) -> None:
    """Let browsers on other origins GET (with a staff token, if they have one)."""

    @bp.after_request
    def cors(resp: Response) -> Response:
        if request.method in ("GET", "HEAD", "OPTIONS"):
            for name, value in CORS_HEADERS:
                resp.headers[name] = value
        return resp
