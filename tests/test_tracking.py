"""The reporter's side through the tracking token: what they sent, the status and public comments, their word
once it is resolved (confirm; dispute reopens and is shown to staff), and a merged duplicate following its target.
Real PostGIS, the app's own HTTP routes (the page's form with its CSRF token)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import text

from mapper.services.tokens import create_api_token

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
HOSTILE = '<img src=x onerror="alert(1)">'


def urban(description=HOSTILE, email="ana@example.org"):
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [-83.00123, 39.96123]},
        "properties": {"sentiment": "negative", "theme": "lighting", "comment": description, "reporter_email": email},
    }


@pytest.fixture
def planner(engine):
    return {"Authorization": f"Bearer {create_api_token(engine, 'planner', 'tracking-test')}"}


def made(client):
    r = client.post("/api/layers/urban_life/reports", json=urban())
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def move(client, rid, headers, *steps):
    for to in steps:
        r = client.post(f"/api/reports/{rid}/transitions", json={"to": to, "comment": f"now {to}"}, headers=headers)
        assert r.status_code == 200, r.get_json()


def test_the_tracking_json_and_page_show_what_the_reporter_sent_escaped(client):
    report = made(client)
    doc = client.get(report["tracking_url"]).get_json()
    assert doc["report"]["properties"]["comment"] == HOSTILE
    assert doc["report"]["properties"]["reporter_email"] == "ana@example.org"  # theirs: they sent it
    assert doc["report"]["geometry"]["coordinates"] == [-83.00123, 39.96123]
    assert doc["may_give_feedback"] is False and doc["duplicate_of"] is None
    html = client.get(report["tracking_page"]).get_data(as_text=True)
    assert "&lt;img src=x onerror=" in html and HOSTILE not in html
    assert "39.96123, -83.00123" in html and 'id="track-feedback"' not in html


def test_feedback_is_refused_until_the_report_is_resolved(client, planner):
    report = made(client)
    url = f"/api/reports/{report['tracking_token']}/feedback"
    early = client.post(url, json={"verdict": "confirmed"})
    assert early.status_code == 409 and early.mimetype == "application/problem+json"
    move(client, report["id"], planner, "verified", "in_progress")
    assert client.post(url, json={"verdict": "disputed"}).status_code == 409
    bad = client.post(url, json={"verdict": "maybe"})
    assert bad.status_code == 422 and bad.get_json()["errors"][0]["field"] == "verdict"
    assert client.post(url, json={"verdict": "confirmed", "extra": 1}).status_code == 422
    assert client.post("/api/reports/not-a-token/feedback", json={"verdict": "confirmed"}).status_code == 404


def test_confirming_through_the_page_keeps_it_resolved_and_is_asked_once(client, planner, engine):
    report = made(client)
    move(client, report["id"], planner, "verified", "in_progress", "resolved")
    page = client.get(report["tracking_page"]).get_data(as_text=True)
    assert 'id="track-feedback"' in page
    form = f"{report['tracking_page']}/feedback"
    assert client.post(form, data={"verdict": "confirmed"}).status_code == 400  # no CSRF token: refused
    token = CSRF.search(page).group(1)
    answered = client.post(form, data={"csrf_token": token, "verdict": "confirmed", "comment": "thanks!"})
    assert answered.status_code == 303 and "answered=confirmed" in answered.headers["Location"]
    after = client.get(answered.headers["Location"]).get_data(as_text=True)
    assert 'id="track-answered"' in after and 'id="track-feedback"' not in after
    doc = client.get(report["tracking_url"]).get_json()
    assert doc["status"] == "resolved" and doc["may_give_feedback"] is False
    assert [f["verdict"] for f in doc["feedback"]] == ["confirmed"]
    again = client.post(form, data={"csrf_token": token, "verdict": "disputed"})
    assert again.status_code == 409 and 'id="track-refused"' in again.get_data(as_text=True)
    staff = client.get(f"/api/reports/{report['id']}/history", headers=planner).get_json()
    assert staff["reporter_feedback"][0]["comment"] == "thanks!" and staff["status"] == "resolved"


def test_a_dispute_reopens_the_report_and_staff_see_why(client, planner, engine):
    report = made(client)
    move(client, report["id"], planner, "verified", "resolved")
    url = f"/api/reports/{report['tracking_token']}/feedback"
    r = client.post(url, json={"verdict": "disputed", "comment": "the lamp is still off"})
    assert r.status_code == 200 and r.get_json()["status"] == "reopened"
    staff = client.get(f"/api/reports/{report['id']}/history", headers=planner).get_json()
    last = staff["history"][-1]
    assert (last["from"], last["to"], last["by"], last["role"]) == ("resolved", "reopened", "reporter", None)
    assert "the lamp is still off" in last["note"] and last["comment"] is None
    assert "in_progress" in staff["allowed"]
    page = client.get(f"/staff/reports/{report['id']}", headers=planner).get_data(as_text=True)
    feedback = page[page.index('id="report-feedback"') :]
    assert "disputed" in feedback and "the lamp is still off" in feedback  # shown to staff
    doc = client.get(report["tracking_url"]).get_json()
    assert doc["status"] == "reopened" and "the lamp is still off" not in str(doc["history"])
    # resolved again: the reporter may answer this new resolution
    move(client, report["id"], planner, "resolved")
    assert client.get(report["tracking_url"]).get_json()["may_give_feedback"] is True
    with engine.connect() as conn:
        verdicts = conn.execute(text("SELECT verdict FROM reporter_feedback WHERE report_id = :i"), {"i": report["id"]})
        assert verdicts.scalars().all() == ["disputed"]


def test_a_merged_duplicate_follows_the_report_it_was_merged_into(client, planner, engine):
    target, duplicate = made(client), made(client)
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE reports SET duplicate_of = :t WHERE id = :d"), {"t": target["id"], "d": duplicate["id"]}
        )
    move(client, target["id"], planner, "verified", "in_progress")
    doc = client.get(duplicate["tracking_url"]).get_json()
    assert doc["duplicate_of"]["id"] == target["id"] and doc["duplicate_of"]["status"] == "in_progress"
    assert [h["status"] for h in doc["duplicate_of"]["history"]] == ["submitted", "verified", "in_progress"]
    html = client.get(duplicate["tracking_page"]).get_data(as_text=True)
    assert 'id="track-duplicate"' in html and "now in_progress" in html


def test_the_reporter_sees_the_photos_they_sent_before_the_public_does(client):
    import io
    import json

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 48), (20, 120, 200)).save(out, "JPEG")
    crime = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [-83.0, 39.96]},
        "properties": {"category": "theft", "severity": 2, "occurred_at": "2026-11-20T10:00:00Z"},
    }
    r = client.post(
        "/api/layers/crime/reports",
        data={"feature": json.dumps(crime), "photo": [(io.BytesIO(out.getvalue()), "bike.jpg")]},
        content_type="multipart/form-data",
    )
    assert r.status_code == 201, r.get_json()
    report = r.get_json()
    assert client.get(f"/api/reports/{report['id']}/photos/1").status_code == 404  # unpublished: not public
    assert client.get(report["tracking_url"]).get_json()["photos"] == [1]
    page = client.get(report["tracking_page"]).get_data(as_text=True)
    assert f"{report['tracking_page']}/photos/1/thumbnail" in page
    photo = client.get(f"{report['tracking_page']}/photos/1")
    assert photo.status_code == 200 and photo.mimetype == "image/jpeg"
    assert photo.headers["X-Content-Type-Options"] == "nosniff" and photo.headers["Referrer-Policy"] == "no-referrer"
    assert Image.open(io.BytesIO(client.get(f"{report['tracking_page']}/photos/1/thumbnail").data)).width <= 320
    assert client.get(f"{report['tracking_page']}/photos/2").status_code == 404
    assert client.get("/track/not-a-token/photos/1").status_code == 404
