"""Rate limits per client address, through granian (the production server) with 2 worker processes counting in
the platform's own PostgreSQL; the client address behind trusted proxies; the named limit for staff sign-in; the
storage's counters under concurrency."""

from __future__ import annotations

import json
import threading
import time

import pytest
import requests
from flask import Blueprint, Flask
from sqlalchemy import text

from mapper import create_app, db
from mapper.services.tokens import create_api_token
from mapper.web import access, problems, rate_limits
from mapper.web.rate_limits import DatabaseStorage, client_address, limited
from tests.conftest import count
from tests.servers import granian
from tests.test_intake import crime

REPORTS = "/api/layers/crime/reports"
INTAKE, TRACKING = 3, 4  # the small limits per minute of the test servers


@pytest.fixture
def counters(engine):
    """No counter left from earlier tests."""
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM rate_limits"))
    return engine


@pytest.fixture(scope="module")
def limited_server(database_url, tmp_path_factory):
    with granian(
        database_url,
        tmp_path_factory.mktemp("limited"),
        workers=2,
        RATELIMIT_INTAKE=f"{INTAKE} per minute; 50 per hour",
        RATELIMIT_TRACKING=f"{TRACKING} per minute",
    ) as s:
        yield s


def fresh_post(url: str, body: bytes, **headers) -> requests.Response:
    """Each request on a new connection: granian's workers accept connections in turn, not requests."""
    headers = {"Content-Type": "application/geo+json", "Connection": "close"} | headers
    return requests.post(url + REPORTS, data=body, headers=headers, timeout=30)


def fresh_get(url: str, path: str) -> requests.Response:
    return requests.get(url + path, headers={"Connection": "close"}, timeout=30)


def assert_429(r: requests.Response, window_s: int = 60) -> None:
    assert r.status_code == 429, r.text
    assert r.headers["Content-Type"] == "application/problem+json"
    problem = r.json()
    assert problem["status"] == 429 and [e["field"] for e in problem["errors"]] == ["client"]
    assert 1 <= int(r.headers["Retry-After"]) <= window_s


def test_intake_limit_holds_across_the_workers(limited_server, counters, clean):
    body = json.dumps(crime()).encode()
    answers = [fresh_post(limited_server.url, body) for _ in range(INTAKE + 1)]
    assert [r.status_code for r in answers] == [201] * INTAKE + [429]
    assert_429(answers[-1])
    assert "per 1 minute" in answers[-1].json()["errors"][0]["reason"]
    assert count(clean) == INTAKE  # refused requests stored nothing
    assert all(fresh_post(limited_server.url, body).status_code == 429 for _ in range(4))
    assert count(clean) == INTAKE
    token = answers[0].json()["tracking_token"]  # the tracking look-up has its own counter
    assert fresh_get(limited_server.url, f"/api/reports/{token}").status_code == 200


def test_tracking_look_ups_are_limited_across_the_workers(limited_server, counters, clean):
    tokens = [f"unknown-token-{i}" for i in range(TRACKING + 1)]
    answers = [fresh_get(limited_server.url, f"/api/reports/{t}") for t in tokens]
    assert [r.status_code for r in answers] == [404] * TRACKING + [429]
    assert_429(answers[-1])


def test_x_forwarded_for_is_ignored_when_no_proxy_is_trusted(limited_server, counters, clean):
    answers = [
        fresh_post(limited_server.url, b"{", **{"X-Forwarded-For": f"198.51.100.{i}"}) for i in range(INTAKE + 1)
    ]
    assert [r.status_code for r in answers] == [422] * INTAKE + [429]


def test_per_process_counters_would_let_more_through(database_url, tmp_path_factory, counters, clean):
    """The control for the tests above: with each worker counting for itself (``memory://``), requests sent the
    same way get past the limit, so they do land on more than one worker."""
    with granian(
        database_url,
        tmp_path_factory.mktemp("memory"),
        workers=2,
        RATELIMIT_STORAGE_URI="memory://",
        RATELIMIT_INTAKE=f"{INTAKE} per minute",
    ) as server:
        statuses = [fresh_post(server.url, b"{").status_code for _ in range(8 * INTAKE)]
    assert statuses.count(422) > INTAKE, statuses
    assert count(clean, "rate_limits") == 0  # and nothing was counted in the database


def test_ratelimit_enabled_false_turns_every_limit_off(database_url, tmp_path_factory, counters, clean):
    body = json.dumps(crime()).encode()
    with granian(
        database_url,
        tmp_path_factory.mktemp("unlimited"),
        workers=2,
        RATELIMIT_ENABLED="false",
        RATELIMIT_INTAKE="1 per minute",
        RATELIMIT_TRACKING="1 per minute",
    ) as server:
        posted = [fresh_post(server.url, body) for _ in range(5)]
        looked = [fresh_get(server.url, f"/api/reports/{posted[0].json()['tracking_token']}") for _ in range(5)]
    assert [r.status_code for r in posted] == [201] * 5 and [r.status_code for r in looked] == [200] * 5
    assert count(clean) == 5 and count(clean, "rate_limits") == 0


