"""schemathesis against the OpenAPI document on the live server: every operation, all of schemathesis'
checks (no 5xx; statuses, content types, headers and bodies as documented; invalid input refused …).

The operations are collected from the document the app builds from the layer files (schemathesis' lazy,
fixture-based loader does not work with this pytest), and the first test checks that it is the one
``/api/openapi.json`` serves.

``positive_data_acceptance`` (a schema-valid request must succeed) is not applied to the operations whose
input has rules JSON Schema (OpenAPI 3.0) cannot state: a CQL2 ``filter`` must parse and name queryables,
``bbox`` needs south ≤ north and latitudes within ±90, a tile's x and y are below 2^z, a report's geometry
must be a valid polygon in its CRS. Their refusals of such input are checked by tests/test_hostile_input.py;
every other check, negative data refused included, runs on them.

CI runs a reduced form: the examples and fuzzing phases with ``SCHEMATHESIS_EXAMPLES`` cases per operation
(default 2). ``python -m bench.schemathesis`` runs the full one: 60 per operation, with the coverage phase."""

from __future__ import annotations

import os

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from mapper.config import load_settings
from mapper.domain.layers import load_registry
from mapper.services.demo import load_demo
from mapper.services.scoring import score_all
from mapper.web.openapi import document
from tests.conftest import reset_tables

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "2"))
COVERAGE = os.environ.get("SCHEMATHESIS_COVERAGE", "") == "1"
PLACEHOLDER = "http://served.invalid"
DOCUMENT = document(load_registry(load_settings()["LAYERS_DIR"]).collections(), PLACEHOLDER)
CONFIG = schemathesis.Config.from_dict(
    {"phases": {"coverage": {"enabled": COVERAGE}, "stateful": {"enabled": False}}, "seed": 2026}
)
schema = schemathesis.openapi.from_dict(DOCUMENT, config=CONFIG)
schemathesis.serializer.alias("application/zip", "application/octet-stream")  # GTFS uploads: bytes as they are
UNSTATEABLE = {"filter", "bbox", "aoi", "z"}  # parameters whose rules JSON Schema cannot state (see above)


def rules_beyond_the_schema(operation) -> bool:
    names = {p["name"] for p in operation.definition.raw.get("parameters", [])}
    return bool(names & UNSTATEABLE) or operation.path.endswith("/reports")


@pytest.fixture(scope="module")
def base(live_server, engine, registry, data_tables):
    """The live server, over the demo city and its scores."""
    reset_tables(engine, data_tables)
    load_demo(engine, registry)
    score_all(engine, registry)
    return live_server


def test_the_tested_document_is_the_served_one(base):
    served = requests.get(f"{base}/api/openapi.json", timeout=30).json()
    assert served["servers"] == [{"url": base}]
    assert {**served, "servers": DOCUMENT["servers"]} == DOCUMENT


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_every_operation_conforms_to_the_openapi_document(case, base):
    excluded = [positive_data_acceptance] if rules_beyond_the_schema(case.operation) else []
    case.call_and_validate(base_url=base, timeout=60, excluded_checks=excluded)
