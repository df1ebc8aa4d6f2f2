"""Validation of report properties against a layer's fields: the one place that holds the rules.

Rules run column-wise over a pandas DataFrame (``validate_frame``), so a file import of a million rows and a
single API report go through the same rules. A single report (``validate_row``) skips building a one-row
DataFrame (~10 ms of pandas per report): each rule has a scalar form for the plain JSON values it is given in
practice (a string for a text, enum, date or date-time; a number; a boolean; a list of strings), which answers
exactly as the column rule would, and anything else goes through the column rule itself on a one-value column.
``tests/test_values_row.py`` runs hostile and generated values through both and requires identical values and
problems. ``check_json_types`` adds JSON's stricter typing for API bodies (``"5"`` is not an integer there,
while in a CSV every value is text).
"""

from __future__ import annotations

import datetime as dt
import math
import re
import sys

import numpy as np
import pandas as pd

from mapper.domain.errors import FieldProblem
from mapper.domain.layers import Field, Layer

TRUE = {"true", "t", "yes", "y", "1"}
FALSE = {"false", "f", "no", "n", "0"}
_JSON_TYPES = {
    "text": (str,),
    "enum": (str,),
    "date": (str,),
    "datetime": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}


def check_json_types(layer: Layer, props: dict) -> list[FieldProblem]:
    """Problems with the JSON shape of ``props``: unknown fields and values of the wrong JSON type."""
    problems = []
    for name, value in props.items():
        f = layer.field(name)
        if f is None:
            problems.append(FieldProblem(f"properties.{name}", f"unknown field for layer {layer.id!r}"))
            continue
        if value is None:
            continue
        if f.multiple:
            ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
            expected = "a list of strings"
        else:
            ok = isinstance(value, _JSON_TYPES[f.type]) and not (
                f.type in ("integer", "number") and isinstance(value, bool)
            )
            expected = {
                "text": "a string",
                "enum": "a string",
                "date": "a date string (YYYY-MM-DD)",
                "datetime": "an ISO 8601 date-time string",
                "integer": "an integer",
                "number": "a number",
                "boolean": "true or false",
            }[f.type]
            if f.type == "integer" and isinstance(value, float) and value.is_integer():
                ok = True
        if not ok:
            problems.append(FieldProblem(f"properties.{name}", f"must be {expected}, got {_json_name(value)}"))
        elif not all(is_unicode(v) for v in (value if isinstance(value, list) else [value]) if isinstance(v, str)):
            problems.append(FieldProblem(f"properties.{name}", "must be valid Unicode text (no lone surrogates)"))
    return problems


