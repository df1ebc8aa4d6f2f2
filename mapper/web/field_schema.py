"""JSON Schema of a layer field: one definition for the OGC queryables and the OpenAPI document."""

from __future__ import annotations

from mapper.domain.layers import Field

JSON_TYPES = {
    "text": "string",
    "enum": "string",
    "integer": "integer",
    "number": "number",
    "boolean": "boolean",
    "date": "string",
    "datetime": "string",
}


def field_schema(f: Field) -> dict:
    """The JSON Schema of one field's values (an array of choices for multiple-choice fields)."""
    s: dict = {"type": JSON_TYPES[f.type]}
    if f.type == "datetime":
        s["format"] = "date-time"
    if f.type == "date":
        s["format"] = "date"
    if f.values:
        s["enum"] = list(f.values)
    if f.min is not None:
        s["minimum"] = f.min
    if f.max is not None:
        s["maximum"] = f.max
    if f.type == "text":
        s["maxLength"] = f.max_length
    if f.multiple:
        s = {"type": "array", "items": s}
    return s
