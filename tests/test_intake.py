"""Report intake through real HTTP (Flask's client) into real PostGIS: validation, CRS, idempotency, tracking."""

import json
import threading

import pytest
import requests
from pyproj import Transformer
from sqlalchemy import text

from tests.conftest import count

WHEN = "2026-11-01T21:30:00Z"


def crime(lon=-83.0, lat=39.96, **props):
    p = {"category": "theft", "severity": 2, "occurred_at": WHEN}
    p.update(props)
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]}, "properties": p}


def square(x0=-83.0, y0=39.96, d=0.01, close=True):
    ring = [[x0, y0], [x0 + d, y0], [x0 + d, y0 + d], [x0, y0 + d]]
    return [ring + [ring[0]]] if close else [ring]


def land(coords, **props):
    p = {"land_class": "public_space"}
    p.update(props)
    return {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": coords}, "properties": p}


def post(client, layer, body, **headers):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post(f"/api/layers/{layer}/reports", data=data, headers=headers, content_type="application/geo+json")


def test_valid_report_is_stored_with_history_and_private_fields_apart(client, engine):
    r = post(client, "crime", crime(description="Two men broke a car window", reporter_email="ana@example.org"))
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["status"] == "submitted" and body["layer"] == "crime" and len(body["tracking_token"]) >= 20
    assert r.headers["Location"] == body["tracking_url"]
    with engine.connect() as conn:
        row = (
            conn.execute(
                text(
                    "SELECT properties, private, ST_X(geom) x, ST_Y(geom) y, observed_at, tracking_hash "
                    "FROM reports WHERE id = :id"
                ),
                {"id": body["id"]},
            )
            .mappings()
            .one()
        )
        history = (
            conn.execute(text("SELECT status FROM status_history WHERE report_id = :id"), {"id": body["id"]})
            .scalars()
            .all()
        )
    assert row["properties"]["category"] == "theft" and "description" not in row["properties"]
    assert row["private"]["description"] == "Two men broke a car window"
    assert row["private"]["reporter_email"] == "ana@example.org" and "reporter_email" not in row["properties"]
    assert (row["x"], row["y"]) == (-83.0, 39.96)
    assert row["observed_at"].isoformat() == "2026-11-01T21:30:00+00:00"
    assert bytes(row["tracking_hash"]) != body["tracking_token"].encode()  # only a hash is stored
    assert history == ["submitted"]


def test_tracking_token_gives_status_and_history_only(client):
    body = post(client, "crime", crime(description="secret")).get_json()
    r = client.get(body["tracking_url"])
    assert r.status_code == 200
    status = r.get_json()
    assert status["status"] == "submitted" and status["id"] == body["id"]
    assert [h["status"] for h in status["history"]] == ["submitted"]
    # what the citizen sent comes back to them (issue 12: "the report as the citizen sent it"), nothing of staff
    assert status["report"]["properties"]["description"] == "secret" and "changed_by" not in r.get_data(as_text=True)
    r = client.get("/api/reports/not-a-token")
    assert r.status_code == 404 and r.content_type == "application/problem+json"


BIG = "x" * 300000
TOO_MANY = [[[-83 + 0.001 * i, 39.9 + 0.0001 * (i % 2)] for i in range(6000)]]
NOT_CLOSED = square(close=False)
BOWTIE = [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]

INVALID = [
    # id, layer, body, status, field, reason fragment
    ("unknown layer", "nope", crime(), 404, "layer", "unknown layer"),
    ("not json", "crime", b"{not json", 422, "body", "Expecting property name"),
    (
        "NaN literal",
        "crime",
        b'{"type":"Feature","geometry":{"type":"Point","coordinates":[NaN,1]},"properties":{}}',
        422,
        "body",
        "NaN is not valid JSON",
    ),
    (
        "Infinity literal",
        "crime",
        b'{"type":"Feature","geometry":{"type":"Point","coordinates":[Infinity,1]}}',
        422,
        "body",
        "Infinity is not valid JSON",
    ),
    (
        "1e400 overflow",
        "crime",
        b'{"type":"Feature","geometry":{"type":"Point","coordinates":[1e400,1]},'
        b'"properties":{"category":"theft","severity":1,"occurred_at":"2026-01-01T00:00:00Z"}}',
        422,
        "geometry.coordinates",
        "finite",
    ),
    ("not a feature", "crime", {"type": "Point", "coordinates": [0, 0]}, 422, "type", "Feature"),
    ("array body", "crime", [1, 2], 422, "type", "Feature"),
    ("unknown field", "crime", crime(colour="red"), 422, "properties.colour", "unknown field"),
    (
        "missing required",
        "crime",
        {**crime(), "properties": {"category": "theft", "severity": 2}},
        422,
        "properties.occurred_at",
        "is required",
    ),
    ("wrong type int", "crime", crime(severity="2"), 422, "properties.severity", "must be an integer"),
    ("bool for int", "crime", crime(severity=True), 422, "properties.severity", "must be an integer"),
    ("fraction for int", "crime", crime(severity=2.5), 422, "properties.severity", "must be an integer"),
    ("below min", "crime", crime(severity=0), 422, "properties.severity", "must be >= 1"),
    ("above max", "crime", crime(severity=6), 422, "properties.severity", "must be <= 5"),
    ("enum value", "crime", crime(category="murder?"), 422, "properties.category", "must be one of"),
    ("bad datetime", "crime", crime(occurred_at="last tuesday"), 422, "properties.occurred_at", "ISO 8601"),
    ("bad boolean", "crime", crime(reported_to_police="yes"), 422, "properties.reported_to_police", "true or false"),
    ("text too long", "crime", crime(description="x" * 2001), 422, "properties.description", "longer than 2000"),
    ("NUL in text", "crime", crime(description="a\u0000b"), 422, "properties.description", "NUL"),
    ("properties not object", "crime", {**crime(), "properties": [1]}, 422, "properties", "must be an object"),
    (
        "bad date",
        "health_centres",
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [0, 0]},
            "properties": {"centre_name": "A", "visited_on": "2026-02-30"},
        },
        422,
        "properties.visited_on",
        "YYYY-MM-DD",
    ),
    (
        "multi enum",
        "health_centres",
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [0, 0]},
            "properties": {"centre_name": "A", "services": ["maternity", "astrology"]},
        },
        422,
        "properties.services",
        "astrology",
    ),
    ("latitude 100", "crime", crime(lat=100), 422, "geometry", "latitude must be between -90 and 90"),
    ("longitude 181", "crime", crime(lon=181), 422, "geometry", "longitude must be between -180 and 180"),
    ("string coordinate", "crime", crime(lon="1"), 422, "geometry.coordinates", "must be numbers"),
    ("missing geometry", "crime", {**crime(), "geometry": None}, 422, "geometry", "is required"),
    (
        "empty coordinates",
        "crime",
        {**crime(), "geometry": {"type": "Point", "coordinates": []}},
        422,
        "geometry.coordinates",
        "is empty",
    ),
    (
        "wrong geometry type",
        "crime",
        {**crime(), "geometry": {"type": "Polygon", "coordinates": square()}},
        422,
        "geometry.type",
        "must be Point",
    ),
    (
        "point on polygon layer",
        "land_use",
        {**land(square()), "geometry": {"type": "Point", "coordinates": [0, 0]}},
        422,
        "geometry.type",
        "must be Polygon or MultiPolygon",
    ),
    ("unclosed ring", "land_use", land(NOT_CLOSED), 422, "geometry.coordinates[0]", "not closed"),
    ("short ring", "land_use", land([[[0, 0], [1, 1], [0, 0]]]), 422, "geometry.coordinates[0]", "at least 4"),
    ("self-intersection", "land_use", land(BOWTIE), 422, "geometry", "Self-intersection"),
    (
        "too many vertices",
        "land_use",
        land([TOO_MANY[0] + [TOO_MANY[0][0]]]),
        422,
        "geometry.coordinates",
        "too many vertices",
    ),
    ("unknown crs", "crime", {**crime(), "crs": "EPSG:99999999"}, 422, "crs", "unknown coordinate reference"),
    (
        "outside the crs's area",
        "crime",
        {**crime(lon=3e7, lat=3e7), "crs": "EPSG:3857"},
        422,
        "geometry",
        "outside the valid area of EPSG:3857",
    ),
    ("oversized body", "crime", crime(description=BIG), 413, "body", "larger than"),
]


