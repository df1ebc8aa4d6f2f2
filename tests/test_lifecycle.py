"""The report lifecycle: the state machine (domain), a transition with its history entry and the roles that may
make it (service, on the real database), the append-only history (the database's own trigger), and water alert
decisions as transitions."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from mapper.domain import lifecycle as states
from mapper.domain.errors import Conflict, Forbidden, NotFound, ValidationFailed
from mapper.services import alerts, lifecycle
from tests.test_scores import water_report

CRIME = {
    "type": "Feature",
    "geometry": {"type": "Point", "coordinates": [-83.0, 39.96]},
    "properties": {"category": "theft", "severity": 2, "occurred_at": "2026-11-01T21:30:00Z"},
}


# --- the state machine ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("current", states.STATUSES)
@pytest.mark.parametrize("to", states.STATUSES)
def test_every_transition_is_allowed_or_refused_naming_the_allowed_ones(current, to):
    reason = states.REASONS[to][0] if to in states.REASONS else None
    legal = to in states.TRANSITIONS[current] or (to == states.HIDDEN and current != states.HIDDEN)
    if legal:
        states.check_transition(current, to, reason)
    else:
        with pytest.raises(Conflict) as refused:
            states.check_transition(current, to, reason)
        (problem,) = refused.value.problems
        assert problem.field == "to" and all(s in problem.reason for s in states.allowed(current))


def test_reasons_are_asked_for_exactly_where_the_lifecycle_needs_them():
    with pytest.raises(ValidationFailed, match="needs a reason"):
        states.check_transition(states.SUBMITTED, states.REJECTED)
    with pytest.raises(ValidationFailed, match="needs a reason"):
        states.check_transition(states.SUBMITTED, states.REJECTED, "boring")
    with pytest.raises(ValidationFailed, match="takes no reason"):
        states.check_transition(states.SUBMITTED, states.VERIFIED, "spam")
    with pytest.raises(ValidationFailed, match="Unknown status"):
        states.check_transition(states.SUBMITTED, "acknowledged")
    assert set(states.OPEN) | set(states.DONE) == set(states.STATUSES) and not set(states.OPEN) & set(states.DONE)


# --- a transition on the database ---------------------------------------------------------------------------------
def crime_report(client) -> int:
    r = client.post("/api/layers/crime/reports", json=CRIME)
    assert r.status_code == 201, r.get_json()
    return r.get_json()["id"]


def test_a_transition_writes_the_status_and_its_history_entry(client, engine, registry):
    rid = crime_report(client)
    police = lifecycle.Actor("user:7", "police")
    body = {"to": "verified", "comment": "Thanks", "note": "patrol"}
    done = lifecycle.transition(engine, registry, rid, body, police)
    assert done["status"] == "verified" and done["from"] == "submitted"
    lifecycle.transition(engine, registry, rid, {"to": "rejected", "reason": "duplicate"}, police)
    doc = lifecycle.history(engine, registry, rid, "police")
    assert doc["status"] == "rejected" and doc["allowed"] == []  # final: only a moderator could still hide it
    received, verified, rejected = doc["history"]
    assert received["to"] == "submitted"
    assert verified == {**verified, "from": "submitted", "to": "verified", "comment": "Thanks", "note": "patrol"}
    assert verified["by"] == "user:7" and verified["role"] == "police"
    assert rejected["reason"] == "duplicate"
    # an illegal transition changes nothing
    with pytest.raises(Conflict):
        lifecycle.transition(engine, registry, rid, {"to": "in_progress"}, police)
    assert len(lifecycle.history(engine, registry, rid, "police")["history"]) == 3
    # and a rejected report is out of the public feed
    assert client.get(f"/ogc/collections/crime/items/{rid}").status_code == 404


def test_who_may_move_which_report(client, engine, registry):
    rid = crime_report(client)
    with pytest.raises(NotFound):  # utility staff neither act on nor see crime reports: no such report for them
        lifecycle.transition(engine, registry, rid, {"to": "verified"}, lifecycle.Actor("user:1", "utility"))
    with pytest.raises(NotFound):
        lifecycle.transition(engine, registry, rid, {"to": "verified"}, lifecycle.Actor(None, None))
    with pytest.raises(Forbidden):  # police act on crime reports but do not hide them
        lifecycle.transition(engine, registry, rid, {"to": "hidden"}, lifecycle.Actor("user:2", "police"))
    with pytest.raises(NotFound):
        lifecycle.history(engine, registry, rid, "utility")
    moderator = lifecycle.Actor("user:3", "moderator")
    assert lifecycle.transition(engine, registry, rid, {"to": "hidden"}, moderator)["status"] == "hidden"
    with pytest.raises(ValidationFailed):
        lifecycle.transition(engine, registry, rid, {"to": "closed", "colour": "red"}, moderator)


def test_history_is_append_only_but_goes_with_its_report(client, engine):
    rid = crime_report(client)
    for statement in (
        "UPDATE status_history SET note = 'rewritten' WHERE report_id = :r",
        "DELETE FROM status_history WHERE report_id = :r",
    ):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement), {"r": rid})
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM reports WHERE id = :r"), {"r": rid})
        assert conn.execute(text("SELECT count(*) FROM status_history WHERE report_id = :r"), {"r": rid}).scalar() == 0


def test_a_dismissed_alert_is_closed_with_its_reason_and_an_internal_note(client, engine, registry):
    rid = water_report(client, "Kiosk 3", sampled_at="2026-05-10T09:00:00Z", e_coli_cfu_100ml=0, alert=True)
    utility = lifecycle.Actor("user:9", "utility")
    assert alerts.decide_alert(engine, registry, rid, "dismiss", "checked on site", utility)["status"] == "closed"
    last = lifecycle.history(engine, registry, rid, "utility")["history"][-1]
    assert last["reason"] == "no_action_needed" and last["note"] == "checked on site" and last["comment"] is None
    with pytest.raises(Conflict):  # a closed alert is not verified afterwards: it would be reopened first
        alerts.decide_alert(engine, registry, rid, "verify", None, utility)


# --- over HTTP -----------------------------------------------------------------------------------------------------
def test_transitions_and_history_over_the_api(client, engine):
    from mapper.services.tokens import create_api_token

    made = client.post("/api/layers/crime/reports", json=CRIME).get_json()
    rid, token = made["id"], made["tracking_token"]

    def bearer(role):
        return {"Authorization": f"Bearer {create_api_token(engine, role, 'lifecycle-test')}"}

    police, utility = bearer("police"), bearer("utility")
    url = f"/api/reports/{rid}/transitions"
    assert client.post(url, json={"to": "verified"}).status_code == 401  # anonymous
    assert client.post(url, json={"to": "verified"}, headers=utility).status_code == 404
    ok = client.post(url, json={"to": "verified", "comment": "On it", "note": "unit 4"}, headers=police)
    assert ok.status_code == 200 and ok.get_json()["status"] == "verified"
    refused = client.post(url, json={"to": "reopened"}, headers=police)
    assert refused.status_code == 409 and refused.mimetype == "application/problem+json"
    assert "in_progress" in refused.get_json()["errors"][0]["reason"]
    bad = client.post(url, json={"to": "closed"}, headers=police)
    assert bad.status_code == 422 and bad.get_json()["errors"][0]["field"] == "reason"
    assert client.post(url, data="nope", headers=police, content_type="application/json").status_code == 422
    history = client.get(f"/api/reports/{rid}/history", headers=police).get_json()
    assert [e["to"] for e in history["history"]] == ["submitted", "verified"]
    assert history["history"][-1]["note"] == "unit 4" and "hidden" not in history["allowed"]
    assert client.get(f"/api/reports/{rid}/history", headers=utility).status_code == 404
    assert client.get(f"/api/reports/{rid}/history").status_code == 401
    # the citizen's tracking shows the new status and the public comment, never the internal note or the actor
    tracking = client.get(f"/api/reports/{token}").get_data(as_text=True)
    assert "On it" in tracking and "verified" in tracking
    assert "unit 4" not in tracking and "token:" not in tracking
    # who acted is nowhere (the report as sent may name the police: its crime form asks "reported to police?")
    entries = json.dumps(client.get(f"/api/reports/{token}").get_json()["history"])
    assert "police" not in entries and "role" not in entries and "by" not in entries


def test_the_reporters_tracking_page_shows_status_and_public_comments_only(client, engine):
    from mapper.services.tokens import create_api_token

    made = client.post("/api/layers/crime/reports", json=CRIME).get_json()
    police = {"Authorization": f"Bearer {create_api_token(engine, 'police', 'lifecycle-test')}"}
    body = {"to": "verified", "comment": "A patrol <b>will</b> pass", "note": "unit 4 internal"}
    assert client.post(f"/api/reports/{made['id']}/transitions", json=body, headers=police).status_code == 200
    page = client.get(made["tracking_page"])
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert "A patrol &lt;b&gt;will&lt;/b&gt; pass" in html and "<b>will</b>" not in html  # escaped
    history = html[html.index('id="track-history"') : html.index('id="track-sent"')]
    assert "verified" in html and "unit 4 internal" not in html and "police" not in history
    assert page.headers["Referrer-Policy"] == "no-referrer" and "no-store" in page.headers["Cache-Control"]
    spanish = client.get(made["tracking_page"] + "?lang=es").get_data(as_text=True)
    assert "verificado" in spanish
    assert client.get("/track/not-a-token").status_code == 404
