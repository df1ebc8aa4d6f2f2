"""Staff sign-in: accounts from the real ``mapper`` command, sessions over real HTTP (granian), CSRF on every
unsafe route but the JSON API's, the same refusal for every reason, the login rate limit, safe redirects, and one
rule for sessions and tokens (a signed-in police officer sees what a police token sees)."""

from __future__ import annotations

import re
import subprocess

import pytest
import requests

from mapper import create_app
from mapper.services.staff import create_user, disable_user
from mapper.services.tokens import create_api_token
from mapper.web import csrf
from tests.reports import publish
from tests.servers import granian
from tests.test_intake import crime

PASSWORD = "correct horse battery"
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def mapper(env, *args, stdin=None):
    return subprocess.run(["mapper", *args], env=env, input=stdin, capture_output=True, text=True, timeout=120)


def form_token(session: requests.Session, base: str, path: str = "/staff/login") -> str:
    r = session.get(base + path)
    assert r.status_code == 200, r.text
    return TOKEN.search(r.text)[1]


def sign_in(base: str, email: str, password: str = PASSWORD, **extra) -> tuple[requests.Session, requests.Response]:
    s = requests.Session()
    token = form_token(s, base)
    r = s.post(
        f"{base}/staff/login",
        data={"csrf_token": token, "email": email, "password": password, **extra},
        allow_redirects=False,
    )
    return s, r


@pytest.fixture
def police(clean):
    create_user(clean, "Officer@Example.org", "police", PASSWORD)
    return "officer@example.org"  # e-mails match whatever their case


def test_cli_creates_lists_and_disables_accounts(cli_env, clean):
    r = mapper(cli_env, "user", "create", "--email", "ana@example.org", "--role", "moderator", "--password-stdin",
               stdin=PASSWORD + "\n")  # fmt: skip
    assert r.returncode == 0, r.stderr
    again = mapper(cli_env, "user", "create", "--email", "ANA@example.org", "--role", "admin", "--password-stdin",
                   stdin=PASSWORD + "\n")  # fmt: skip
    assert again.returncode != 0 and "already" in again.stderr
    short = mapper(cli_env, "user", "create", "--email", "b@example.org", "--role", "admin", "--password-stdin",
                   stdin="short\n")  # fmt: skip
    assert short.returncode != 0 and "at least 12 characters" in short.stderr
    mayor = mapper(cli_env, "user", "create", "--email", "c@example.org", "--role", "mayor", "--password-stdin",
                   stdin=PASSWORD + "\n")  # fmt: skip
    assert mayor.returncode != 0 and "unknown role 'mayor'" in mayor.stderr
    listed = mapper(cli_env, "user", "list")
    assert listed.returncode == 0 and re.search(r"ana@example.org\s+moderator\s+active", listed.stdout)
    assert "b@example.org" not in listed.stdout and "c@example.org" not in listed.stdout
    assert mapper(cli_env, "user", "disable", "ANA@example.org").returncode == 0
    assert re.search(r"ana@example.org\s+moderator\s+disabled", mapper(cli_env, "user", "list").stdout)
    assert mapper(cli_env, "user", "disable", "nobody@example.org").returncode != 0


def test_sign_in_and_out_over_http(live_server, police):
    anonymous = requests.get(f"{live_server}/staff", headers={"Accept": "text/html"}, allow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["Location"].endswith("/staff/login?next=/staff")
    assert requests.get(f"{live_server}/staff").status_code == 401  # API clients get the problem

    s = requests.Session()
    before = form_token(s, live_server)
    cookie_before = s.cookies["session"]
    r = s.post(f"{live_server}/staff/login", data={"csrf_token": before, "email": police, "password": PASSWORD},
               allow_redirects=False)  # fmt: skip
    assert r.status_code == 303 and r.headers["Location"] == "/staff"
    set_cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie and "Secure" not in set_cookie
    assert s.cookies["session"] != cookie_before  # a new session
    page = s.get(f"{live_server}/staff")
    assert page.status_code == 200 and "officer@example.org" in page.text.lower() and ">police<" in page.text
    assert "no-store" in page.headers["Cache-Control"]
    assert 'id="nav-staff">Officer@Example.org<' in s.get(f"{live_server}/").text

    # session fixation: the token of the session before signing in is worthless now
    stale = s.post(f"{live_server}/staff/logout", data={"csrf_token": before}, allow_redirects=False)
    assert stale.status_code == 400
    out = s.post(f"{live_server}/staff/logout", data={"csrf_token": TOKEN.search(page.text)[1]},
                 allow_redirects=False)  # fmt: skip
    assert out.status_code == 303 and out.headers["Location"] == "/staff/login"
    assert s.get(f"{live_server}/staff").status_code == 401
    assert "Staff sign-in" in s.get(f"{live_server}/").text


def test_every_refusal_reads_the_same(live_server, police, engine):
    create_user(engine, "gone@example.org", "health", PASSWORD)
    disable_user(engine, "gone@example.org")
    answers = [
        sign_in(live_server, police, "wrong password!!")[1],
        sign_in(live_server, "nobody@example.org")[1],
        sign_in(live_server, "gone@example.org")[1],
    ]
    assert {r.status_code for r in answers} == {401}
    for r in answers:
        assert "Wrong e-mail or password." in r.text
    assert len({re.sub(r'value="[^"]*"', "", r.text) for r in answers[1:]}) == 1


def test_a_disabled_account_is_signed_out_on_its_next_request(live_server, police, engine):
    s, r = sign_in(live_server, police)
    assert r.status_code == 303 and s.get(f"{live_server}/staff").status_code == 200
    disable_user(engine, police)
    assert s.get(f"{live_server}/staff").status_code == 401


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/", "/\\evil.example", "http:/evil", "javascript:alert(1)"]
)
def test_next_goes_only_to_this_site(live_server, police, target):
    _, r = sign_in(live_server, police, next=target)
    assert r.status_code == 303 and r.headers["Location"] == "/staff"


