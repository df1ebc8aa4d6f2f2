"""Intake hardening, through granian (the production server, 2 workers) and real PostGIS: bodies bounded by their
route's own limit before they are read, JSON-only intake (no cross-site form posts), an unprivileged ``source``,
and idempotency keys that keep no usable tracking token at rest and expire."""

from __future__ import annotations

import json

import pytest
import requests
from sqlalchemy import text

from mapper.services.tokens import create_api_token
from tests.conftest import count
from tests.reports import verify
from tests.servers import granian, send_body
from tests.test_intake import crime

MB = 1 << 20
REPORTS = "/api/layers/crime/reports"
GEOJSON = {"Content-Type": "application/geo+json"}
UPLOAD_LIMIT = MB  # the GTFS route's limit on the test server (the intake's is the default 256 KiB)


@pytest.fixture(scope="module")
def upload_tmp(tmp_path_factory):
    return tmp_path_factory.mktemp("server-tmp")


@pytest.fixture(scope="module")
def server(database_url, tmp_path_factory, upload_tmp):
    with granian(
        database_url,
        tmp_path_factory.mktemp("hardening-server"),
        env={"TMPDIR": str(upload_tmp)},
        MAX_UPLOAD_BYTES=UPLOAD_LIMIT,
    ) as s:
        yield s


def assert_problem(status: int, content_type: str, body: bytes, expected: int, field: str) -> dict:
    assert status == expected, body[:300]
    assert content_type == "application/problem+json"
    problem = json.loads(body)
    assert problem["status"] == expected and any(e["field"] == field for e in problem["errors"]), problem
    return problem


# --- bodies: each route's own limit, enforced before the body is read --------------------------------------
def test_a_declared_100_mb_report_is_refused_before_it_is_sent(server, engine, clean):
    answer = send_body(server.url, REPORTS, 100 * MB, GEOJSON, chunked=False)
    problem = assert_problem(answer.status, answer.headers["content-type"], answer.body, 413, "body")
    assert "262144" in problem["errors"][0]["reason"]
    assert answer.sent < 16 * MB  # answered at once: what was sent is what the sockets' buffers held
    assert count(engine) == 0


def test_a_chunked_100_mb_report_is_cut_off_early_and_memory_does_not_balloon(server, engine, clean):
    for _ in range(4):  # every worker has answered an intake request before its peak memory is taken
        requests.post(server.url + REPORTS, data=b"{", headers=GEOJSON, timeout=30)
    before = server.peak_rss_kb()
    answer = send_body(server.url, REPORTS, 100 * MB, GEOJSON, chunked=True)
    assert_problem(answer.status, answer.headers["content-type"], answer.body, 413, "body")
    assert answer.sent < 16 * MB, answer.sent
    assert server.peak_rss_kb() - before < 32 * 1024  # reading 100 MB would have added more than 100 MB
    assert count(engine) == 0


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_of_exactly_the_limit_is_read_and_one_byte_more_is_not(server, engine, clean, chunked):
    doc = json.dumps(crime()).encode()  # padded with spaces (JSON whitespace) to the size wanted
    ok = send_body(server.url, REPORTS, 262144, GEOJSON, chunked, prefix=doc)
    assert ok.status == 201, ok.body
    over = send_body(server.url, REPORTS, 262145, GEOJSON, chunked, prefix=doc)
    assert_problem(over.status, over.headers["content-type"], over.body, 413, "body")
    assert count(engine) == 1


def test_gtfs_upload_limit_is_enforced_while_streaming_to_disk(server, engine, clean, upload_tmp):
    planner = create_api_token(engine, "planner", "t")
    auth = {"Authorization": f"Bearer {planner}", "Content-Type": "application/zip"}
    path = "/api/gtfs/feeds?name=big"
    for chunked in (True, False):
        answer = send_body(server.url, path, 50 * MB, auth, chunked=chunked)
        problem = assert_problem(answer.status, answer.headers["content-type"], answer.body, 413, "body")
        assert str(UPLOAD_LIMIT) in problem["errors"][0]["reason"]
        assert answer.sent < 16 * MB
    # the route's own limit, not the intake's: 600 KB is read whole and judged as a (broken) zip
    small = send_body(server.url, path, 600_000, auth, chunked=True, prefix=b"PK\x03\x04")
    assert_problem(small.status, small.headers["content-type"], small.body, 422, "archive")  # ArchiveRefused
    assert count(engine, "gtfs_feeds") == 0
    assert list(upload_tmp.iterdir()) == []  # the partial uploads were removed
    anonymous = send_body(server.url, path, 50 * MB, {"Content-Type": "application/zip"}, chunked=True)
    assert anonymous.status == 401 and anonymous.sent < 16 * MB  # no credentials: refused before a byte is read


