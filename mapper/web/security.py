"""Security headers of every response, and the host the platform answers for, in one place.

Both response paths finish here: Flask's (``after_request``) and ``web.fast_items``'s (in front of Flask),
through ``response_headers``. HTML pages get a Content-Security-Policy that allows only the app's own origin
(plus the configured base-map tile server for images), with scripts and style blocks allowed by a per-response
nonce (``csp_nonce``; Folium's inline scripts are given it by ``with_nonce``); everything else gets a CSP
that allows nothing. ``frame-ancestors`` is ``'none'`` except on pages marked ``embeddable`` (public maps),
which take ``FRAME_ANCESTORS`` (default ``'self'``; a city may list its own sites). ``Referrer-Policy:
strict-origin`` sends other sites at most our origin, never a path (tracking tokens live in paths).

``HostGuard`` (WSGI, outermost) decides the host links are built with: ``PUBLIC_URL`` when set (scheme, host
and path prefix are taken from it whatever the request says), else the request's Host if it is one of
``TRUSTED_HOSTS``; any other Host is refused before it reaches a view.
"""

from __future__ import annotations

import json
import re
import secrets
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, g, request

NOSNIFF = ("X-Content-Type-Options", "nosniff")
REFERRER = ("Referrer-Policy", "strict-origin")
NON_HTML_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
SCRIPT_OR_STYLE_TAG = re.compile(r"<(script|style)\b")
# A service worker runs under its own script's CSP: it may load our scripts (importScripts) and fetch from our
# origin, nothing else.
WORKER_CSP = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'none'"
)


def csp_nonce() -> str:
    """This response's nonce for inline ``<script>``/``<style>`` (templates: ``{{ csp_nonce() }}``)."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return g.csp_nonce


def with_nonce(html: str) -> str:
    """Give every ``<script>`` and ``<style>`` tag of a generated page (Folium's) this response's nonce.

    Only for HTML we generate whose untrusted values are all inside JSON escaped for HTML (``<`` as
    ``\\u003c``, as Jinja's and Folium's ``tojson`` do), so no tag here can come from a citizen's input."""
    nonce = csp_nonce()
    return SCRIPT_OR_STYLE_TAG.sub(lambda m: f'<{m[1]} nonce="{nonce}"', html)


def embeddable(view):
    """Mark a public map page as embeddable in the sites of ``FRAME_ANCESTORS``."""
    view.embeddable = True
    return view


def secret_url(view):
    """Mark a page whose own URL is a secret (it holds a tracking token): it sends no Referer at all, and no
    cache keeps its answer."""
    view.secret_url = True
    return view


def service_worker_script(view):
    """Mark the view answering a service worker's script: its CSP (the worker's own) allows our origin's
    scripts and fetches, and nothing else."""
    view.service_worker = True
    return view


def html_csp(nonce: str, frame_ancestors: str, tile_origin: str) -> str:
    img = "'self' data: blob:" + (f" {tile_origin}" if tile_origin else "")
    return (
        f"default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self' 'nonce-{nonce}'; "
        f"img-src {img}; font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        f"form-action 'self'; frame-ancestors {frame_ancestors}"
    )


def tile_origin(tiles_url: str) -> str:
    """The origin of the base-map tile server (``{s}`` sub-domains allowed), '' for none."""
    if not tiles_url:
        return ""
    parts = urlsplit(tiles_url)
    host = parts.netloc.replace("{s}", "*")
    return f"{parts.scheme}://{host}" if parts.scheme in ("http", "https") and host else ""


def response_headers(content_type: str, config, *, nonce: str | None = None, view=None):
    """The security headers of one response (both response paths call this); ``view`` is the view function
    that answered, read for its ``embeddable`` and ``secret_url`` marks."""
    embeddable_page = getattr(view, "embeddable", False)
    secret = getattr(view, "secret_url", False)
    headers = [NOSNIFF, ("Referrer-Policy", "no-referrer") if secret else REFERRER]
    if secret:  # what it answers is as secret as its URL: kept by no cache
        headers.append(("Cache-Control", "private, no-store"))
    if content_type.startswith("text/html"):
        ancestors = config["FRAME_ANCESTORS"] if embeddable_page else "'none'"
        csp = html_csp(nonce or secrets.token_urlsafe(16), ancestors, tile_origin(config["TILES_URL"]))
        headers.append(("Content-Security-Policy", csp))
        if ancestors in ("'none'", "'self'"):  # for browsers without frame-ancestors
            headers.append(("X-Frame-Options", "DENY" if ancestors == "'none'" else "SAMEORIGIN"))
    else:
        headers.append(
            ("Content-Security-Policy", WORKER_CSP if getattr(view, "service_worker", False) else NON_HTML_CSP)
        )
    return headers


def _finish(resp: Response) -> Response:
    view = current_app.view_functions.get(request.endpoint) if request.endpoint else None
    for name, value in response_headers(
        resp.content_type or "", current_app.config, nonce=g.get("csp_nonce"), view=view
    ):
        resp.headers[name] = value
    return resp


class HostGuard:
    """WSGI middleware: links are built for ``PUBLIC_URL`` when it is set; otherwise the Host must be trusted."""

    def __init__(self, wsgi_app, public_url: str, trusted_hosts: list[str]):
        self.next = wsgi_app
        self.public = urlsplit(public_url.rstrip("/")) if public_url else None
        self.trusted = [h.lower() for h in trusted_hosts]

    def trusted_host(self, host: str) -> bool:
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        name = name.strip("[]").lower()
        return any(name == t or (t.startswith(".") and name.endswith(t)) for t in self.trusted)

    def __call__(self, environ, start_response):
        if self.public is not None:
            environ["HTTP_HOST"] = self.public.netloc
            environ["wsgi.url_scheme"] = self.public.scheme
            environ["SCRIPT_NAME"] = self.public.path
        elif self.trusted and not self.trusted_host(environ.get("HTTP_HOST", "")):
            body = json.dumps(
                {
                    "type": "about:blank",
                    "title": "Bad request",
                    "status": 400,
                    "detail": "This server does not answer for that host.",
                    "errors": [{"field": "Host", "reason": "not one of the trusted hosts"}],
                }
            ).encode()
            headers = [
                ("Content-Type", "application/problem+json"),
                ("Content-Length", str(len(body))),
                *response_headers("application/problem+json", {}),
            ]
            start_response("400 Bad Request", headers)
            return [body]
        return self.next(environ, start_response)


def init_app(app: Flask) -> None:
    app.after_request(_finish)
    app.jinja_env.globals["csp_nonce"] = csp_nonce


def wrap(app: Flask) -> None:
    """Put ``HostGuard`` outermost (after every other WSGI middleware is installed). Flask reads the same
    ``TRUSTED_HOSTS`` setting when a view asks for ``request.host``: with ``PUBLIC_URL`` set, the one host
    requests arrive with is the public one."""
    if app.config["PUBLIC_URL"]:
        app.config["TRUSTED_HOSTS"] = [urlsplit(app.config["PUBLIC_URL"]).hostname]
    app.wsgi_app = HostGuard(app.wsgi_app, app.config["PUBLIC_URL"], list(app.config["TRUSTED_HOSTS"]))
