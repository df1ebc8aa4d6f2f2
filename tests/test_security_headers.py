"""Every response of every route carries the security headers; pages are framed only where a setting allows.

The routes are read from the app's URL map, so a new route is checked without anyone listing it here (a route
with a URL argument this file has no sample value for fails the test until one is added).
"""

from __future__ import annotations

import re
import subprocess
import time

import pytest
import requests
from flask import request
from sqlalchemy import text

from mapper import create_app
from tests.servers import free_port

# A sample value for every URL argument name the app's routes use.
SAMPLES = {
    "layer_id": "crime",
    "collection": "crime",
    "feature_id": 1,
    "subject_id": 1,
    "report_id": 1,
    "position": 1,
    "token": "not-a-token",
    "path": "leaflet/dist/leaflet.js",
    "filename": "site.css",
    "z": 12,
    "x": 1130,
    "y": 1552,
}
SAMPLES_BY_ENDPOINT = {"exports.export": {"filename": "crime.geojson"}}
VERSION_BANNER = re.compile(r"\d+\.\d+|werkzeug|python", re.I)


def urls(app, method: str = "GET") -> list[tuple[str, str]]:
    """(endpoint, concrete URL) of every route answering ``method``."""
    out = []
    for rule in app.url_map.iter_rules():
        if method not in rule.methods:
            continue
        missing = set(rule.arguments) - set(SAMPLES)
        assert not missing, f"{rule.rule}: add a sample value for {missing}"
        values = {name: SAMPLES[name] for name in rule.arguments} | SAMPLES_BY_ENDPOINT.get(rule.endpoint, {})
        _, path = rule.build(values, append_unknown=False)
        out.append((rule.endpoint, path))
    return out