# --- JSON only: no cross-site form posts --------------------------------------------------------------------
NOT_JSON = [
    "text/plain",  # what a cross-site <form enctype="text/plain"> or a no-cors fetch can send
    "text/plain; charset=utf-8",
    "application/x-www-form-urlencoded",
    None,
    "application/json; charset=iso-8859-1",
    "application/json; version=2",
    "application/geo+json-seq",
]


@pytest.mark.parametrize("content_type", NOT_JSON)
def test_a_body_not_declared_as_json_is_refused_with_415(server, engine, clean, content_type):
    headers = {"Idempotency-Key": "k-415"} | ({"Content-Type": content_type} if content_type else {})
    r = requests.post(server.url + REPORTS, data=json.dumps(crime()), headers=headers, timeout=30)
    problem = assert_problem(r.status_code, r.headers["Content-Type"], r.content, 415, "Content-Type")
    assert "application/geo+json" in problem["errors"][0]["reason"]
    assert count(engine) == 0 and count(engine, "idempotency_keys") == 0


def test_a_multipart_body_from_another_site_is_refused(server, engine, clean):
    """multipart/form-data is read (reports with photos: tests/test_photos.py), but a browser could send it from any
    site without a preflight: with another site's Origin it is refused (403) before its body is read."""
    headers = {"Content-Type": "multipart/form-data; boundary=xyz", "Idempotency-Key": "k-403"}
    for origin in ("https://evil.example", "null"):
        r = requests.post(
            server.url + REPORTS, data=json.dumps(crime()), headers=headers | {"Origin": origin}, timeout=30
        )
        assert_problem(r.status_code, r.headers["Content-Type"], r.content, 403, "Origin")
    r = requests.post(server.url + REPORTS, data=json.dumps(crime()), headers=headers, timeout=30)
    assert_problem(r.status_code, r.headers["Content-Type"], r.content, 422, "feature")  # not a form at all
    assert count(engine) == 0 and count(engine, "idempotency_keys") == 0


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/geo+json",
        "application/json; charset=utf-8",
        "Application/GEO+JSON;charset=UTF-8",
    ],
)
def test_json_types_with_an_optional_utf8_charset_are_read(server, engine, clean, content_type):
    r = requests.post(
        server.url + REPORTS, data=json.dumps(crime()), headers={"Content-Type": content_type}, timeout=30
    )
    assert r.status_code == 201, r.text
    assert count(engine) == 1


def test_other_origins_are_not_granted_cross_origin_posts(server):
    """A JSON POST from another origin needs a CORS preflight; the intake API answers it without any grant."""
    r = requests.options(
        server.url + REPORTS,
        headers={
            "Origin": "https://elsewhere.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, x-mapper-form",
        },
        timeout=30,
    )
    assert not any(h.lower().startswith("access-control-allow") for h in r.headers), r.headers


def test_the_form_marker_labels_the_source_and_grants_nothing(server, engine, registry, clean):
    sent = [({"X-Mapper-Form": "1"}, "web"), ({"X-Mapper-Form": "api:admin"}, "web"), ({}, "api")]
    ids = []
    for extra, _ in sent:
        r = requests.post(server.url + REPORTS, data=json.dumps(crime()), headers=GEOJSON | extra, timeout=30)
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT r.source, r.status, h.status AS first_status, h.changed_by FROM reports r "
                "JOIN status_history h ON h.report_id = r.id WHERE r.id = ANY(:ids) ORDER BY r.id"
            ),
            {"ids": ids},
        ).all()
    assert [r.source for r in rows] == [source for _, source in sent]
    assert {(r.status, r.first_status) for r in rows} == {("submitted", "submitted")}  # the same treatment
    assert [r.changed_by for r in rows] == [r.source for r in rows]
    assert requests.get(server.url + "/ogc/collections/crime/items", timeout=30).json()["features"] == []
    verify(engine, registry, *ids)  # crime waits for verification, whatever the marker says
    public = requests.get(server.url + "/ogc/collections/crime/items", timeout=30).json()["features"]
    assert len(public) == 3 and all("source" not in f["properties"] for f in public)


# --- idempotency keys: no usable token at rest, and they expire ---------------------------------------------
def post_keyed(url: str, key: str, body: dict) -> requests.Response:
    return requests.post(url + REPORTS, data=json.dumps(body), headers=GEOJSON | {"Idempotency-Key": key}, timeout=30)


