"""CQL2 → SQL. Text is parsed by ``cql2`` (cql2-rs) into CQL2 JSON; this module walks that JSON with an
allow-list of operators, resolves property names through the caller's catalogue (only the fields the
caller may see), and binds every value as a parameter (psycopg2 ``%(name)s`` style).

Every operation's arguments are checked against ``SIGNATURES`` (arity and the shape of each argument) before
it is compiled, in one place (``check_arguments``), so the compiling methods only meet well-shaped input.
"""

from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import cql2
import shapely
from shapely.geometry import shape

from mapper.domain.errors import BadRequest, FieldProblem
from mapper.domain.values import is_unicode
from mapper.store.params import Params

log = logging.getLogger(__name__)
COMPARISONS = {"=": "=", "<>": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
SPATIAL = {
    "s_intersects": "ST_Intersects",
    "s_within": "ST_Within",
    "s_contains": "ST_Contains",
    "s_disjoint": "ST_Disjoint",
}
TEMPORAL = {"t_intersects", "t_before", "t_after", "t_during", "anyinteracts"}
MAX_NODES = 200
LANGUAGES = ("cql2-text", "cql2-json", "cql-text")  # ``filter-lang``; cql-text is an alias of cql2-text
DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
RFC3339 = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})")
MORE = "..."  # in a signature: the shape before it repeats (variadic operators)
# Each operator's arguments, by shape (see SHAPES): what ``Compiler.node`` may rely on once they are checked.
SIGNATURES: dict[str, tuple[str, ...]] = {
    "and": ("expression", "expression", MORE),
    "or": ("expression", "expression", MORE),
    "not": ("expression",),
    **{op: ("operand", "operand") for op in COMPARISONS},
    "like": ("property", "scalar"),
    "in": ("property", "list"),
    "between": ("property", "scalar", "scalar"),
    "isnull": ("property",),
    **{op: ("property", "geometry") for op in SPATIAL},
    **{op: ("property", "temporal") for op in TEMPORAL},
}


@dataclass(frozen=True)
class Prop:
    """A queryable: its SQL expression and kind (text, number, boolean, timestamp, date, list, geometry)."""

    sql: str
    kind: str


@dataclass
class Compiled:
    sql: str
    params: dict = field(default_factory=dict)


def parse(text: str | None, lang: str = "cql2-text") -> dict:
    """CQL2 JSON from a ``filter`` parameter; BadRequest when it does not parse. The parsers' own messages
    are logged, not returned: the reason names the position (CQL2 text) or the JSON error, in our words."""
    if lang in ("cql2-text", "cql-text"):
        try:
            return cql2.Expr(text).to_json()
        except Exception as e:  # noqa: BLE001 - cql2 raises plain Exceptions (and ValueErrors, OverflowErrors)
            log.info("CQL2 text refused: %s", e)
            where = re.search(r"--> (\d+):(\d+)", str(e))
            at = f" (at line {where[1]}, column {where[2]})" if where else ""
            raise _bad(f"the filter does not parse as CQL2 text{at}") from None
    if lang == "cql2-json":
        if not isinstance(text, str):
            return text
        try:
            return json.loads(text, parse_constant=_no_constant)
        except RecursionError:
            raise _bad("the filter does not parse: it nests too deeply") from None
        except json.JSONDecodeError as e:
            raise _bad(f"the filter does not parse as JSON (at character {e.pos + 1})") from None
        except ValueError:
            raise _bad("the filter does not parse as JSON (NaN and Infinity are not JSON)") from None
    raise _bad(f"unsupported filter-lang {_short(lang)} (use cql2-text or cql2-json)", "filter-lang")


def _no_constant(name: str):
    raise ValueError(name)


def _bad(reason: str, field_name: str = "filter") -> BadRequest:
    return BadRequest(f"Invalid {field_name}: {reason}", [FieldProblem(field_name, reason)])


def _short(value, limit: int = 80) -> str:
    """A value for a message: repr of a string (cut), else the JSON kind of the value (never the value)."""
    if isinstance(value, str):
        return repr(value if len(value) <= limit else value[:limit] + "…")
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, (int, float)):
        return _number_text(value)
    return "a list" if isinstance(value, list) else "an object" if isinstance(value, dict) else type(value).__name__


def _number_text(value) -> str:
    text = repr(value)
    return text if len(text) <= 30 else "a number of " + str(len(text)) + " digits"