def is_unicode(text: str) -> bool:
    """Whether ``text`` can be encoded (JSON's ``\\ud800`` escapes decode to lone surrogates, which cannot)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _json_name(value) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def validate_frame(
    layer: Layer, frame: pd.DataFrame, prefix: str = "properties."
) -> tuple[pd.DataFrame, list[FieldProblem]]:
    """Normalise every field column of ``frame``; return the clean columns and the problems by row.

    Rows are numbered from 1 in ``FieldProblem.row`` (the frame's positional order). Columns that are not
    fields of the layer are reported as unknown.
    """
    problems: list[FieldProblem] = []
    n = len(frame)
    for col in frame.columns:
        if layer.field(col) is None:
            problems.append(FieldProblem(f"{prefix}{col}", f"unknown field for layer {layer.id!r}"))
    out = {}
    for f in layer.fields:
        raw = frame[f.name] if f.name in frame.columns else pd.Series([None] * n, index=frame.index, dtype=object)
        values, reasons = _normalise(f, raw.reset_index(drop=True))
        bad = reasons.notna().to_numpy()
        for pos in np.flatnonzero(bad)[:1000]:  # the first thousand problems per field are enough to act on
            problems.append(FieldProblem(f"{prefix}{f.name}", reasons.iloc[pos], row=int(pos) + 1))
        out[f.name] = values
    clean = pd.DataFrame(out)
    return clean, problems


def _missing(raw: pd.Series) -> pd.Series:
    miss = raw.isna()
    if raw.dtype == object:
        miss |= raw.map(lambda v: isinstance(v, str) and v.strip() == "" or (isinstance(v, list) and not v))
    elif pd.api.types.is_string_dtype(raw.dtype):  # pandas' own string dtype (CSV columns)
        miss |= raw.str.strip().eq("").fillna(False).astype(bool)
    return miss


def _normalise(f: Field, raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(normalised values, reason per row or None)."""
    missing = _missing(raw)
    reasons = pd.Series([None] * len(raw), dtype=object)
    if f.required:
        reasons[missing] = "is required"
    present = ~missing
    if not present.any():
        dtype = "Int64" if f.type == "integer" else "float64" if f.type == "number" else object
        return pd.Series([None] * len(raw), dtype=dtype), reasons
    norm, why = _NORMALISERS[f.type](f, raw[present])
    values = norm.reindex(raw.index)
    reasons[present] = why
    return values, reasons


def _text(f: Field, s: pd.Series):
    text = s.astype(str).str.strip()
    why = pd.Series(
        np.where(text.str.len() > f.max_length, f"is longer than {f.max_length} characters", None),
        index=s.index,
        dtype=object,
    )
    why[text.str.contains("\x00", regex=False)] = "must not contain NUL characters"
    return text.astype(object), why


MAX_EXACT_INTEGER = 2**53  # integers beyond it are not all representable as float64, nor JSON numbers in JS


def _beyond_float(v) -> bool:
    """A Python integer (from JSON) too large for a float64: pandas raises OverflowError on it."""
    return isinstance(v, int) and not isinstance(v, bool) and abs(v) > sys.float_info.max


def _numeric(f: Field, s: pd.Series, integer: bool):
    huge = pd.Series(False, index=s.index)
    if s.dtype == object:
        huge = s.map(_beyond_float).astype(bool)
        cleaned = s.map(lambda v: v.strip() if isinstance(v, str) else None if _beyond_float(v) else v)
        num = pd.to_numeric(cleaned, errors="coerce")
    else:
        num = pd.to_numeric(s, errors="coerce")
    num = num.astype("float64")
    why = pd.Series([None] * len(s), index=s.index, dtype=object)
    why[num.isna()] = "must be an integer" if integer else "must be a number"
    why[np.isinf(num) | huge] = "must be finite"
    if integer:
        why[num.notna() & ~np.isinf(num) & (num != np.floor(num))] = "must be a whole number"
        too_big = why.isna() & (num.abs() > MAX_EXACT_INTEGER)
        why[too_big] = f"must be between -{MAX_EXACT_INTEGER} and {MAX_EXACT_INTEGER}"
    ok = why.isna()
    if f.min is not None:
        why[ok & (num < f.min)] = f"must be >= {_fmt(f.min)}"
    if f.max is not None:
        why[ok & (num > f.max)] = f"must be <= {_fmt(f.max)}"
    if integer:
        values = num.where(why.isna()).astype("Int64")
    else:
        values = num.where(why.isna())
    return values, why


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _boolean(f: Field, s: pd.Series):
    if s.dtype == bool:
        return s.astype(object), pd.Series([None] * len(s), index=s.index, dtype=object)

    def conv(v):
        if isinstance(v, (bool, np.bool_)):
            return bool(v)
        if isinstance(v, (int, float, np.integer, np.floating)) and v in (0, 1):
            return bool(v)
        t = str(v).strip().lower()
        return True if t in TRUE else False if t in FALSE else None

    values = s.map(conv).astype(object)
    why = pd.Series(np.where(values.isna(), "must be true or false", None), index=s.index, dtype=object)
    return values, why


def _date(f: Field, s: pd.Series):
    if pd.api.types.is_datetime64_any_dtype(s):
        parsed = s
    else:
        parsed = pd.to_datetime(s.astype(str).str.strip(), format="%Y-%m-%d", errors="coerce")
    why = pd.Series(np.where(parsed.isna(), "must be a date YYYY-MM-DD", None), index=s.index, dtype=object)
    return parsed.dt.strftime("%Y-%m-%d").astype(object).where(parsed.notna(), None), why


def _datetime(f: Field, s: pd.Series):
    """ISO 8601; a value without offset is taken as UTC. Stored as UTC with a ``Z``."""
    if pd.api.types.is_datetime64_any_dtype(s):
        parsed = s.dt.tz_localize("UTC") if s.dt.tz is None else s.dt.tz_convert("UTC")
    else:
        parsed = pd.to_datetime(s.astype(str).str.strip(), format="ISO8601", utc=True, errors="coerce")
    why = pd.Series(
        np.where(parsed.isna(), "must be an ISO 8601 date-time, e.g. 2026-05-01T14:30:00Z", None),
        index=s.index,
        dtype=object,
    )
    return parsed.dt.strftime("%Y-%m-%dT%H:%M:%SZ").astype(object).where(parsed.notna(), None), why


def _enum(f: Field, s: pd.Series):
    allowed = set(f.values)
    choices = ", ".join(f.values)
    if f.multiple:

        def split(v):
            items = v if isinstance(v, list) else [p.strip() for p in str(v).split(";") if p.strip()]
            return [str(i) for i in items]

        lists = s.map(split)
        why = lists.map(
            lambda items: (
                None
                if all(i in allowed for i in items)
                else f"{', '.join(sorted(set(items) - allowed))!s} not allowed; choose from: {choices}"
            )
        )
        return lists.astype(object), why.astype(object)
    text = s.astype(str).str.strip()
    why = pd.Series(np.where(text.isin(allowed), None, f"must be one of: {choices}"), index=s.index, dtype=object)
    return text.astype(object), why


_NORMALISERS = {
    "text": _text,
    "integer": lambda f, s: _numeric(f, s, integer=True),
    "number": lambda f, s: _numeric(f, s, integer=False),
    "boolean": _boolean,
    "date": _date,
    "datetime": _datetime,
    "enum": _enum,
}


def _plain(v):
    """A normalised cell as plain Python: None for every kind of missing value, numpy scalars unwrapped."""
    if v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, np.generic):
        return v.item()
    return v