def test_next_to_a_local_page_is_followed(live_server, police):
    _, r = sign_in(live_server, police, next="/ogc/collections/crime/items?limit=5")
    assert r.status_code == 303 and r.headers["Location"] == "/ogc/collections/crime/items?limit=5"


def test_a_signed_in_user_sees_what_a_token_of_the_role_sees(live_server, police, engine, client):
    r = client.post("/api/layers/crime/reports", json=crime(-83.001234, 39.961234))
    assert r.status_code == 201
    publish(client.application, r.get_json()["id"])
    create_user(engine, "nurse@example.org", "health", PASSWORD)
    items = f"{live_server}/ogc/collections/crime/items"
    token = {"Authorization": f"Bearer {create_api_token(engine, 'police', 'signin-test')}"}
    by_token = requests.get(items, headers=token)
    officer, _ = sign_in(live_server, police)
    by_session = officer.get(items)
    assert by_session.status_code == 200 and by_session.json()["features"] == by_token.json()["features"]
    assert by_session.json()["features"][0]["geometry"]["coordinates"] == [-83.001234, 39.961234]
    assert "private" in by_session.headers["Cache-Control"]
    nurse, _ = sign_in(live_server, "nurse@example.org")
    public = requests.get(items).json()["features"]
    assert nurse.get(items).json()["features"] == public
    assert public[0]["geometry"]["coordinates"] != [-83.001234, 39.961234]
    # a bad token is still refused, session or not
    assert officer.get(items, headers={"Authorization": "Bearer cm_nope"}).status_code == 401


def test_a_cross_site_post_without_the_token_is_refused(live_server, police):
    officer, _ = sign_in(live_server, police)
    r = officer.post(f"{live_server}/staff/logout", headers={"Origin": "https://evil.example"}, allow_redirects=False)
    assert r.status_code == 400 and "CSRF" in r.text
    assert officer.get(f"{live_server}/staff").status_code == 200  # still signed in
    r = requests.post(f"{live_server}/staff/login", data={"email": police, "password": PASSWORD},
                      headers={"Accept": "application/json"}, allow_redirects=False)  # fmt: skip
    assert r.status_code == 400 and r.headers["Content-Type"] == "application/problem+json"
    assert r.json()["errors"][0]["field"] == "csrf_token"


def test_every_unsafe_route_is_csrf_protected_or_explicitly_exempt(app, client, engine):
    """Walk the URL map: an unsafe request with a signed-in session but no token is refused, unless the route's
    blueprint is in ``web.csrf.EXEMPT`` (the Bearer-token JSON API), where the session lends no role."""
    create_user(engine, "root@example.org", "admin", PASSWORD)
    page = client.get("/staff/login").get_data(as_text=True)
    r = client.post("/staff/login", data={"csrf_token": TOKEN.search(page)[1], "email": "root@example.org",
                                          "password": PASSWORD})  # fmt: skip
    assert r.status_code == 303
    seen = set()
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods & set(csrf.UNSAFE_METHODS)):
            url = re.sub(
                r"<(?:[^:<>]+:)?([^<>]+)>", lambda m: "1" if "id" in m[1] or m[1] == "position" else "crime", rule.rule
            )
            r = client.open(url, method=method, json={})
            where = f"{method} {url}: {r.status_code}"
            if csrf.exempt_endpoint(rule.endpoint):
                if rule.endpoint not in ("intake.create_report", "intake.report_feedback"):  # open to anyone (the
                    # feedback's key is the tracking token in its address); the others need a role
                    assert r.status_code == 401, where  # the admin's session counts for nothing here
            else:
                assert r.status_code == 400 and "CSRF token" in r.get_data(as_text=True), where
            seen.add(rule.endpoint)
    assert {"signin.login_post", "signin.logout", "scores.run_scores", "intake.create_report"} <= seen


def test_the_session_cookie_is_secure_behind_https(database_url, clean):
    https = {"PUBLIC_URL": "https://map.example.city", "TRUSTED_HOSTS": ["map.example.city"]}
    app = create_app({"DATABASE_URL": database_url, "TILES_URL": "", "SECRET_KEY": "t", **https})
    assert app.config["SESSION_COOKIE_SECURE"] is True
    r = app.test_client().get("/staff/login", base_url="https://map.example.city")
    assert "Secure" in r.headers["Set-Cookie"] and "HttpOnly" in r.headers["Set-Cookie"]
    plain = create_app({"DATABASE_URL": database_url, "TILES_URL": "", "SECRET_KEY": "t"})
    assert plain.config["SESSION_COOKIE_SECURE"] is False
    for a in (app, plain):
        a.extensions["mapper.engine"].dispose()


def test_sign_in_attempts_are_rate_limited(database_url, tmp_path, police):
    with granian(database_url, tmp_path, workers=1, RATELIMIT_LOGIN='"3 per minute"') as server:
        answers = [sign_in(server.url, police, "wrong password!!")[1] for _ in range(4)]
    assert [r.status_code for r in answers] == [401, 401, 401, 429]
    assert int(answers[-1].headers["Retry-After"]) >= 1