# --- argument shapes: each returns why ``arg`` does not have the shape, or None ---------------------------
def _string_problem(s: str) -> str | None:
    if "\x00" in s:
        return "string literals must not contain NUL characters"
    if not is_unicode(s):
        return "string literals must be valid Unicode (no lone surrogates)"
    return None


def _number_problem(n) -> str | None:
    if isinstance(n, float) and not math.isfinite(n):
        return f"{n!r} is not a finite number"
    if isinstance(n, int):
        try:
            float(n)
        except OverflowError:
            return "the number is too large"
    return None


def _is_number(arg) -> bool:
    return isinstance(arg, (int, float)) and not isinstance(arg, bool)


def _op_argument(arg) -> str | None:
    if isinstance(arg, dict) and "op" in arg:
        return f"unsupported operator or function {_short(str(arg['op']))} as an argument"
    return None


def _expression(arg) -> str | None:
    if isinstance(arg, bool) or (isinstance(arg, dict) and "op" in arg):
        return None
    return f"expected an operation, got {_short(arg)}"


def _property(arg) -> str | None:
    if why := _op_argument(arg):
        return why
    if not (isinstance(arg, dict) and set(arg) == {"property"}):
        return f"expected a property reference, got {_short(arg)}"
    if not isinstance(arg["property"], str):
        return f"a property name must be a string, got {_short(arg['property'])}"
    return None


def _scalar(arg) -> str | None:
    if why := _op_argument(arg):
        return why
    if isinstance(arg, dict) and len(arg) == 1 and ("timestamp" in arg or "date" in arg):
        inner = next(iter(arg.values()))
        if not isinstance(inner, str):
            return f"a {next(iter(arg))} must be a string, got {_short(inner)}"
        return _string_problem(inner)
    if isinstance(arg, str):
        return _string_problem(arg)
    if _is_number(arg):
        return _number_problem(arg)
    if isinstance(arg, bool):
        return None
    return f"expected a literal, got {_short(arg)}"


def _operand(arg) -> str | None:
    if isinstance(arg, dict) and "property" in arg:
        return _property(arg)
    return _scalar(arg)


def _list(arg) -> str | None:
    if not isinstance(arg, list) or not arg:
        return "IN needs a non-empty list"
    return next((why for v in arg if (why := _scalar(v))), None)


def _geometry(arg) -> str | None:
    if isinstance(arg, dict) and "bbox" in arg:
        b = arg["bbox"]
        if not (isinstance(b, list) and len(b) in (4, 6) and all(_is_number(v) for v in b)):
            return "a bbox must be a list of 4 or 6 numbers"
        if not all(_number_problem(v) is None and math.isfinite(v) for v in b):
            return "a bbox must be a list of 4 or 6 finite numbers"
        return None
    if isinstance(arg, dict) and isinstance(arg.get("type"), str):
        return None
    return "the spatial literal is not a geometry"


def _time_end(end) -> str | None:
    if end is None or (isinstance(end, str) and end == ".."):
        return None
    if isinstance(end, str) or (isinstance(end, dict) and ("timestamp" in end or "date" in end)):
        return _scalar(end)
    return f"expected an instant, got {_short(end)}"


def _temporal(arg) -> str | None:
    if isinstance(arg, dict) and "interval" in arg:
        interval = arg["interval"]
        if not (isinstance(interval, list) and len(interval) == 2):
            return "an interval must be a list of two instants (start, end; '..' for an open end)"
        return next((why for end in interval if (why := _time_end(end))), None)
    if arg is None or arg == "..":
        return "expected an instant or an interval"
    return _time_end(arg)


SHAPES = {
    "expression": _expression,
    "property": _property,
    "operand": _operand,
    "scalar": _scalar,
    "list": _list,
    "geometry": _geometry,
    "temporal": _temporal,
}


def check_arguments(op: str, args) -> None:
    """Refuse an operation whose arguments do not fit ``SIGNATURES[op]`` (BadRequest naming which and why)."""
    signature = SIGNATURES.get(op)
    if signature is None:
        raise _bad(f"unsupported operator or function {_short(op)}")
    if not isinstance(args, list):
        raise _bad(f"the arguments of {op.upper()} must be a list")
    variadic = signature[-1] == MORE
    shapes = signature[:-1] if variadic else signature
    if len(args) < len(shapes) or (not variadic and len(args) > len(shapes)):
        count = f"at least {len(shapes)}" if variadic else str(len(shapes))
        raise _bad(f"{op.upper()} takes {count} argument{'s' if len(shapes) > 1 else ''}, got {len(args)}")
    for i, arg in enumerate(args):
        why = SHAPES[shapes[min(i, len(shapes) - 1)]](arg)
        if why:
            raise _bad(f"argument {i + 1} of {op.upper()}: {why}")