@pytest.mark.parametrize("layer,body,status,field,reason", [i[1:] for i in INVALID], ids=[i[0] for i in INVALID])
def test_invalid_input_is_refused_with_problem_json_and_nothing_stored(
    client, engine, layer, body, status, field, reason
):
    before = count(engine), count(engine, "status_history")
    r = post(client, layer, body)
    assert r.status_code == status, r.get_data(as_text=True)
    assert r.content_type == "application/problem+json"
    problem = r.get_json()
    assert problem["status"] == status and problem["title"] and problem["detail"]
    matches = [e for e in problem["errors"] if e["field"] == field]
    assert matches, problem["errors"]
    assert any(reason in e["reason"] for e in matches), matches
    assert (count(engine), count(engine, "status_history")) == before


def test_all_problems_are_reported_at_once(client):
    r = post(client, "crime", crime(lat=95, severity=9, category="x", colour=1))
    fields = {e["field"] for e in r.get_json()["errors"]}
    assert fields == {"geometry", "properties.severity", "properties.category", "properties.colour"}


def test_oversized_http_body_beyond_flask_limit_is_problem_json(app, client):
    r = client.post("/api/layers/crime/reports", data=b"x" * (app.config["MAX_CONTENT_LENGTH"] + 1))
    assert r.status_code == 413 and r.content_type == "application/problem+json"


