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
    assert_problem(small.status, small.headers["content-type"], small.body, 400, "archive")
    assert count(engine, "gtfs_feeds") == 0
    assert list(upload_tmp.iterdir()) == []  # the partial uploads were removed
    anonymous = send_body(server.url, path, 50 * MB, {"Content-Type": "application/zip"}, chunked=True)
    assert anonymous.status == 403 and anonymous.sent < 16 * MB  # refused before a byte is read


# --- JSON only: no cross-site form posts --------------------------------------------------------------------
NOT_JSON = [
    "text/plain",  # what a cross-site <form enctype="text/plain"> or a no-cors fetch can send
    "text/plain; charset=utf-8",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=xyz",
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


def test_the_form_marker_labels_the_source_and_grants_nothing(server, engine, clean):
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
    public = requests.get(server.url + "/ogc/collections/crime/items", timeout=30).json()["features"]
    assert len(public) == 3 and all("source" not in f["properties"] for f in public)