class Compiler:
    """Compiles one CQL2 JSON expression against a catalogue of queryables."""

    def __init__(self, props: dict[str, Prop], prefix: str = "f", params: Params | None = None):
        """``params``: the allocator of the statement the filter goes into (store.params), else one of its own."""
        self.props, self.prefix = props, prefix
        self.params = Params(prefix=prefix) if params is None else params
        self.nodes = 0

    def compile(self, expr) -> Compiled:
        return Compiled(self.node(expr), self.params)

    # --- values -------------------------------------------------------------------------------------
    def bind(self, value, cast: str = "") -> str:
        return self.params.bind(value, cast)

    def prop(self, arg) -> Prop:
        """The queryable ``arg`` (a checked property reference) names."""
        name = arg["property"]
        if name not in self.props:
            raise _bad(f"unknown property {_short(name)}; queryables: {', '.join(sorted(self.props))}")
        return self.props[name]

    def single_valued(self, op: str, arg) -> Prop:
        p = self.prop(arg)
        if p.kind == "list":
            raise _bad(f"{op.upper()} does not apply to multiple-choice properties (use = to test for a choice)")
        return p

    def literal(self, arg, kind: str) -> str:
        """Bind a (checked) literal, checked against the kind of the property it is compared with."""
        if isinstance(arg, dict) and "timestamp" in arg:
            arg = arg["timestamp"]
        elif isinstance(arg, dict) and "date" in arg:
            arg = arg["date"]
        if isinstance(arg, (dict, list)) or arg is None:
            raise _bad(f"expected a literal, got {_short(arg)}")
        if kind == "number":
            if not _is_number(arg):
                raise _bad(f"{_short(arg)} is not a number")
            return self.bind(arg, "::numeric")
        if kind == "boolean":
            if not isinstance(arg, bool):
                raise _bad(f"{_short(arg)} is not true or false")
            return self.bind(arg)
        if kind in ("timestamp", "date"):
            return self.bind(*instant(arg, kind))
        if kind in ("text", "list"):
            if not isinstance(arg, str):
                raise _bad(f"{_short(arg)} is not a string")
            return self.bind(arg)
        raise _bad(f"cannot compare a {kind} property with a literal")

    def geometry(self, arg) -> tuple[str, object]:
        """Bind a (checked) spatial literal: a bbox, or a GeoJSON geometry within WGS 84's range."""
        try:
            if "bbox" in arg:
                b = arg["bbox"]
                geom = shapely.box(b[0], b[1], b[2], b[3]) if len(b) == 4 else shapely.box(b[0], b[1], b[3], b[4])
            else:
                geom = shape(arg)
            coords = shapely.get_coordinates(geom)
        except Exception:  # noqa: BLE001 - shapely refuses malformed GeoJSON with many exception types
            raise _bad("the spatial literal is not a geometry") from None
        if geom.is_empty or not (abs(coords[:, 0]) <= 180).all() or not (abs(coords[:, 1]) <= 90).all():
            raise _bad("the spatial literal must be a non-empty WGS 84 geometry within ±180/±90")
        return self.bind(geom.wkb_hex, "::geometry"), geom

    # --- nodes --------------------------------------------------------------------------------------
    def node(self, expr) -> str:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _bad(f"the filter has more than {MAX_NODES} nodes")
        if isinstance(expr, bool):
            return "TRUE" if expr else "FALSE"
        if why := _expression(expr):
            raise _bad(why)
        op, args = expr["op"], expr.get("args", [])
        if not isinstance(op, str):
            raise _bad(f"an operator must be a string, got {_short(op)}")
        op = op.lower()
        check_arguments(op, args)
        if op in ("and", "or"):
            return "(" + f" {op.upper()} ".join(self.node(a) for a in args) + ")"
        if op == "not":
            return f"(NOT {self.node(args[0])})"
        if op in COMPARISONS:
            return self.comparison(op, args)
        if op == "like":
            p = self.prop(args[0])
            if p.kind != "text":
                raise _bad("LIKE applies to text properties only")
            return f"({p.sql} LIKE {self.literal(args[1], 'text')})"
        if op == "in":
            p = self.single_valued(op, args[0])
            return f"({p.sql} IN ({', '.join(self.literal(v, p.kind) for v in args[1])}))"
        if op == "between":
            p = self.single_valued(op, args[0])
            return f"({p.sql} BETWEEN {self.literal(args[1], p.kind)} AND {self.literal(args[2], p.kind)})"
        if op == "isnull":
            return f"({self.prop(args[0]).sql} IS NULL)"
        if op in SPATIAL:
            return self.spatial(op, args)
        return self.temporal(op, args)

    def comparison(self, op: str, args: list) -> str:
        left, right = args
        if not (isinstance(left, dict) and "property" in left) and isinstance(right, dict) and "property" in right:
            left, right = right, left
            op = {"<": ">", ">": "<", "<=": ">=", ">=": "<="}.get(op, op)
        if why := _property(left):
            raise _bad(why)
        p = self.prop(left)
        if p.kind == "list":  # a multiple-choice field: = means "contains"
            if op not in ("=", "<>"):
                raise _bad("only = and <> apply to multiple-choice properties")
            test = f"({p.sql} ? {self.literal(right, 'text')})"
            return test if op == "=" else f"(NOT {test})"
        if p.kind == "geometry":
            raise _bad("use a spatial operator (S_INTERSECTS…) with the geometry")
        return f"({p.sql} {COMPARISONS[op]} {self.literal(right, p.kind)})"

    def spatial(self, op: str, args: list) -> str:
        p = self.prop(args[0])
        if p.kind != "geometry":
            raise _bad(f"{op.upper()} needs the geometry property first")
        lit, _ = self.geometry(args[1])
        return f"({SPATIAL[op]}({p.sql}, ST_SetSRID({lit}, 4326)))"

    def temporal(self, op: str, args: list) -> str:
        p = self.prop(args[0])
        if p.kind not in ("timestamp", "date"):
            raise _bad(f"{op.upper()} needs a temporal property first")
        arg = args[1]
        start, end = arg["interval"] if isinstance(arg, dict) and "interval" in arg else (arg, arg)
        lo = None if start in ("..", None) else self.literal(start, p.kind)
        hi = None if end in ("..", None) else self.literal(end, p.kind)
        conds = {
            "t_intersects": [f"{p.sql} >= {lo}" if lo else None, f"{p.sql} <= {hi}" if hi else None],
            "anyinteracts": [f"{p.sql} >= {lo}" if lo else None, f"{p.sql} <= {hi}" if hi else None],
            "t_during": [f"{p.sql} > {lo}" if lo else None, f"{p.sql} < {hi}" if hi else None],
            "t_before": [f"{p.sql} < {lo}" if lo else "FALSE"],
            "t_after": [f"{p.sql} > {hi}" if hi else "FALSE"],
        }[op]
        return "(" + " AND ".join(c for c in conds if c) + ")" if any(conds) else "TRUE"