# --- the client address ---------------------------------------------------------------------------------------
def test_behind_a_trusted_proxy_the_client_is_the_address_the_proxy_appended(database_url, counters):
    app = create_app(
        {
            "DATABASE_URL": database_url,
            "TILES_URL": "",
            "SECRET_KEY": "test",
            "TRUSTED_PROXIES": 1,
            "RATELIMIT_INTAKE": "2 per minute",
        }
    )
    client = app.test_client()

    def post(forwarded: str):
        headers = {"Content-Type": "application/geo+json", "X-Forwarded-For": forwarded}
        return client.post(REPORTS, data=b"{", headers=headers, environ_base={"REMOTE_ADDR": "10.0.0.2"}).status_code

    # what the client wrote itself (left of the proxy's entry) does not make it someone else
    assert [post(f"192.0.2.{i}, 203.0.113.7") for i in range(3)] == [422, 422, 429]
    assert post("203.0.113.8") == 422  # another client behind the same proxy has its own counter


@pytest.mark.parametrize(
    "peer,counted_as",
    [
        ("192.0.2.10", "192.0.2.10"),
        ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"),
        ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
        ("::ffff:192.0.2.10", "192.0.2.10"),
    ],
)
def test_ipv6_clients_are_counted_by_their_64_network(peer, counted_as):
    with Flask("probe").test_request_context(environ_base={"REMOTE_ADDR": peer}):
        assert client_address() == counted_as


# --- the named limit for staff sign-in -------------------------------------------------------------------------
def login_probe_app(database_url: str, late: bool = False) -> Flask:
    """An app whose sign-in routes (as the coming one will) take the login limit in one line each."""
    app = Flask("login_probe")
    app.config.update(RATELIMIT_LOGIN="2 per minute", RATELIMIT_STORAGE_URI="database://")
    db.init_app(app, database_url)
    problems.init_app(app)
    bp = Blueprint("probe", __name__)

    @bp.post("/sign-in")
    @limited("login")
    def sign_in():
        return "signed in"

    @bp.post("/sign-in/token")
    @limited("login")
    def sign_in_token():
        return "token"

    @bp.post("/staff-only")
    @access.staff  # a marker outside the limit, as on every route of the app
    @limited("login")
    def staff_only():
        return "staff"

    if late:
        rate_limits.init_app(app)
        app.register_blueprint(bp)
    else:
        app.register_blueprint(bp)
        rate_limits.init_app(app)
    return app


def test_the_login_limit_is_one_line_per_route_and_shared_by_them(database_url, counters):
    client = login_probe_app(database_url).test_client()
    assert [client.post(p).status_code for p in ("/sign-in", "/sign-in/token", "/sign-in")] == [200, 200, 429]
    r = client.post("/sign-in/token")
    assert r.status_code == 429 and r.content_type == "application/problem+json" and "Retry-After" in r.headers
    assert "(login)" in r.get_json()["errors"][0]["reason"]


def test_a_limit_under_an_access_marker_counts(database_url, counters, engine):
    client = login_probe_app(database_url).test_client()
    police = {"Authorization": f"Bearer {create_api_token(engine, 'police', 'probe')}"}
    assert [client.post("/staff-only", headers=police).status_code for _ in range(3)] == [200, 200, 429]


def test_a_limited_route_registered_too_late_refuses_to_run_unlimited(database_url, counters, caplog):
    app = login_probe_app(database_url, late=True)
    r = app.test_client().post("/sign-in")  # the error handler answers the RuntimeError with a bare 500
    assert r.status_code == 500 and b"signed in" not in r.data
    assert any(
        "registered after rate_limits.init_app" in str(rec.exc_info[1]) for rec in caplog.records if rec.exc_info
    )


def test_a_bad_limit_setting_stops_the_app_at_start(database_url):
    from limits.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="RATELIMIT_INTAKE"):
        create_app({"DATABASE_URL": database_url, "TILES_URL": "", "RATELIMIT_INTAKE": "ten a minute"})


# --- the storage --------------------------------------------------------------------------------------------
def test_database_counters_are_atomic_and_windows_restart(engine, counters):
    storage = DatabaseStorage("database://", engine=engine)
    seen, lock = [], threading.Lock()

    def hammer():
        for _ in range(25):
            n = storage.incr("probe", 60)
            with lock:
                seen.append(n)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(seen) == list(range(1, 201)) and storage.get("probe") == 200
    assert 0 < storage.get_expiry("probe") - time.time() <= 60
    with engine.begin() as conn:  # the window ends
        conn.execute(text("UPDATE rate_limits SET expires_at = now() - interval '1 second'"))
    assert storage.get("probe") == 0
    assert storage.incr("probe", 60, amount=2) == 2  # a new window, not 202
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO rate_limits (key, hits, expires_at) SELECT 'ended-' || g, 1, now() - interval '1 hour' "
                "FROM generate_series(1, 10) g"
            )
        )
        assert rate_limits.store.purge(conn) == 10
    assert count(engine, "rate_limits") == 1
    storage.clear("probe")
    assert storage.get("probe") == 0 and storage.check()