@pytest.mark.parametrize("crs", ["EPSG:3857", "EPSG:32617"])
@pytest.mark.parametrize("where", ["query", "body"])
def test_projected_coordinates_are_transformed_to_wgs84(client, engine, crs, where):
    lon, lat = -83.0123456, 39.9654321
    x, y = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(lon, lat)
    body = crime(lon=x, lat=y)
    url = "/api/layers/crime/reports"
    if where == "body":
        body["crs"] = crs
    else:
        url += f"?crs={crs}"
    r = client.post(url, data=json.dumps(body), content_type="application/json")
    assert r.status_code == 201, r.get_json()
    with engine.connect() as conn:
        gx, gy = conn.execute(
            text("SELECT ST_X(geom), ST_Y(geom) FROM reports WHERE id = :i"), {"i": r.get_json()["id"]}
        ).one()
    assert abs(gx - lon) < 1e-7 and abs(gy - lat) < 1e-7


def test_utm_zone_southern_hemisphere_round_trip(client, engine):
    """Montevideo in UTM 21S (EPSG:32721): transformed to WGS 84 and back within 1e-7 degrees."""
    lon, lat = -56.1645, -34.9011
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:32721", always_xy=True).transform(lon, lat)
    r = post(client, "crime", {**crime(lon=x, lat=y), "crs": "EPSG:32721"})
    assert r.status_code == 201
    with engine.connect() as conn:
        gx, gy = conn.execute(
            text("SELECT ST_X(geom), ST_Y(geom) FROM reports WHERE id = :i"), {"i": r.get_json()["id"]}
        ).one()
    assert abs(gx - lon) < 1e-7 and abs(gy - lat) < 1e-7
    bx, by = Transformer.from_crs("EPSG:4326", "EPSG:32721", always_xy=True).transform(gx, gy)
    assert abs(bx - x) < 1e-3 and abs(by - y) < 1e-3


def test_polygon_is_stored_valid_and_right_hand_rule(client, engine):
    ring = square()[0][::-1]  # clockwise exterior: must be re-oriented counter-clockwise
    r = post(client, "land_use", land([ring], area_m2=1000.5))
    assert r.status_code == 201, r.get_json()
    with engine.connect() as conn:
        valid, ccw = conn.execute(
            text("SELECT ST_IsValid(geom), ST_IsPolygonCCW(geom) FROM reports WHERE id = :i"), {"i": r.get_json()["id"]}
        ).one()
    assert valid and ccw


def test_idempotency_key_replays_the_first_response(client, engine):
    body = crime()
    first = post(client, "crime", body, **{"Idempotency-Key": "form-123"})
    again = post(client, "crime", body, **{"Idempotency-Key": "form-123"})
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json() and again.headers["Idempotent-Replayed"] == "true"
    assert count(engine) == 1
    other = post(client, "crime", crime(severity=5), **{"Idempotency-Key": "form-123"})
    assert other.status_code == 409 and other.content_type == "application/problem+json"
    assert other.get_json()["errors"][0]["field"] == "Idempotency-Key"
    assert count(engine) == 1
    assert post(client, "crime", body, **{"Idempotency-Key": "form-124"}).status_code == 201
    assert count(engine) == 2


def test_concurrent_duplicates_create_one_report(live_server, engine, clean):
    body = json.dumps(crime())
    barrier = threading.Barrier(8)
    results = []

    def send():
        barrier.wait()
        r = requests.post(
            f"{live_server}/api/layers/crime/reports",
            data=body,
            headers={"Idempotency-Key": "race-1", "Content-Type": "application/json"},
            timeout=30,
        )
        results.append((r.status_code, r.json().get("id")))

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [s for s, _ in results] == [201] * 8
    assert len({i for _, i in results}) == 1
    assert count(engine) == 1 and count(engine, "status_history") == 1


def test_layer_schemas_are_published(client):
    layers = client.get("/api/layers").get_json()["layers"]
    assert [lay["id"] for lay in layers] == ["crime", "health_centres", "land_use", "urban_life", "water_quality"]
    crime_schema = client.get("/api/layers/crime").get_json()
    severity = next(f for f in crime_schema["fields"] if f["name"] == "severity")
    assert (severity["type"], severity["min"], severity["max"], severity["required"]) == ("integer", 1, 5, True)
    assert client.get("/api/layers/nope").status_code == 404