def stored_rows(engine) -> list[str]:
    with engine.connect() as conn:
        return conn.execute(text("SELECT k::text FROM idempotency_keys k")).scalars().all()


def assert_nothing_in_clear(rows: list[str], *secrets: str) -> None:
    for secret in secrets:
        for form in (secret, secret.encode().hex()):  # as text, and as bytea prints it
            assert not any(form in row for row in rows), (secret, rows)


def test_the_stored_first_response_holds_no_clear_token_and_still_replays(server, engine, clean):
    key = "f1d6c5a2-2f0e-4b7e-9b4e-0c1d2e3f4a5b"
    first = post_keyed(server.url, key, crime())
    assert first.status_code == 201
    token = first.json()["tracking_token"]
    rows = stored_rows(engine)
    assert len(rows) == 1
    assert_nothing_in_clear(rows, token, key)
    again = post_keyed(server.url, key, crime())
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json() and again.headers["Location"] == f"/api/reports/{token}"
    other = post_keyed(server.url, key, crime(severity=5))
    assert_problem(other.status_code, other.headers["Content-Type"], other.content, 409, "Idempotency-Key")
    assert count(engine) == 1
    assert requests.get(server.url + f"/api/reports/{token}", timeout=30).status_code == 200


def test_an_expired_key_is_new_again_and_expired_rows_are_purged(server, engine, clean):
    key = "8c0e1b7e-expiring"
    first = post_keyed(server.url, key, crime())
    assert first.status_code == 201
    with engine.begin() as conn:
        conn.execute(text("UPDATE idempotency_keys SET created_at = now() - interval '23 hours'"))
    kept = post_keyed(server.url, key, crime())  # within 24 h: still the first response
    assert kept.headers.get("Idempotent-Replayed") == "true" and kept.json() == first.json()
    with engine.begin() as conn:
        conn.execute(text("UPDATE idempotency_keys SET created_at = now() - interval '24 hours 1 minute'"))
        conn.execute(
            text(
                "INSERT INTO idempotency_keys (key_hash, request_hash, created_at) "
                "SELECT sha256(g::text::bytea), '\\x00', now() - interval '30 hours' FROM generate_series(1, 5) g"
            )
        )
    assert count(engine, "idempotency_keys") == 6
    renewed = post_keyed(server.url, key, crime(severity=5))  # another body, yet no 409: the key is new again
    assert renewed.status_code == 201 and "Idempotent-Replayed" not in renewed.headers
    assert renewed.json()["id"] != first.json()["id"]
    assert renewed.json()["tracking_token"] != first.json()["tracking_token"]
    assert count(engine, "idempotency_keys") == 1  # the claim purged the expired rows
    assert count(engine) == 2
    assert post_keyed(server.url, key, crime(severity=5)).json() == renewed.json()


def test_a_new_server_with_the_same_secret_replays_and_another_secret_cannot(
    server, engine, clean, database_url, tmp_path
):
    key = "restart-3b9f"
    first = post_keyed(server.url, key, crime())  # the module's server: SECRET_KEY "test"
    assert first.status_code == 201
    with granian(database_url, tmp_path / "same", SECRET_KEY="test") as same:
        again = post_keyed(same.url, key, crime())
    assert again.headers.get("Idempotent-Replayed") == "true" and again.json() == first.json()
    with granian(database_url, tmp_path / "other", SECRET_KEY="another-secret") as other:
        fresh = post_keyed(other.url, key, crime())
    # under another secret the stored key is not even recognised: the retry is a new report
    assert fresh.status_code == 201 and "Idempotent-Replayed" not in fresh.headers
    assert fresh.json()["tracking_token"] != first.json()["tracking_token"]
    assert count(engine) == 2


def test_a_sealed_response_opens_only_with_both_the_secret_and_the_key():
    from mapper.services import idempotency

    response = {"tracking_token": "tok-123", "id": 1}
    sealed = idempotency.seal("server-secret", "client-key", response)
    assert b"tok-123" not in sealed
    assert idempotency.unseal("server-secret", "client-key", sealed) == response
    for secret, key in [("server-secret", "other-key"), ("other-secret", "client-key")]:
        with pytest.raises(idempotency.Unsealable):
            idempotency.unseal(secret, key, sealed)
    assert idempotency.key_hash("server-secret", "client-key") != idempotency.key_hash("other-secret", "client-key")