def split_public_private(layer: Layer, clean: pd.DataFrame | dict, row: int = 0) -> tuple[dict, dict]:
    """One normalised row (of ``validate_frame``'s frame, or ``validate_row``'s dict) as plain-Python public and
    private property dicts; every field of the layer is present (None when empty), as in bulk imports, so each
    layer's properties share one shape."""
    public, private = {}, {}
    for f in layer.fields:
        v = clean.get(f.name) if isinstance(clean, dict) else _plain(clean[f.name].iloc[row])
        (public if f.public else private)[f.name] = v
    return public, private


# --- one row: the same rules, value by value -------------------------------------------------------------------
def validate_row(layer: Layer, row: dict, prefix: str = "properties.") -> tuple[dict, list[FieldProblem]]:
    """``validate_frame`` of a one-row frame, for one row given as a dict (an API report): the normalised
    values as plain Python (None when empty) and the problems (row 1), the same as the frame's. Each field's
    value goes through the scalar form of its rule (``_SCALAR``) when it is a value that form covers, else
    through the column rule on the one-value column a one-row frame would hold."""
    problems = [
        FieldProblem(f"{prefix}{name}", f"unknown field for layer {layer.id!r}")
        for name in row
        if not layer.field(name)
    ]
    clean = {}
    for f in layer.fields:
        value, reason = _normalise_value(f, row.get(f.name))
        if reason is not None:
            problems.append(FieldProblem(f"{prefix}{f.name}", reason, row=1))
        clean[f.name] = value
    return clean, problems


_DEFER = object()  # a scalar form's answer for a value it does not cover: the column rule decides
_PLAIN_TYPES = (type(None), str, int, float, bool, list)


