"""Score explanations and listings follow the feeds' visibility (pen-test finding 7): a report hidden from the
public leaves its scores' public outputs, before and after re-scoring; its exact audiences still see them."""

import pytest
import requests

from mapper.domain import policy
from mapper.services import scoring
from mapper.services.importer import import_frame
from mapper.services.tokens import create_api_token
from mapper.store import reports as repository
from tests.test_scores import crime_points, water_report


@pytest.fixture
def bearer(engine):
    def make(role):
        return {"Authorization": f"Bearer {create_api_token(engine, role, 'visibility-test')}"}

    return make


def hide(engine, report_id):
    """Hide a report after the run that scored it (the store's write alone: no rescoring), as when a moderator
    hides it between two runs: the run still holds it, and only those who see hidden reports see it there."""
    with engine.begin() as conn:
        was = repository.report_row(conn, report_id)["status"]
        repository.record_transition(
            conn, report_id, was, "hidden", reason=None, comment=None, note="spam", actor="test", role="moderator"
        )


def subjects(client, headers=None, method="water_quality"):
    doc = client.get("/api/scores/water_quality", headers=headers or {}).get_json()
    return {r["subject"]: r for r in doc["scores"][method]["results"]}


def test_a_hidden_report_leaves_the_public_explanations_and_listings(client, engine, registry, bearer):
    layer = registry.get("water_quality")
    secret = water_report(client, "Secret Well", sampled_at="2026-03-01T08:00:00Z", e_coli_cfu_100ml=150)
    shown = water_report(client, "Open Tap", sampled_at="2026-03-02T08:00:00Z", e_coli_cfu_100ml=0)
    scoring.score_layer(engine, layer)
    before = client.get(f"/api/scores/water_quality/{secret}")
    assert before.status_code == 200 and "Secret Well" in before.text
    assert {"Secret Well", "Open Tap"} <= set(subjects(client))

    hide(engine, secret)
    exact = [role for role in policy.ROLES if policy.sees_exact(layer, role)]
    assert exact == ["admin", "utility"]
    for rescored in (False, True):
        if rescored:
            scoring.score_layer(engine, layer)  # the new runs leave the hidden report out
        public = client.get(f"/api/scores/water_quality/{secret}")
        assert public.status_code == 404, rescored
        assert "Secret Well" not in public.text and "150" not in public.text
        police = client.get(f"/api/scores/water_quality/{secret}", headers=bearer("police"))
        assert police.status_code == 404  # a staff role the layer does not trust sees what the public sees
        for role in exact:
            staff = client.get(f"/api/scores/water_quality/{secret}", headers=bearer(role))
            assert staff.status_code == 200, (role, rescored)
            (water,) = [d for d in staff.get_json()["scores"] if d["method"] == "water_quality"]
            assert water["result"]["e_coli"]["value"] == 150
            # the listing shows the newest run: the one after re-scoring left the hidden report out
            assert ("Secret Well" in subjects(client, bearer(role))) == (not rescored)
        listed = subjects(client)
        assert "Secret Well" not in listed and "Open Tap" in listed, rescored
        transit = subjects(client, method="transit_access")
        assert str(secret) not in transit and str(shown) in transit, rescored
        assert "Secret Well" not in client.get("/api/scores/water_quality").text
        assert client.get(f"/api/scores/water_quality/{shown}").status_code == 200


def test_a_visible_report_is_not_explained_with_a_hidden_one(client, engine, registry):
    """Two samples of one water point: once one is hidden, the point's score computed from both is not shown
    to the public; after re-scoring, the public sees the score of the visible sample alone."""
    layer = registry.get("water_quality")
    kept = water_report(client, "Kiosk 9", sampled_at="2026-04-01T08:00:00Z", e_coli_cfu_100ml=0)
    dropped = water_report(client, "Kiosk 9", sampled_at="2026-04-02T08:00:00Z", e_coli_cfu_100ml=90)
    scoring.run_water_quality(engine, layer)
    assert client.get(f"/api/scores/water_quality/{kept}").get_json()["scores"][0]["reports_used"] == 2
    hide(engine, dropped)
    # what the public is shown is the run made when ``kept`` was written, before the other sample came
    earlier = client.get(f"/api/scores/water_quality/{kept}").get_json()["scores"][0]
    assert earlier["reports_used"] == 1 and "90" not in str(earlier["result"])
    assert "Kiosk 9" not in subjects(client)
    scoring.run_water_quality(engine, layer)
    doc = client.get(f"/api/scores/water_quality/{kept}").get_json()
    (score,) = doc["scores"]
    assert score["reports_used"] == 1 and score["result"]["safety"] != "unsafe" and "90" not in str(score["result"])
    assert subjects(client)["Kiosk 9"]["reports_used"] == 1


def test_hot_spot_cells_too_small_to_publish_are_explained_to_their_exact_audiences(
    engine, clean, registry, live_server, bearer
):
    crime = registry.get("crime")
    import_frame(engine, crime, crime_points(400), "pts")
    scoring.run_hotspots(engine, crime)
    police = bearer("police")
    staff = requests.get(
        f"{live_server}/ogc/collections/crime-hotspots/items", params={"limit": 10000}, headers=police
    ).json()
    small = next(f for f in staff["features"] if f["properties"]["status"] == "suppressed")
    url = f"{live_server}/api/scores/crime-hotspots/{small['id']}"
    assert requests.get(url).status_code == 404
    assert requests.get(url, headers=bearer("utility")).status_code == 404
    for headers in (police, bearer("admin")):
        r = requests.get(url, headers=headers)
        assert r.status_code == 200 and r.json()["status"] == "suppressed"
        assert r.headers["Cache-Control"] == "private, no-store"