def instant(text, kind: str = "timestamp", field_name: str = "filter") -> tuple[str, str]:
    """An RFC 3339 instant as (value, cast) to bind: a date for ``kind`` date, else a timestamp converted to
    UTC (a date alone is its midnight UTC; seconds and the offset are required). PostgreSQL refuses UTC
    offsets beyond ±15:59 that Python and RFC 3339 allow, so the offset is applied here, never sent.
    BadRequest on ``field_name`` when ``text`` is not an instant or is out of range."""
    text = str(text)
    what = "date" if kind == "date" else "date-time"
    try:
        if len(text) == 10:
            if not DATE.fullmatch(text):
                raise ValueError(text)
            day = date.fromisoformat(text)
            if kind == "date":
                return day.isoformat(), "::date"
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
        else:
            if not RFC3339.fullmatch(text):
                raise ValueError(text)
            moment = datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
            if kind == "date":
                return moment.date().isoformat(), "::date"
            moment = moment.astimezone(UTC)
    except ValueError:
        raise _bad(f"{_short(text)} is not an RFC 3339 {what}", field_name) from None
    except OverflowError:  # an offset that takes year 1 or 9999 out of range
        raise _bad(f"{_short(text)} is out of the supported range (years 1 to 9999, in UTC)", field_name) from None
    return moment.isoformat(), "::timestamptz"
