"""Rate limits per client address (Flask-Limiter), counted in storage shared by every worker process.

Named limits, each a setting ``RATELIMIT_<NAME>`` in Flask-Limiter's notation (``"10 per minute; 100 per hour"``):
``intake`` (report submission), ``tracking`` (tracking-token look-ups) and ``login`` (staff sign-in). A view
takes one with a single line under its route, ``@limited("login")``; views marked with the same name share its
counters. A request over a limit is refused before the view's code runs (nothing read, nothing stored): 429
``application/problem+json`` naming ``client``, with ``Retry-After`` (seconds).

Storage (``RATELIMIT_STORAGE_URI``): ``database://``, the default, counts in the platform's own PostgreSQL (the
UNLOGGED table ``rate_limits``, ``mapper.store.rate_limits``), so it works with the embedded cluster and holds
across granian's workers and across servers sharing the database; ``redis://…``, ``memcached://…`` (any
``limits`` storage URI) for large deployments; ``memory://`` counts per process (tests only).
``RATELIMIT_ENABLED = false`` turns every limit off (load tests, benchmarks).

The client address is the connection's peer, unless ``TRUSTED_PROXIES`` (default 0) says how many proxies in
front of the app append to ``X-Forwarded-For``: then the address that many hops from the right of that header
(Werkzeug's ProxyFix), never one a client could have written itself. IPv6 clients are counted by /64 network,
the block one subscriber usually holds.
"""

from __future__ import annotations

import functools
import ipaddress
import itertools
import math
import time
from urllib.parse import urlparse

from flask import Flask, current_app, request
from flask_limiter import Limiter, RateLimitExceeded
from limits import parse_many
from limits.errors import ConfigurationError
from limits.storage import Storage
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.middleware.proxy_fix import ProxyFix

from mapper.domain.errors import FieldProblem
from mapper.store import rate_limits as store
from mapper.web.problems import problem

LIMIT_NAMES = ("intake", "tracking", "login")
MARK = "mapper_rate_limit"
DATABASE_SCHEME = "database"
PURGE_EVERY = 1000  # hits per process between two purges of ended windows


class DatabaseStorage(Storage):
    """A ``limits`` storage over the app's own database (``database://``): fixed-window counters, one atomic
    statement per hit. Its engine is the app's, handed over by ``init_app`` as the storage option ``engine``."""

    STORAGE_SCHEME = [DATABASE_SCHEME]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, engine: Engine | None = None, **options):
        if engine is None:
            raise ConfigurationError("database:// counts in the app's own database: use mapper.web.rate_limits")
        self.engine = engine
        self._hits = itertools.count(1)
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)

    @property
    def base_exceptions(self):
        return SQLAlchemyError

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        with self.engine.begin() as conn:
            if next(self._hits) % PURGE_EVERY == 0:
                store.purge(conn)
            return store.hit(conn, key, expiry, amount)

    def get(self, key: str) -> int:
        with self.engine.connect() as conn:
            found = store.window(conn, key)
        return 0 if found is None else found[0]

    def get_expiry(self, key: str) -> float:
        with self.engine.connect() as conn:
            found = store.window(conn, key)
        return time.time() if found is None else found[1]

    def check(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except SQLAlchemyError:
            return False

    def reset(self) -> int | None:
        with self.engine.begin() as conn:
            return store.clear(conn)

    def clear(self, key: str) -> None:
        with self.engine.begin() as conn:
            store.clear(conn, key)


def client_address() -> str:
    """Whom the limits count: the client's address (after ProxyFix, when proxies are trusted); IPv6 by /64."""
    address = request.remote_addr or "unknown"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def limited(name: str):
    """Count the view's requests against the named limit ``RATELIMIT_<NAME>`` (put it under the route decorator).
    The limit is attached when ``init_app`` runs, after the blueprints are registered; a view registered later
    refuses to run rather than run unlimited."""
    if name not in LIMIT_NAMES:
        raise ValueError(f"unknown rate limit {name!r}; limits: {', '.join(LIMIT_NAMES)}")

    def mark(view):
        @functools.wraps(view)
        def guarded(*args, **kwargs):
            limiter = current_app.extensions["mapper.limiter"]
            if limiter.enabled and guarded not in current_app.extensions["mapper.rate_limited_views"]:
                raise RuntimeError(f"{view.__qualname__} was registered after rate_limits.init_app: no {name} limit")
            return view(*args, **kwargs)

        setattr(guarded, MARK, name)
        guarded.limit_guard = guarded  # copied by outer decorators (functools.wraps), so init_app finds this one
        return guarded

    return mark


def _setting(name: str) -> str:
    return f"RATELIMIT_{name.upper()}"


def too_many_requests(e: RateLimitExceeded):
    """429 problem+json naming ``client``, with ``Retry-After`` in seconds (at least 1)."""
    breached = current_app.extensions["mapper.limiter"].current_limit
    retry = 1 if breached is None else max(1, math.ceil(breached.window.reset_time - time.time()))
    resp = problem(
        429,
        "Too many requests",
        f"Too many requests from this address: the {e.limit.scope} limit is {e.limit.limit}; retry in {retry} s.",
        [FieldProblem("client", f"more than {e.limit.limit} from this address ({e.limit.scope}); retry in {retry} s")],
    )
    resp.headers["Retry-After"] = str(retry)
    return resp


def init_app(app: Flask) -> Limiter:
    """The app's limiter (one per app: its own storage and settings), with the named limits attached to the views
    marked by ``limited``. Call it after the blueprints are registered, before WSGI middleware wraps the app."""
    config = app.config
    proxies = int(config.get("TRUSTED_PROXIES", 0))
    if proxies > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies)
    uri = config.get("RATELIMIT_STORAGE_URI") or f"{DATABASE_SCHEME}://"
    config["RATELIMIT_STORAGE_URI"] = uri
    options = {"engine": app.extensions["mapper.engine"]} if urlparse(uri).scheme == DATABASE_SCHEME else {}
    limiter = Limiter(key_func=client_address, storage_options=options)
    limiter.init_app(app)
    # Only the views marked ``limited`` are limited, and Flask-Limiter checks those in their own wrappers; its
    # app-wide before_request check serves default and blueprint limits, which we set none of, and would cost
    # every other request (feeds, tiles, pages) about 0.2 ms.
    hooks = app.before_request_funcs.get(None, [])
    if limiter._check_request_limit in hooks:  # not installed when RATELIMIT_ENABLED is false
        hooks.remove(limiter._check_request_limit)
    app.extensions["mapper.limiter"] = limiter
    attached = set()
    if limiter.enabled:
        for endpoint, view in list(app.view_functions.items()):
            name = getattr(view, MARK, None)
            if name is None:
                continue
            value = str(config.get(_setting(name), ""))
            try:
                if not parse_many(value):
                    raise ValueError("no limit given")
            except ValueError as e:
                raise ConfigurationError(f"{_setting(name)} = {value!r}: {e}") from None
            # this app's view checks the limit (in Flask-Limiter's wrapper) before it runs; views are shared by apps
            app.view_functions[endpoint] = limiter.shared_limit(value, scope=name)(view)
            attached.add(view.limit_guard)
    app.extensions["mapper.rate_limited_views"] = attached
    app.register_error_handler(RateLimitExceeded, too_many_requests)
    return limiter
