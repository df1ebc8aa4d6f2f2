"""The access log: staff reads of exact sensitive locations and private fields recorded once per request
(OGC items and item, tiles, exports, map counts) by the database's append-only table; the public records
nothing; admins read it at /staff/access-log (HTML, CSV) and with `mapper audit`."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from mapper.services import access_log, lifecycle
from mapper.services.staff import create_user
from mapper.services.tokens import create_api_token
from tests.conftest import count

CRIME = {
    "type": "Feature",
    "geometry": {"type": "Point", "coordinates": [-83.0012345, 39.9612345]},
    "properties": {"category": "theft", "severity": 2, "occurred_at": "2026-11-01T21:30:00Z",
                   "description": "bike stolen"},
}  # fmt: skip
URBAN = {
    "type": "Feature",
    "geometry": {"type": "Point", "coordinates": [-83.01, 39.97]},
    "properties": {"sentiment": "positive", "theme": "greenery", "rating": 4},
}
PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def submit(client, layer: str, feature: dict) -> int:
    r = client.post(f"/api/layers/{layer}/reports", json=feature)
    assert r.status_code == 201, r.get_json()
    return r.get_json()["id"]


def published_crime(client, engine, registry) -> int:
    rid = submit(client, "crime", CRIME)
    lifecycle.transition(engine, registry, rid, {"to": "verified"}, lifecycle.Actor("user:99", "moderator"))
    return rid


def bearer(engine, role: str) -> tuple[dict, str]:
    token = create_api_token(engine, role, "access-log-test")
    return {"Authorization": f"Bearer {token}"}, token


def log_rows(engine) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(text("SELECT * FROM access_log ORDER BY id")).mappings()]


def test_a_police_token_reading_crime_items_is_recorded_once_and_the_public_is_not(client, engine, registry):
    rid = published_crime(client, engine, registry)
    police, token = bearer(engine, "police")
    r = client.get("/ogc/collections/crime/items?limit=5", headers=police)
    assert r.status_code == 200 and r.get_json()["features"][0]["properties"]["description"] == "bike stolen"
    rows = log_rows(engine)
    assert {row["what"] for row in rows} == {"exact_location", "contact"} and len(rows) == 2
    for row in rows:
        assert row["actor"].startswith("token:") and token not in row["actor"] and row["actor_role"] == "police"
        assert row["layer"] == "crime" and row["report_id"] is None
        assert row["route"] == "/ogc/collections/crime/items?limit=5"
    with engine.connect() as conn:
        assert conn.execute(text("SELECT bool_and(at > now() - interval '1 minute') FROM access_log")).scalar()

    for url in ("/ogc/collections/crime/items?limit=5", f"/ogc/collections/crime/items/{rid}",
                "/tiles/crime/0/0/0.mvt", "/export/crime.csv"):  # fmt: skip
        assert client.get(url).status_code == 200, url  # the public: generalised, public fields only
    assert count(engine, "access_log") == 2


def test_every_exact_read_route_records_one_request(client, engine, registry):
    rid = published_crime(client, engine, registry)
    police, token = bearer(engine, "police")
    single = client.get(f"/ogc/collections/crime/items/{rid}", headers=police)
    assert single.status_code == 200
    assert [(r["report_id"], r["what"]) for r in log_rows(engine)] == [(rid, "exact_location"), (rid, "contact")]

    reads = {
        "/tiles/crime/0/0/0.mvt": {"exact_location", "contact"},
        "/export/crime.geojson?bbox=-84,39,-82,41": {"exact_location", "contact"},
        "/ogc/collections/crime/items?f=html": {"exact_location", "contact"},
        "/api/maps/crime/counts?bbox=-84,39,-82,41&zoom=12": {"exact_location"},  # counts carry no fields
    }
    for url, seen in reads.items():
        before = count(engine, "access_log")
        r = client.get(url, headers=police)
        assert r.status_code == 200, (url, r.status_code)
        r.get_data()
        rows = log_rows(engine)[before:]
        assert {row["what"] for row in rows} == seen and len(rows) == len(seen), url
        assert {row["route"] for row in rows} == {url} and {row["report_id"] for row in rows} == {None}, url

    before = count(engine, "access_log")
    assert client.get("/ogc/collections/crime/items/999999", headers=police).status_code == 404
    assert client.get("/ogc/collections/crime/items?limit=nope", headers=police).status_code == 400
    assert client.get("/ogc/collections/crime", headers=police).status_code == 200  # metadata: no report seen
    assert count(engine, "access_log") == before
    with engine.connect() as conn:
        assert (
            conn.execute(text("SELECT count(*) FROM access_log WHERE strpos(route, :t) > 0"), {"t": token}).scalar()
            == 0
        )


def test_exact_layers_record_contact_reads_only_and_other_roles_nothing(client, engine):
    submit(client, "urban_life", URBAN)  # precision 0: exact for everyone, private fields for its audiences
    police, _ = bearer(engine, "police")
    assert client.get("/ogc/collections/urban_life/items", headers=police).status_code == 200
    assert [r["what"] for r in log_rows(engine)] == ["contact"]
    assert client.get("/api/maps/urban_life/counts?bbox=-84,39,-82,41&zoom=12", headers=police).status_code == 200
    utility, _ = bearer(engine, "utility")  # crime and urban life through the public view
    assert client.get("/ogc/collections/crime/items", headers=utility).status_code == 200
    assert client.get("/ogc/collections/urban_life/items", headers=utility).status_code == 200
    assert client.get("/ogc/collections/urban_life/items").status_code == 200
    assert count(engine, "access_log") == 1


def test_a_signed_in_officer_is_recorded_as_their_account(client, engine, registry):
    published_crime(client, engine, registry)
    create_user(engine, "officer@example.org", "police", PASSWORD)
    page = client.get("/staff/login").get_data(as_text=True)
    r = client.post("/staff/login", data={"csrf_token": CSRF.search(page)[1], "email": "officer@example.org",
                                          "password": PASSWORD})  # fmt: skip
    assert r.status_code == 303
    assert client.get("/ogc/collections/crime/items").status_code == 200
    (user_id,) = [r["actor"] for r in log_rows(engine) if r["what"] == "exact_location"]
    assert re.fullmatch(r"user:\d+", user_id)
    rows, _ = access_log.read_log(engine, access_log.parse_filter({"actor": "Officer@Example.org"}))
    assert {r["email"] for r in rows} == {"officer@example.org"} and len(rows) == 2


def test_the_route_keeps_no_credential(app):
    with app.test_request_context(
        "/ogc/collections/crime/items?limit=5&access_token=abc&api_key=def&x=cm_secret1&bbox=1,2,3,4",
        headers={"Authorization": "Bearer cm_secret1"},
    ):
        from mapper.web.audit import route_of

        assert route_of() == "/ogc/collections/crime/items?limit=5&bbox=1,2,3,4"


def test_the_database_refuses_to_change_or_delete_entries(client, engine):
    with engine.begin() as conn:
        access_log.store.record(conn, actor="token:ab", role="police", layer="crime", what="contact",
                                route="/x", report_id=None)  # fmt: skip
    for statement in ("UPDATE access_log SET actor = 'nobody'", "DELETE FROM access_log"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    assert [r["actor"] for r in log_rows(engine)] == ["token:ab"]


def hostile_entries(engine) -> None:
    with engine.begin() as conn:
        for i, (layer, report) in enumerate([("crime", 7), ("crime", None), ("health_centres", 8)]):
            access_log.store.record(conn, actor=f"token:0{i}", role="police", layer=layer, what="exact_location",
                                    route=f"/ogc/x?q=<script>alert({i})</script>", report_id=report)  # fmt: skip


def test_admins_read_the_log_newest_first_filtered_and_escaped(client, engine):
    hostile_entries(engine)
    admin, _ = bearer(engine, "admin")
    r = client.get("/staff/access-log", headers=admin)
    assert r.status_code == 200 and r.content_type.startswith("text/html") and "no-store" in r.headers["Cache-Control"]
    page = r.get_data(as_text=True)
    assert "<script>alert" not in page and "&lt;script&gt;alert(2)" in page
    assert page.index("token:02") < page.index("token:01") < page.index("token:00")  # newest first
    only = client.get("/staff/access-log?report=7&layer=crime", headers=admin).get_data(as_text=True)
    assert "token:00" in only and "token:01" not in only and "token:02" not in only
    today = client.get("/staff/access-log?since=2000-01-01&until=2000-01-02", headers=admin).get_data(as_text=True)
    assert 'id="log-empty"' in today
    bad = client.get("/staff/access-log?report=x&since=yesterday", headers=admin)
    assert bad.status_code == 400 and {e["field"] for e in bad.get_json()["errors"]} == {"report", "since"}

    sheet = client.get("/staff/access-log.csv?layer=crime", headers=admin)
    assert sheet.status_code == 200 and sheet.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(sheet.get_data(as_text=True))))
    assert [r["actor"] for r in rows] == ["token:01", "token:00"] and rows[1]["report_id"] == "7"


def test_the_log_is_paged(client, engine):
    with engine.begin() as conn:
        for i in range(access_log.PAGE_SIZE + 3):
            access_log.store.record(conn, actor=f"token:{i:04}", role="admin", layer="crime", what="contact",
                                    route="/r", report_id=i)  # fmt: skip
    admin, _ = bearer(engine, "admin")
    first = client.get("/staff/access-log", headers=admin).get_data(as_text=True)
    assert 'rel="next"' in first and 'rel="prev"' not in first
    second = client.get("/staff/access-log?page=2", headers=admin).get_data(as_text=True)
    assert second.count("<time ") == 3 and 'rel="prev"' in second and 'rel="next"' not in second


@pytest.mark.parametrize("role", ["police", "moderator", "health", "planner", "utility"])
def test_only_admins_read_the_log(client, engine, role):
    headers, _ = bearer(engine, role)
    for url in ("/staff/access-log", "/staff/access-log.csv"):
        r = client.get(url, headers=headers)
        assert r.status_code == 403 and r.content_type == "application/problem+json"
        assert client.get(url).status_code == 401


def test_the_staff_page_links_the_log_for_admins_only(client, engine):
    for email, role in (("root@example.org", "admin"), ("cop@example.org", "police")):
        create_user(engine, email, role, PASSWORD)
        c = client.application.test_client()
        page = c.get("/staff/login").get_data(as_text=True)
        c.post("/staff/login", data={"csrf_token": CSRF.search(page)[1], "email": email, "password": PASSWORD})
        staff = c.get("/staff").get_data(as_text=True)
        assert ('id="staff-access-log"' in staff) == (role == "admin"), role
        assert c.get("/staff/access-log").status_code == (200 if role == "admin" else 403)


def test_mapper_audit_prints_the_log(client, engine, cli_env):
    hostile_entries(engine)

    def audit(*args):
        done = subprocess.run(["mapper", "audit", *args], env=cli_env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout.splitlines()

    lines = audit()
    assert [line.split()[2] for line in lines] == ["token:02", "token:01", "token:00"]
    assert "report 7" in lines[2] and "report many" in lines[1]
    parsed = [json.loads(line) for line in audit("--json", "--report", "7")]
    assert [(p["actor"], p["report_id"], p["what"]) for p in parsed] == [("token:00", 7, "exact_location")]
    assert audit("--since", "2999-01-01") == [] and [
        json.loads(x)["actor"] for x in audit("--json", "--actor", "token:01")
    ] == ["token:01"]
    refused = subprocess.run(["mapper", "audit", "--since", "soon"], env=cli_env, capture_output=True, text=True)
    assert refused.returncode != 0 and "since" in refused.stderr