def _normalise_value(f: Field, v) -> tuple[object, str | None]:
    """(normalised value, reason or None) of one value: ``_normalise`` of its one-value column."""
    kind = type(v)
    if kind in _PLAIN_TYPES and not (kind is str and not is_unicode(v)):
        if (
            v is None
            or (kind is float and math.isnan(v))
            or (kind is str and not v.strip())
            or (kind is list and not v)
        ):
            return None, "is required" if f.required else None
        found = _SCALAR[f.type](f, v)
        if found is not _DEFER:
            return found
    column = pd.DataFrame([{f.name: v}])[f.name]  # the column a one-row frame of this value holds
    values, reasons = _normalise(f, column)
    return _plain(values.iloc[0]), reasons.iloc[0]


def _text_value(f: Field, v):
    if type(v) is not str:
        return _DEFER
    text = v.strip()
    if "\x00" in text:
        return text, "must not contain NUL characters"
    return text, f"is longer than {f.max_length} characters" if len(text) > f.max_length else None


def _numeric_value(f: Field, v, integer: bool):
    if type(v) is float:
        num = v
    elif type(v) is int and abs(v) < 2**63:  # an int64 column; larger integers make other columns
        num = float(v)
    else:
        return _DEFER
    why = None
    if math.isinf(num):
        why = "must be finite"
    elif integer and num != math.floor(num):
        why = "must be a whole number"
    elif integer and abs(num) > MAX_EXACT_INTEGER:
        why = f"must be between -{MAX_EXACT_INTEGER} and {MAX_EXACT_INTEGER}"
    if why is None:
        if f.min is not None and num < f.min:
            why = f"must be >= {_fmt(f.min)}"
        if f.max is not None and num > f.max:
            why = f"must be <= {_fmt(f.max)}"
    if why is not None:
        return None, why
    return (int(num) if integer else num), None


def _boolean_value(f: Field, v):
    return (v, None) if type(v) is bool else _DEFER


_ISO_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})", re.ASCII)
_ISO_DATETIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})?",
    re.ASCII,
)
_PLAIN_YEARS = range(1700, 2201)  # well inside pandas' timestamps (1677–2262): other years defer to the column rule


def _date_value(f: Field, v):
    if type(v) is not str or not (m := _ISO_DATE.fullmatch(v.strip())) or int(m[1]) not in _PLAIN_YEARS:
        return _DEFER
    try:
        day = dt.date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:  # no such day: the column rule says so
        return _DEFER
    return day.strftime("%Y-%m-%d"), None


def _datetime_value(f: Field, v):
    if type(v) is not str or not (m := _ISO_DATETIME.fullmatch(v.strip())) or int(m[1]) not in _PLAIN_YEARS:
        return _DEFER
    offset = m[7]
    try:
        at = dt.datetime(*(int(m[i]) for i in range(1, 7)))
        if offset and offset != "Z":
            hours, minutes = int(offset[1:3]), int(offset[4:6])
            if hours > 23 or minutes > 59:
                return _DEFER
            at -= (1 if offset[0] == "+" else -1) * dt.timedelta(hours=hours, minutes=minutes)
    except ValueError:  # no such time: the column rule says so
        return _DEFER
    return at.strftime("%Y-%m-%dT%H:%M:%SZ"), None  # fractions of a second dropped, as the column rule does


def _enum_value(f: Field, v):
    allowed = f.values
    if f.multiple:
        if type(v) is not list or not all(type(i) is str for i in v):
            return _DEFER
        wrong = set(v).difference(allowed)
        reason = None if not wrong else f"{', '.join(sorted(wrong))} not allowed; choose from: {', '.join(allowed)}"
        return list(v), reason
    if type(v) is not str:
        return _DEFER
    text = v.strip()
    return text, None if text in allowed else f"must be one of: {', '.join(allowed)}"


_SCALAR = {
    "text": _text_value,
    "integer": lambda f, v: _numeric_value(f, v, integer=True),
    "number": lambda f, v: _numeric_value(f, v, integer=False),
    "boolean": _boolean_value,
    "date": _date_value,
    "datetime": _datetime_value,
    "enum": _enum_value,
}
