"""One report's properties validated value by value (``values.validate_row``, the API's path) answer exactly as
the column-wise rules do on a one-row DataFrame (``values.validate_frame``, the imports' path): the same
normalised values (types included) and the same problems, for hostile, edge and generated values of every
field type. No database: the rules are pure."""

from __future__ import annotations

import dataclasses
import json
import math

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mapper.config import PROJECT_ROOT
from mapper.domain.layers import Field, load_registry
from mapper.domain.values import split_public_private, validate_frame, validate_row

REGISTRY = load_registry(PROJECT_ROOT / "layers")
BASE = REGISTRY.get("urban_life")
# Every field type, required and optional, with bounds, as the layer files declare them.
EDGE_FIELDS = (
    Field("t", "text", "t", max_length=5),
    Field("t_req", "text", "t", required=True),
    Field("i", "integer", "i", min=-3, max=7),
    Field("i_req", "integer", "i", required=True),
    Field("i_free", "integer", "i"),
    Field("n", "number", "n", min=0.5, max=1e6),
    Field("n_free", "number", "n"),
    Field("b", "boolean", "b"),
    Field("b_req", "boolean", "b", required=True),
    Field("d", "date", "d"),
    Field("d_req", "date", "d", required=True),
    Field("dt", "datetime", "dt"),
    Field("e", "enum", "e", values=("a", "b c", "ñ")),
    Field("e_req", "enum", "e", required=True, values=("x",)),
    Field("m", "enum", "m", values=("a", "b"), multiple=True),
)
EDGE = dataclasses.replace(BASE, id="edge", fields=EDGE_FIELDS)
LAYERS = [EDGE, *REGISTRY]

HOSTILE = [
    None,
    "",
    "   ",
    "\t\n",
    "\x00",
    "a\x00b",
    " a ",
    "abcdef",
    "abcde",
    "\u3000x\u3000",
    "\x1cx\x1f",
    "\u200bx",
    "ñ",
    " ñ ",
    "b c",
    "a;b",
    "x",
    "\ud800",
    "é" * 6,
    "😀" * 5,
    "😀" * 6,
    0,
    1,
    -1,
    -3,
    -4,
    7,
    8,
    2**53,
    2**53 + 1,
    -(2**53) - 1,
    2**63 - 1,
    2**63,
    2**64,
    10**30,
    10**400,
    -(10**400),
    0.0,
    -0.0,
    0.5,
    0.49,
    3.0,
    3.5,
    1e6,
    1e6 + 0.1,
    1e308,
    float("inf"),
    float("-inf"),
    float("nan"),
    True,
    False,
    [],
    ["a"],
    ["a", "b"],
    ["a", "z"],
    ["z", "y", "z"],
    [""],
    ["a", 1],
    [["a"]],
    [None],
    {},
    {"a": 1},
    "1",
    "5",
    " 5 ",
    "1e3",
    "true",
    "yes",
    "0",
    "2026-05-01",
    " 2026-05-01 ",
    "2026-5-1",
    "2026-02-29",
    "2024-02-29",
    "2026-02-30",
    "2026-13-01",
    "1677-01-01",
    "1699-12-31",
    "1700-01-01",
    "2200-12-31",
    "2262-05-01",
    "9999-12-31",
    "0000-01-01",
    "２０２６-05-01",
    "٢٠٢٦-٠٥-٠١",
    "20260501",
    "2026-05-01T14:30:00Z",
    "2026-05-01T14:30:00",
    "2026-05-01T14:30Z",
    "2026-05-01 14:30:00",
    "2026-05-01t14:30:00z",
    "2026-05-01T14:30:00.123Z",
    "2026-05-01T14:30:00.123456789+05:30",
    "2026-05-01T14:30:00.1234567891Z",
    "2026-05-01T14:30:00+05:30",
    "2026-05-01T01:30:00+05:30",
    "2026-01-01T00:30:00-23:59",
    "2026-05-01T14:30:00+24:00",
    "2026-05-01T14:30:00+23:60",
    "2026-05-01T14:30:00+0530",
    "2026-05-01T24:00:00Z",
    "2026-05-01T23:59:60Z",
    "2026-05-01T23:60:00Z",
    "2026-02-30T10:00:00Z",
    "2200-12-31T23:30:00-05:00",
    "1700-01-01T00:10:00+01:00",
    "2026-W18-5",
    "yesterday",
]


