"""CQL2 → SQL. Text is parsed by ``cql2`` (cql2-rs) into CQL2 JSON; this module walks that JSON with an
allow-list of operators, resolves property names through the caller's catalogue (only the fields the
caller may see), and binds every value as a parameter (psycopg2 ``%(name)s`` style)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import date, datetime

import cql2
import shapely
from shapely.geometry import shape

from mapper.domain.errors import BadRequest, FieldProblem

COMPARISONS = {"=": "=", "<>": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
SPATIAL = {
    "s_intersects": "ST_Intersects",
    "s_within": "ST_Within",
    "s_contains": "ST_Contains",
    "s_disjoint": "ST_Disjoint",
}
TEMPORAL = {"t_intersects", "t_before", "t_after", "t_during", "anyinteracts"}
MAX_NODES = 200


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
    """CQL2 JSON from a ``filter`` parameter; BadRequest when it does not parse."""
    try:
        if lang in ("cql2-text", "cql-text"):
            return cql2.Expr(text).to_json()
        if lang == "cql2-json":
            return json.loads(text) if isinstance(text, str) else text
    except (ValueError, Exception) as e:  # cql2 raises its own ParseError types
        raise _bad(f"the filter does not parse: {str(e).splitlines()[0][:200]}") from None
    raise _bad(f"unsupported filter-lang {lang!r} (use cql2-text or cql2-json)", "filter-lang")


def _bad(reason: str, field_name: str = "filter") -> BadRequest:
    return BadRequest(f"Invalid {field_name}: {reason}", [FieldProblem(field_name, reason)])


class Compiler:
    """Compiles one CQL2 JSON expression against a catalogue of queryables."""

    def __init__(self, props: dict[str, Prop], prefix: str = "f"):
        self.props, self.prefix = props, prefix
        self.params: dict = {}
        self.nodes = 0

    def compile(self, expr) -> Compiled:
        return Compiled(self.node(expr), self.params)

    # --- values -------------------------------------------------------------------------------------
    def bind(self, value, cast: str = "") -> str:
        name = f"{self.prefix}{len(self.params)}"
        self.params[name] = value
        return f"%({name})s{cast}"

    def prop(self, arg) -> Prop:
        if isinstance(arg, dict) and "op" in arg:
            raise _bad(f"unsupported operator or function {str(arg['op'])!r} as an argument")
        if not (isinstance(arg, dict) and set(arg) == {"property"}):
            raise _bad(f"expected a property reference, got {json.dumps(arg)[:80]}")
        name = arg["property"]
        if name not in self.props:
            raise _bad(f"unknown property {name!r}; queryables: {', '.join(sorted(self.props))}")
        return self.props[name]

    def literal(self, arg, kind: str) -> str:
        """Bind a literal, checked against the kind of the property it is compared with."""
        if isinstance(arg, dict) and "timestamp" in arg:
            arg = arg["timestamp"]
        elif isinstance(arg, dict) and "date" in arg:
            arg = arg["date"]
        if isinstance(arg, (dict, list)) or arg is None:
            raise _bad(f"expected a literal, got {json.dumps(arg)[:80]}")
        if kind == "number":
            if isinstance(arg, bool) or not isinstance(arg, (int, float)) or not math.isfinite(arg):
                raise _bad(f"{arg!r} is not a number")
            return self.bind(arg, "::numeric")
        if kind == "boolean":
            if not isinstance(arg, bool):
                raise _bad(f"{arg!r} is not true or false")
            return self.bind(arg)
        if kind in ("timestamp", "date"):
            try:
                parsed = (
                    date.fromisoformat(arg)
                    if kind == "date" and len(str(arg)) == 10
                    else datetime.fromisoformat(str(arg).replace("Z", "+00:00"))
                )
            except ValueError:
                raise _bad(f"{arg!r} is not an ISO 8601 {'date' if kind == 'date' else 'timestamp'}") from None
            return self.bind(parsed.isoformat(), "::timestamptz" if kind == "timestamp" else "::date")
        if kind in ("text", "list"):
            if not isinstance(arg, str):
                raise _bad(f"{arg!r} is not a string")
            if "\x00" in arg:
                raise _bad("string literals must not contain NUL characters")
            return self.bind(arg)
        raise _bad(f"cannot compare a {kind} property with a literal")

    def geometry(self, arg) -> tuple[str, object]:
        if isinstance(arg, dict) and "bbox" in arg:
            b = arg["bbox"]
            geom = shapely.box(b[0], b[1], b[2], b[3]) if len(b) == 4 else shapely.box(b[0], b[1], b[3], b[4])
        else:
            try:
                geom = shape(arg)
            except Exception:
                raise _bad("the spatial literal is not a geometry") from None
        coords = shapely.get_coordinates(geom)
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
        if not isinstance(expr, dict) or "op" not in expr:
            raise _bad(f"expected an operation, got {json.dumps(expr)[:80]}")
        op, args = str(expr["op"]).lower(), expr.get("args", [])
        if not isinstance(args, list):
            raise _bad(f"the arguments of {op} must be a list")
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
            p = self.prop(args[0])
            if not isinstance(args[1], list) or not args[1]:
                raise _bad("IN needs a non-empty list")
            return f"({p.sql} IN ({', '.join(self.literal(v, p.kind) for v in args[1])}))"
        if op == "between":
            p = self.prop(args[0])
            return f"({p.sql} BETWEEN {self.literal(args[1], p.kind)} AND {self.literal(args[2], p.kind)})"
        if op == "isnull":
            return f"({self.prop(args[0]).sql} IS NULL)"
        if op in SPATIAL:
            return self.spatial(op, args)
        if op in TEMPORAL:
            return self.temporal(op, args)
        raise _bad(f"unsupported operator or function {op!r}")

    def comparison(self, op: str, args: list) -> str:
        if len(args) != 2:
            raise _bad(f"{op} takes two arguments")
        left, right = args
        if not (isinstance(left, dict) and "property" in left) and isinstance(right, dict) and "property" in right:
            left, right = right, left
            op = {"<": ">", ">": "<", "<=": ">=", ">=": "<="}.get(op, op)
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
        if isinstance(arg, dict) and "interval" in arg:
            start, end = arg["interval"]
        else:
            start = end = arg
        lo = (
            None
            if start in ("..", None)
            else self.literal(start if isinstance(start, dict) else {"timestamp": start}, p.kind)
        )
        hi = None if end in ("..", None) else self.literal(end if isinstance(end, dict) else {"timestamp": end}, p.kind)
        conds = {
            "t_intersects": [f"{p.sql} >= {lo}" if lo else None, f"{p.sql} <= {hi}" if hi else None],
            "anyinteracts": [f"{p.sql} >= {lo}" if lo else None, f"{p.sql} <= {hi}" if hi else None],
            "t_during": [f"{p.sql} > {lo}" if lo else None, f"{p.sql} < {hi}" if hi else None],
            "t_before": [f"{p.sql} < {lo}" if lo else "FALSE"],
            "t_after": [f"{p.sql} > {hi}" if hi else "FALSE"],
        }[op]
        return "(" + " AND ".join(c for c in conds if c) + ")" if any(conds) else "TRUE"
