"""Anonymous GeoJSON pages of OGC API items, answered in front of Flask's request machinery.

Map clients and GIS software paging through a public layer make most feed requests, and for a small page
Flask's per-request work (request and response objects, routing, contexts, hooks) costs about as much as
PostgreSQL's. Requests that need none of it — a GET with no credentials, no conditional headers, no cookie,
not asking for HTML — are answered here with the same functions as the Flask view (``ogc.items``): the same
parsing, statement, document, validators and CORS headers. Anything else, and any request this path cannot
answer (an unknown layer, a refused parameter), goes to the Flask app unchanged, which answers it as usual.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

from flask import Flask

from mapper.domain.errors import BadRequest
from mapper.domain.privacy import view_for
from mapper.services import feeds
from mapper.web import ogc
from mapper.web.http_cache import CORS_HEADERS, validator_headers
from mapper.web.security import response_headers

ITEMS_PATH = re.compile(r"/ogc/collections/([A-Za-z0-9_\-]+)/items")
PASSED_BY = ("HTTP_AUTHORIZATION", "HTTP_IF_NONE_MATCH", "HTTP_IF_MODIFIED_SINCE", "HTTP_COOKIE")
HOST = re.compile(r"[A-Za-z0-9.\-]+(:\d+)?|\[[0-9A-Fa-f:.]+\](:\d+)?")


class FastItems:
    """WSGI middleware for ``app``: answers the plain anonymous items requests, passes on the rest."""

    def __init__(self, app: Flask):
        self.app, self.next = app, app.wsgi_app
        self.answered = 0  # requests answered here (the rest went to Flask)
        # the security headers of an items page are those the Flask view gets (they depend on nothing per request)
        self.security_headers = response_headers(ogc.GEOJSON, app.config, view=app.view_functions["ogc.items"])

    def __call__(self, environ, start_response):
        try:
            answer = self.answer(environ)
        except Exception:  # noqa: BLE001 - Flask answers it again, with its error handling and logging
            answer = None
        if answer is None:
            return self.next(environ, start_response)
        self.answered += 1
        headers, body = answer
        start_response("200 OK", headers)
        return [body]

    def answer(self, environ) -> tuple[list[tuple[str, str]], bytes] | None:
        """Headers and body of the page ``environ`` asks for, or None to let Flask answer."""
        match = ITEMS_PATH.fullmatch(environ.get("PATH_INFO", ""))
        host = environ.get("HTTP_HOST", "")
        query = environ.get("QUERY_STRING", "")
        if (
            match is None
            or environ.get("REQUEST_METHOD") != "GET"
            or any(environ.get(h) for h in PASSED_BY)
            or "html" in environ.get("HTTP_ACCEPT", "")
            or not HOST.fullmatch(host)
            or not query.isascii()
        ):
            return None
        layer = self.app.extensions["mapper.registry"].get(match[1])
        args: dict[str, str] = {}
        for name, value in parse_qsl(query, keep_blank_values=True):
            args.setdefault(name, value)  # the first of a repeated parameter, as werkzeug's MultiDict.get
        if layer is None or "f" in args:
            return None
        view = view_for(layer, None)
        try:
            q = feeds.parse_query(view, args)
        except BadRequest:
            return None
        reader = feeds.PageReader(self.app.extensions["mapper.engine"], q)
        reader.read_page()  # gives the connection back
        script, path, scheme = environ.get("SCRIPT_NAME", ""), environ["PATH_INFO"], environ["wsgi.url_scheme"]
        default_port = {"http": ":80", "https": ":443"}.get(scheme)
        if default_port and host.endswith(default_port):  # as werkzeug's Request.host
            host = host[: -len(default_port)]
        items_url = f"{scheme}://{host}{script}{path}"
        body = ogc.items_document(q, reader, items_url, args).encode()
        etag = ogc.page_etag(reader.version, q, False, f"{scheme}://{host}{script}/", f"{path}?{query}")
        headers = [
            ("Content-Type", ogc.GEOJSON),
            ("Content-Length", str(len(body))),
            *validator_headers(etag, reader.changed_at),
            *CORS_HEADERS,
            *self.security_headers,
        ]
        return headers, body