def through_frame(layer, row: dict):
    """The imports' path: a one-row DataFrame through ``validate_frame`` (as the API did before)."""
    clean, problems = validate_frame(layer, pd.DataFrame([row]))
    public, private = split_public_private(layer, clean)
    return {**public, **private}, [(p.field, p.reason, p.row) for p in problems]


def through_row(layer, row: dict):
    clean, problems = validate_row(layer, row)
    public, private = split_public_private(layer, clean)
    return {**public, **private}, [(p.field, p.reason, p.row) for p in problems]


def typed(values: dict) -> dict:
    """Values with their types, so 5 and 5.0 (or 1 and True) differ; NaN equal to itself."""
    return {
        k: ("nan" if isinstance(v, float) and math.isnan(v) else json.dumps(v, ensure_ascii=False), type(v).__name__)
        for k, v in values.items()
    }


def outcome(path, layer, row: dict):
    try:
        return path(layer, row)
    except Exception as e:  # a value the frame cannot even hold (a lone surrogate): the same refusal
        return type(e)


def assert_same(layer, row: dict) -> None:
    frame, fast = outcome(through_frame, layer, row), outcome(through_row, layer, row)
    if isinstance(frame, type):
        assert fast is frame, row
        return
    (frame_values, frame_problems), (row_values, row_problems) = frame, fast
    assert row_problems == frame_problems, row
    assert typed(row_values) == typed(frame_values), row


@pytest.mark.parametrize("layer", LAYERS, ids=lambda layer: layer.id)
def test_every_hostile_value_in_every_field_answers_as_the_frame_does(layer):
    for value in HOSTILE:  # every field of the layer holding it at once (the rules are per field)
        assert_same(layer, {f.name: value for f in layer.fields})
        assert_same(layer, {layer.fields[0].name: value})


def test_whole_reports_answer_as_the_frame_does():
    """Several fields at once, unknown names, a valid report and one wrong everywhere."""
    urban = REGISTRY.get("urban_life")
    good = {"sentiment": "negative", "theme": "noise", "rating": 2, "observed_at": "2026-05-01T22:10:00+02:00"}
    assert_same(urban, good)
    assert_same(urban, {**good, "comment": " loud bar ", "nope": 1})
    assert_same(urban, {"sentiment": "meh", "rating": 9.5, "observed_at": "soon", "comment": "x" * 1001})
    assert_same(urban, {})
    water = REGISTRY.get("water_quality")
    assert_same(water, {"source_type": "borehole", "functional_status": "functional", "ph": 7, "alert": True})
    health = REGISTRY.get("health_centres")
    assert_same(health, {f.name: ["a"] if f.multiple else "2026-01-31" for f in health.fields})


def test_the_fast_path_normalises_as_documented():
    """What the API stores, spelled out (so a change of rule shows here as well as in the comparison)."""
    values, problems = through_row(
        EDGE,
        {
            "t_req": " hi ",
            "i_req": 3.0,
            "n": 2,
            "b_req": False,
            "d_req": "2026-05-01",
            "e_req": "x",
            "dt": "2026-05-01T01:30:00+05:30",
        },
    )
    assert problems == []
    assert values["t_req"] == "hi" and values["i_req"] == 3 and type(values["i_req"]) is int
    assert values["n"] == 2.0 and type(values["n"]) is float
    assert values["dt"] == "2026-04-30T20:00:00Z" and values["d_req"] == "2026-05-01" and values["b_req"] is False


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.from_regex(r"\A\s?[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}\s?\Z"),
    st.from_regex(
        r"\A[0-9]{4}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-6][0-9]:[0-6][0-9](\.[0-9]{1,10})?(Z|[+-][0-2][0-9]:[0-6][0-9])?\Z"
    ),
    st.lists(st.sampled_from(["a", "b", "z", "", " a"]), max_size=3),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([(layer, f) for layer in LAYERS for f in layer.fields]), json_scalars)
def test_generated_values_answer_as_the_frame_does(layer_field, value):
    layer, f = layer_field
    assert_same(layer, {f.name: value})
