"""The staff queue (services.staff_queue, web.staff_queue) and duplicates (services.duplicates) on the real
database and over HTTP: who sees which reports, filters, order and pages, bulk transitions, CSRF, hostile text
escaped, the access log written before private data is shown, duplicate suggestions and merges."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import text

from mapper.domain.errors import Conflict, NotFound, ValidationFailed
from mapper.services import duplicates, lifecycle, scoring, staff_queue
from mapper.services.staff import create_user
from mapper.services.tokens import create_api_token
from tests.conftest import count

PASSWORD = "correct horse battery"
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'
X, Y = -83.0, 39.96
METRE = 1 / 111_320  # ~a metre of latitude, in degrees


def crime(client, x=X, y=Y, category="theft", when="2026-11-01T21:30:00Z", **private) -> int:
    body = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [x, y]},
        "properties": {"category": category, "severity": 2, "occurred_at": when, **private},
    }
    r = client.post("/api/layers/crime/reports", json=body)
    assert r.status_code == 201, r.get_json()
    return r.get_json()["id"]


def water(client, name="Kiosk", x=X, y=Y, **props) -> int:
    body = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [x, y]},
        "properties": {"point_name": name, "source_type": "borehole", "functional_status": "functional", **props},
    }
    r = client.post("/api/layers/water_quality/reports", json=body)
    assert r.status_code == 201, r.get_json()
    return r.get_json()["id"]


def sign_in(client, engine, role: str) -> None:
    email = f"{role}@example.org"
    create_user(engine, email, role, PASSWORD)
    page = client.get("/staff/login").get_data(as_text=True)
    r = client.post("/staff/login", data={"csrf_token": TOKEN.search(page)[1], "email": email, "password": PASSWORD})
    assert r.status_code == 303


def form_token(client, path: str) -> str:
    r = client.get(path)
    assert r.status_code == 200, r.get_data(as_text=True)
    return TOKEN.search(r.get_data(as_text=True))[1]


def queue_ids(engine, registry, role, **args) -> list[int]:
    from werkzeug.datastructures import MultiDict

    chosen = staff_queue.parse_filter(MultiDict(args), registry)
    return [i["id"] for i in staff_queue.queue(engine, registry, role, chosen)["items"]]


def actor(role: str) -> lifecycle.Actor:
    return lifecycle.Actor(f"user:{role}", role)


# --- the queue: who sees what -----------------------------------------------------------------------------------
def test_each_role_sees_the_reports_it_may_act_on(client, engine, registry):
    c, w = crime(client), water(client)
    assert queue_ids(engine, registry, "police") == [c]  # police act on crime (and urban life), not water
    assert queue_ids(engine, registry, "utility") == [w]
    assert queue_ids(engine, registry, "admin") == [c, w]
    assert queue_ids(engine, registry, "moderator") == [c, w]  # both wait for moderation (submitted)
    lifecycle.transition(engine, registry, w, {"to": "verified"}, actor("utility"))
    assert queue_ids(engine, registry, "moderator") == [c]  # no longer waiting
    assert queue_ids(engine, registry, "utility") == [w]  # still open for the team
    assert queue_ids(engine, registry, "health") == []


def test_filters_order_and_pages(client, engine, registry):
    ids = [crime(client, x=X + i * 0.01) for i in range(3)]
    with engine.begin() as conn:  # received on three different days, the newest first
        for days, rid in zip((1, 10, 20), ids, strict=True):
            conn.execute(text("UPDATE reports SET created_at = now() - make_interval(days => :d) WHERE id = :i"),
                         {"d": days, "i": rid})  # fmt: skip
    assert queue_ids(engine, registry, "police") == ids[::-1]  # oldest first
    lifecycle.transition(engine, registry, ids[0], {"to": "verified"}, actor("police"))
    assert queue_ids(engine, registry, "police", status="verified") == [ids[0]]
    assert set(queue_ids(engine, registry, "police", status=["verified", "submitted"])) == set(ids)
    # an area: a box around the second report only (the police see crime exactly)
    x1 = X + 0.01
    assert queue_ids(engine, registry, "police", bbox=f"{x1 - 0.001},{Y - 0.001},{x1 + 0.001},{Y + 0.001}") == [ids[1]]
    # dates: received 15 to 5 days ago
    import datetime as dt

    today = dt.datetime.now(dt.UTC).date()
    span = {"created_from": str(today - dt.timedelta(days=15)), "created_to": str(today - dt.timedelta(days=5))}
    assert queue_ids(engine, registry, "police", **span) == [ids[1]]
    assert queue_ids(engine, registry, "police", layer="urban_life") == []
    # pages of 50, with the count
    more = [water(client, f"K{i}") for i in range(53)]
    first = staff_queue.queue(engine, registry, "utility", staff_queue.QueueFilter())
    second = staff_queue.queue(engine, registry, "utility", staff_queue.QueueFilter(page=2))
    assert first["count"] == second["count"] == 53 and first["pages"] == 2
    assert [i["id"] for i in first["items"] + second["items"]] == more
    beyond = staff_queue.queue(engine, registry, "utility", staff_queue.QueueFilter(page=3))
    assert beyond["items"] == [] and beyond["count"] == 53


def test_bad_filters_are_refused_naming_each_field(registry):
    from werkzeug.datastructures import MultiDict

    bad = MultiDict(
        [("layer", "nope"), ("status", "open"), ("bbox", "1,2,3"), ("created_from", "yesterday"), ("page", "0")]
    )
    with pytest.raises(ValidationFailed) as refused:
        staff_queue.parse_filter(bad, registry)
    assert {p.field for p in refused.value.problems} == {"layer", "status", "bbox", "created_from", "page"}
    for args in ({"bbox": "0,50,1,40"}, {"bbox": "nan,0,1,1"}, {"bbox": "0,0,1,1", "district": "Centre"},
                 {"created_from": "2026-02-01", "created_to": "2026-01-01"}, {"page": "٣"}):  # fmt: skip
        with pytest.raises(ValidationFailed):
            staff_queue.parse_filter(MultiDict(args), registry)


def test_a_bbox_across_the_antimeridian_and_a_district(client, engine, registry):
    east, west = water(client, x=179.5, y=0.5), water(client, x=-179.5, y=0.5)
    water(client, x=10, y=0.5)
    assert queue_ids(engine, registry, "utility", bbox="179,0,-179,1") == [east, west]
    # districts come from the land-use score run (derived_features "land_use-districts")
    inside = water(client, x=X + 0.001, y=Y + 0.001)
    ring = [[X, Y], [X + 0.004, Y], [X + 0.004, Y + 0.004], [X, Y + 0.004], [X, Y]]
    props = {"land_class": "green_space", "district": "Centre", "area_m2": 100, "population": 3}
    parcel = {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]}, "properties": props}
    assert client.post("/api/layers/land_use/reports", json=parcel).status_code == 201
    scoring.run_land_use(engine, registry.get("land_use"))
    assert queue_ids(engine, registry, "utility", district="Centre") == [inside]
    with pytest.raises(ValidationFailed, match="not valid") as refused:
        queue_ids(engine, registry, "utility", district="Atlantis")
    assert refused.value.problems[0].field == "district"


# --- over HTTP ----------------------------------------------------------------------------------------------------
def test_anonymous_browsers_are_sent_to_sign_in_and_api_callers_refused(client):
    r = client.get("/staff/queue", headers={"Accept": "text/html"})
    assert r.status_code == 303 and r.headers["Location"].startswith("/staff/login?next=/staff/queue")
    assert client.get("/staff/reports/1", headers={"Accept": "text/html"}).status_code == 303
    r = client.post("/staff/queue", data={"to": "verified", "report": "1"})
    assert r.status_code == 401 and r.get_json()["errors"][0]["field"] == "Authorization"
    assert client.get("/api/reports/1/duplicates").status_code == 401
    assert client.post("/api/reports/1/merge", json={"into": 2}).status_code == 401


def test_the_queue_page_lists_filters_and_refuses_bad_filters_readably(client, engine):
    c, w = crime(client), water(client)
    sign_in(client, engine, "police")
    page = client.get("/staff/queue").get_data(as_text=True)
    assert f'data-report="{c}"' in page and f'data-report="{w}"' not in page
    r = client.get("/staff/queue?bbox=1,2,3&created_to=soon")
    body = r.get_data(as_text=True)
    assert r.status_code == 422 and 'role="alert"' in body and "bbox" in body and "created_to" in body
    # a report of another team is no report at all
    r = client.get(f"/staff/reports/{w}")
    assert r.status_code == 404 and "No report" in r.get_data(as_text=True)
    assert client.get("/staff").get_data(as_text=True).count('href="/staff/queue"') == 1


def test_bulk_transition_reports_what_succeeded_and_what_was_refused(client, engine, registry):
    a, b, done = crime(client), crime(client), crime(client)
    lifecycle.transition(engine, registry, done, {"to": "verified"}, actor("police"))
    lifecycle.transition(engine, registry, done, {"to": "rejected", "reason": "spam"}, actor("police"))
    sign_in(client, engine, "police")
    token = form_token(client, "/staff/queue")
    form = {"csrf_token": token, "to": "verified", "comment": "Checked", "note": "patrol 7",
            "report": [str(a), str(b), str(done)]}  # fmt: skip
    r = client.post("/staff/queue", data=form)
    page = r.get_data(as_text=True)
    assert r.status_code == 200, page
    done_list = re.search(r'<ul id="bulk-done">(.*?)</ul>', page, re.S)[1]
    refused_list = re.search(r'<ul id="bulk-refused">(.*?)</ul>', page, re.S)[1]
    assert f"#{a}" in done_list and f"#{b}" in done_list and f"#{done}" in refused_list
    assert "cannot become verified" in refused_list
    last = lifecycle.history(engine, registry, a, "police")["history"][-1]
    assert last["comment"] == "Checked" and last["note"] == "patrol 7" and last["by"].startswith("user:")
    # without the token: refused, nothing changes
    r = client.post("/staff/queue", data={**form, "csrf_token": "", "to": "in_progress", "comment": None})
    assert r.status_code == 400 and "CSRF token" in r.get_data(as_text=True)
    assert count(engine, where="status = 'in_progress'") == 0
    # nothing chosen, or no status: the page says so
    r = client.post("/staff/queue", data={"csrf_token": token, "to": "verified"})
    assert r.status_code == 422 and "Choose at least one report" in r.get_data(as_text=True)


def test_hostile_strings_are_escaped_on_both_pages(client, engine, registry):
    rid = crime(client, description=HOSTILE, reporter_name=HOSTILE, reporter_email="a@example.org")
    lifecycle.transition(engine, registry, rid, {"to": "verified", "comment": HOSTILE, "note": HOSTILE},
                         actor("police"))  # fmt: skip
    sign_in(client, engine, "police")
    for path in ("/staff/queue?status=verified", f"/staff/reports/{rid}"):
        page = client.get(path).get_data(as_text=True)
        assert "<script>alert" not in page and "<img src=x" not in page, path
    page = client.get(f"/staff/reports/{rid}").get_data(as_text=True)
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    assert page.count("&lt;img src=x onerror=alert(1)&gt;") == 4  # description, name, comment, note


# --- the detail page and the access log ---------------------------------------------------------------------------
def access_log(engine) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text("SELECT actor, actor_role, report_id, layer, what, route "
                                                    "FROM access_log ORDER BY id"))]  # fmt: skip


def test_police_see_the_exact_location_and_contact_and_each_look_is_logged(client, engine):
    x, y = X + 0.0012345, Y + 0.0023456
    rid = crime(client, x=x, y=y, reporter_name="Ana Testigo", reporter_phone="+1 555 0100")
    plain = crime(client)
    sign_in(client, engine, "police")
    page = client.get(f"/staff/reports/{rid}").get_data(as_text=True)
    assert f"{y:.7f}".rstrip("0") in page and f"{x:.7f}".rstrip("0") in page
    assert "Ana Testigo" in page and "+1 555 0100" in page
    (who, role, report, layer, what, route), (_, _, _, _, what2, _) = access_log(engine)
    assert who.startswith("user:") and role == "police" and report == rid and layer == "crime"
    assert {what, what2} == {"contact", "exact_location"} and route == "/staff/reports/<int:report_id>"
    client.get(f"/staff/reports/{plain}")  # no contact given: only the exact location is logged
    assert [r[4] for r in access_log(engine) if r[2] == plain] == ["exact_location"]


def test_a_moderator_sees_the_published_point_and_no_contact_and_nothing_is_logged(client, engine):
    rid = crime(client, x=X + 0.0012345, y=Y + 0.0023456, reporter_name="Ana Testigo")
    sign_in(client, engine, "moderator")
    page = client.get(f"/staff/reports/{rid}").get_data(as_text=True)
    assert "Ana Testigo" not in page and "39.9623456" not in page and "generalised to 250 m" in page
    assert access_log(engine) == []


def test_a_utility_look_at_a_water_report_logs_the_contact_only(client, engine):
    rid = water(client, reporter_email="k@example.org")
    sign_in(client, engine, "utility")
    assert "k@example.org" in client.get(f"/staff/reports/{rid}").get_data(as_text=True)
    assert [r[4] for r in access_log(engine)] == ["contact"]  # water locations are public: exact for everyone


# --- duplicates ---------------------------------------------------------------------------------------------------
def test_duplicates_within_250_m_and_30_days_of_the_same_category(client, engine, registry):
    me = crime(client, when="2026-11-01T21:30:00Z")
    near = crime(client, y=Y + 200 * METRE, when="2026-11-20T10:00:00Z")
    nearer = crime(client, y=Y + 50 * METRE, when="2026-10-05T10:00:00Z")
    crime(client, y=Y + 300 * METRE)  # too far
    crime(client, when="2026-12-05T10:00:00Z")  # too late (34 days)
    crime(client, category="assault")  # another category
    water(client)  # another layer
    gone = crime(client)
    lifecycle.transition(engine, registry, gone, {"to": "hidden"}, actor("moderator"))
    found = duplicates.suggestions(engine, registry, me, "police")
    assert [s["id"] for s in found["suggestions"]] == [nearer, near]
    assert 45 < found["suggestions"][0]["distance_m"] < 55 and found["same"] == "category"
    # moderators see them too, without distances (they would say more than the public map)
    assert all("distance_m" not in s for s in duplicates.suggestions(engine, registry, me, "moderator")["suggestions"])
    with pytest.raises(NotFound):
        duplicates.suggestions(engine, registry, me, "utility")


def test_merge_rejects_as_duplicate_and_links_and_refuses_what_it_must(client, engine, registry):
    into, dup, other, third = crime(client), crime(client), crime(client), crime(client)
    police = actor("police")
    done = duplicates.merge(engine, registry, dup, into, police, "Same theft as the other report")
    assert done["status"] == "rejected" and done["duplicate_of"] == into
    last = lifecycle.history(engine, registry, dup, "police")["history"][-1]
    assert last["reason"] == "duplicate" and last["comment"] == "Same theft as the other report"
    assert count(engine, where=f"id = {dup} AND duplicate_of = {into}") == 1
    with pytest.raises(Conflict):  # rejected is final: merged once only
        duplicates.merge(engine, registry, dup, other, police)
    with pytest.raises(Conflict, match="rejected"):  # not into a duplicate (rejected)
        duplicates.merge(engine, registry, other, dup, police)
    with pytest.raises(ValidationFailed):
        duplicates.merge(engine, registry, other, other, police)
    with pytest.raises(ValidationFailed, match="its own layer"):
        duplicates.merge(engine, registry, other, water(client), police)
    # a chain that would come back here is refused, even where the statuses allowed it
    with engine.begin() as conn:
        conn.execute(text("UPDATE reports SET duplicate_of = :o WHERE id = :t"), {"o": other, "t": third})
    with pytest.raises(Conflict, match="itself a duplicate"):
        duplicates.merge(engine, registry, other, third, police)
    assert count(engine, where=f"id = {other} AND status = 'submitted' AND duplicate_of IS NULL") == 1


def test_duplicates_and_merge_over_the_api(client, engine):
    into, dup = crime(client), crime(client, y=Y + 10 * METRE)
    police = {"Authorization": f"Bearer {create_api_token(engine, 'police', 'q')}"}
    utility = {"Authorization": f"Bearer {create_api_token(engine, 'utility', 'q')}"}
    r = client.get(f"/api/reports/{dup}/duplicates", headers=police)
    assert r.status_code == 200 and [s["id"] for s in r.get_json()["suggestions"]] == [into]
    assert client.get(f"/api/reports/{dup}/duplicates", headers=utility).status_code == 404
    r = client.post(f"/api/reports/{dup}/merge", json={"into": "two"}, headers=police)
    assert r.status_code == 422 and r.content_type == "application/problem+json"
    r = client.post(f"/api/reports/{dup}/merge", json={"into": into, "colour": 1}, headers=police)
    assert r.status_code == 422
    r = client.post(f"/api/reports/{dup}/merge", json={"into": into, "comment": "same"}, headers=police)
    assert r.status_code == 200 and r.get_json()["duplicate_of"] == into
    r = client.post(f"/api/reports/{dup}/merge", json={"into": into}, headers=police)
    assert r.status_code == 409 and r.get_json()["errors"][0]["field"] == "to"
