"""Names go into SQL quoted by psycopg2, never pasted; every builder of a statement binds through one allocator
(``store.params.Params``), so none can rebind another's names; and the plans stay those of the names written
in place."""

import re

import psycopg2
import pytest

from mapper.domain.privacy import View
from mapper.store import features
from mapper.store.cql import Compiler, Prop
from mapper.store.params import Params, Quoted, identifier, literal

HOSTILE = [
    "plain",
    "it's",
    'a "quoted" name',
    "back\\slash",
    "%(p0)s and %s",  # looks like a placeholder: a rendered value is never read again by the driver
    "x'); DROP TABLE reports; --",
    "ünïcødé ✓",
    "  spaced  ",
]


def placeholders(sql: str) -> list[str]:
    return re.findall(r"%\((\w+)\)s", sql)


@pytest.fixture
def cursor(engine):
    conn = engine.raw_connection()
    try:
        with conn.cursor() as cur:
            yield cur
    finally:
        conn.rollback()
        conn.close()


def test_two_builders_sharing_an_allocator_never_collide(cursor):
    """Two filters compiled into one statement, and a clause of another builder, each keep their values: with
    one compiler each, both would have named their first value f0 and the second would have replaced the first."""
    p = Params()
    props = {"x": Prop("v.x", "number")}
    one = Compiler(props, params=p).compile({"op": "=", "args": [{"property": "x"}, 1]})
    two = Compiler(props, params=p).compile({"op": "=", "args": [{"property": "x"}, 2]})
    three = p.bind(3)
    sql = f"SELECT {one.sql}, {two.sql}, {three} FROM (VALUES (1)) v(x)"
    assert len(set(placeholders(sql))) == 3 and one.params is p and two.params is p
    cursor.execute(sql, p)
    assert cursor.fetchone() == (True, False, 3)
    alone = [Compiler(props).compile({"op": "=", "args": [{"property": "x"}, v]}).params for v in (1, 2)]
    assert alone[0].keys() == alone[1].keys()  # what sharing the allocator prevents


def test_a_statement_extending_a_clause_allocates_after_it(registry, cursor):
    """``Params(where.params)`` keeps every name of the clause and its value, and binds new ones beside them;
    the clause's own parameters are left as they were."""
    view = View(registry.get("crime"), exact=True)
    where = features.where_for(
        view, bboxes=[(-83.1, 39.9, -82.9, 40.0)], cql={"op": ">", "args": [{"property": "severity"}, 2]}
    )
    before = dict(where.params)
    p = Params(where.params)
    new = [p.bind(v) for v in (10_001, 10_002, "another")]
    assert dict(where.params) == before and {k: p[k] for k in before} == before
    assert not set(placeholders(" ".join(new))) & set(before)
    sql, params = features.page_sql(view, where, after=5, before=None, limit=7, estimate=features.fixed_estimate(3))
    assert set(placeholders(sql)) <= set(params) and dict(where.params) == before
    cursor.execute(sql, params)
    assert cursor.fetchone() is not None


def test_a_value_bound_again_shares_its_placeholder():
    p = Params()
    assert p.bind("crime") == p.bind("crime") and p.bind(["a", "b"]) == p.bind(["a", "b"])
    assert len({p.bind(1), p.bind(True), p.bind(1.0), p.bind("1")}) == 4  # equal in Python, not the same value
    assert p.ident("crime") != p.literal("crime") != p.bind("crime")
    assert p.bind(7, "::numeric").endswith("s::numeric") and p.bind({"a": 1}) != p.bind({"a": 1})


@pytest.mark.parametrize("name", HOSTILE)
def test_names_are_quoted_by_psycopg2_with_the_executing_connection(cursor, name):
    p = Params()
    cursor.execute(f"SELECT {p.literal(name)} AS {p.ident(name)}, %(p9)s::text", dict(p, p9="x"))
    assert cursor.fetchone() == (name, "x") and cursor.description[0].name == name
    assert identifier(name).render(cursor.connection) == psycopg2.sql.Identifier(name).as_string(cursor).encode()
    assert literal(name).render(cursor.connection) == psycopg2.sql.Literal(name).as_string(cursor).encode()


def test_names_that_cannot_be_quoted_are_refused():
    for bad in ("", "a\x00b", None):
        with pytest.raises(ValueError):
            Params().ident(bad)
        with pytest.raises(ValueError):
            Params().literal(bad)
    with pytest.raises(TypeError):  # a Quoted is only rendered for a statement on a connection
        psycopg2.extensions.adapt(Quoted(psycopg2.sql.Identifier("x"))).getquoted()


def test_a_filter_on_a_field_still_matches_an_expression_index(registry, cursor):
    """The field name reaches the server as the literal it would be written as, so an expression index on
    ``((properties ->> 'severity')::numeric)`` serves a CQL filter on severity."""
    view = View(registry.get("crime"), exact=True)
    cursor.execute(
        "CREATE INDEX test_severity_idx ON reports (((properties ->> 'severity')::numeric)); "
        "SET LOCAL enable_seqscan = off"
    )
    p = Params()
    compiled = Compiler(features.queryables(view, p), params=p).compile(
        {"op": ">=", "args": [{"property": "severity"}, 4]}
    )
    cursor.execute(f"EXPLAIN SELECT 1 FROM reports r WHERE {compiled.sql}", p)
    plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "test_severity_idx" in plan, plan