@pytest.fixture
def reports(client, engine):
    """One public report per layer, so item and score routes have something to show."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO reports (id, layer, geom, public_precision_m) VALUES "
                "(1, 'crime', ST_SetSRID(ST_MakePoint(-83.0, 39.96), 4326), 250)"
            )
        )
    return client


def check_headers(headers, endpoint: str, url: str, app) -> None:
    where = f"{endpoint} {url}"
    assert headers.get("X-Content-Type-Options") == "nosniff", where
    assert headers.get("Referrer-Policy") in ("strict-origin", "no-referrer"), where
    assert not VERSION_BANNER.search(headers.get("Server", "")), where
    csp = headers.get("Content-Security-Policy", "")
    assert csp, where
    directives = dict((d.strip().split(" ", 1) + [""])[:2] for d in csp.split(";") if d.strip())
    if headers.get("Content-Type", "").startswith("text/html"):
        assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp, where
        assert re.fullmatch(r"'self' 'nonce-[A-Za-z0-9_-]{16,}'", directives["script-src"]), where
        assert "http" not in csp, where  # no outside host at all (TILES_URL is empty in the tests)
        assert directives["object-src"] == "'none'" and directives["base-uri"] == "'none'", where
        view = app.view_functions[endpoint]
        expected = app.config["FRAME_ANCESTORS"] if getattr(view, "embeddable", False) else "'none'"
        assert directives["frame-ancestors"] == expected, where
    else:
        assert directives["default-src"] == "'none'" and directives["frame-ancestors"] == "'none'", where


def test_every_get_route_carries_the_security_headers(app, reports):
    seen = 0
    for endpoint, url in urls(app):
        for path in (url, url + ("&" if "?" in url else "?") + "f=html"):
            r = reports.get(path)
            check_headers(r.headers, endpoint, path, app)
            r.close()  # a streamed export ends here, in its own request's context
            seen += 1
    assert seen > 40


def test_every_post_route_carries_the_security_headers(app, reports):
    for endpoint, url in urls(app, "POST"):
        r = reports.post(url, data=b"{}", content_type="application/json")
        assert r.status_code < 500, (endpoint, r.status_code, r.data[:300])
        check_headers(r.headers, endpoint, url, app)


def test_only_map_pages_take_the_frame_ancestors_setting(database_url):
    app = create_app(
        {"DATABASE_URL": database_url, "TILES_URL": "", "SECRET_KEY": "t", "FRAME_ANCESTORS": "https://city.example"}
    )
    client = app.test_client()
    assert "frame-ancestors https://city.example" in client.get("/map").headers["Content-Security-Policy"]
    for page in ("/report", "/", "/ogc?f=html"):
        r = client.get(page)
        assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"], page
        assert r.headers["X-Frame-Options"] == "DENY", page


def test_the_tile_server_is_the_only_outside_host(database_url):
    app = create_app(
        {"DATABASE_URL": database_url, "SECRET_KEY": "t", "TILES_URL": "https://{s}.tiles.example/{z}/{x}/{y}.png"}
    )
    csp = app.test_client().get("/map").headers["Content-Security-Policy"]
    assert "img-src 'self' data: blob: https://*.tiles.example;" in csp
    assert csp.count("http") == 1


def test_nonces_differ_per_response_and_every_script_of_the_map_carries_it(client):
    first, second = client.get("/map"), client.get("/map")
    nonces = [re.search(r"'nonce-([^']+)'", r.headers["Content-Security-Policy"])[1] for r in (first, second)]
    assert nonces[0] != nonces[1]
    html = first.get_data(as_text=True)
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert scripts and all(f'nonce="{nonces[0]}"' in s for s in scripts)


# --- the host links are built for ----------------------------------------------------------------------------
def test_an_untrusted_host_is_refused_and_never_reflected(client):
    for path in ("/ogc/collections", "/ogc/collections/crime/items", "/map"):
        r = client.get(path, headers={"Host": "evil.example"})
        assert r.status_code == 400, path
        assert r.headers["Content-Type"] == "application/problem+json"
        assert r.get_json()["errors"] == [{"field": "Host", "reason": "not one of the trusted hosts"}]
        assert b"evil.example" not in r.data


def test_public_url_decides_every_link_and_the_etag(database_url, reports):
    app = create_app(
        {"DATABASE_URL": database_url, "TILES_URL": "", "SECRET_KEY": "t", "PUBLIC_URL": "https://map.city.example"}
    )
    client = app.test_client()
    for host in ("localhost", "evil.example"):
        items = client.get("/ogc/collections/crime/items", headers={"Host": host})
        assert items.status_code == 200
        links = [link["href"] for link in items.get_json()["links"]]
        assert links and all(h.startswith("https://map.city.example/ogc/") for h in links), links
        assert b"evil.example" not in items.data and b"localhost" not in items.data
    with client:  # a view asking for the host (Flask checks it against TRUSTED_HOSTS) gets the public one
        assert client.get("/healthz", headers={"Host": "evil.example"}).status_code == 200
        assert request.host == "map.city.example"
    local = reports.get("/ogc/collections/crime/items")  # the same page for another root URL
    assert local.headers["ETag"] != items.headers["ETag"]
    assert all(h.startswith("http://localhost/") for h in [link["href"] for link in local.get_json()["links"]])


# --- real servers: no version banner, and the fast path's headers are Flask's --------------------------------
def test_the_production_server_sends_the_headers_and_no_version(live_server):
    for path in ("/ogc/collections/crime/items", "/ogc/collections/crime/items?f=html", "/map", "/nope"):
        r = requests.get(live_server + path, timeout=30)
        assert r.headers["X-Content-Type-Options"] == "nosniff", path
        assert "Content-Security-Policy" in r.headers, path
        assert not VERSION_BANNER.search(r.headers.get("Server", "")), (path, r.headers.get("Server"))


def test_the_development_server_sends_no_version(cli_env):
    port = free_port()
    proc = subprocess.Popen(
        ["mapper", "serve", "--port", str(port)],
        env=dict(cli_env, MAPPER_TILES_URL='""'),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                r = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline and proc.poll() is None, "mapper serve did not start"
                time.sleep(0.2)
        assert r.status_code == 200
        assert r.headers["Server"] == "civic-mapper"
        assert r.headers["X-Content-Type-Options"] == "nosniff"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# --- errors: problem+json on JSON routes, and never a traceback, SQL or exception name ----------------------
LEAK = re.compile(
    r"Traceback|File \"|psycopg|sqlalchemy|\b[A-Z][a-z]+(?:[A-Z][a-z]+)*(?:Error|Exception)\b|SELECT |INSERT "
)
HTML_ROUTES = (
    "pages.",
    "signin.",
    "audit.",  # the access log's page for admins (and its CSV)
    "staff_queue.",  # the staff queue and report pages
    "assets.",
    "static",
    "maps.water_map",
    "maps.health_map",
    "maps.hotspots",
    "maps.transit",
    "maps.planning",
)  # map pages: HTML


def error_requests(app):
    """(endpoint, method, URL) of requests each route must refuse: unknown parameters, wrong methods, paths
    below it that do not exist, ids that do not exist."""
    for endpoint, url in urls(app):
        yield endpoint, "GET", url + "?nope=%ff%fe"
        yield endpoint, "GET", url.rstrip("/") + "/nope"
        yield endpoint, "DELETE", url
        yield endpoint, "GET", url.replace("/1", "/999999")
    for endpoint, url in urls(app, "POST"):
        yield endpoint, "POST", url
        yield endpoint, "POST", url + "?crs=%22"


def test_every_error_is_problem_json_and_names_nothing_of_the_code(app, reports):
    checked = 0
    for endpoint, method, url in error_requests(app):
        r = reports.open(url, method=method, data=b'{"type": ', content_type="application/json")
        if r.status_code < 400:
            continue
        checked += 1
        body = r.get_data(as_text=True)
        assert r.status_code < 500, (method, url, body[:300])
        assert not LEAK.search(body), (method, url, LEAK.search(body)[0])
        assert r.headers["X-Content-Type-Options"] == "nosniff" and r.headers["Content-Security-Policy"], url
        if not endpoint.startswith(HTML_ROUTES) and not url.startswith(("/vendor", "/static")):
            assert r.headers["Content-Type"] == "application/problem+json", (method, url, r.status_code)
            doc = r.get_json()
            assert doc["status"] == r.status_code and doc["title"] and doc["detail"], (method, url)
    assert checked > 60


# --- the secret ---------------------------------------------------------------------------------------------
def test_a_server_with_its_own_database_needs_a_secret_and_the_embedded_default_makes_one(database_url, tmp_path):
    from mapper.config import ConfigurationError, load_settings, secret_key

    for placeholder in ("", "dev-only-change-me", "change-me"):
        with pytest.raises(ConfigurationError, match="MAPPER_SECRET_KEY"):
            create_app({"DATABASE_URL": database_url, "SECRET_KEY": placeholder})
    embedded = load_settings({"DATABASE_URL": "", "SECRET_KEY": "", "VAR_DIR": str(tmp_path / "var")})
    first = secret_key(embedded)
    assert len(first) == 64 and secret_key(embedded) == first  # made once, then kept
    assert (tmp_path / "var" / "secret_key").stat().st_mode & 0o777 == 0o600
