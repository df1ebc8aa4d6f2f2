"""Names go into SQL quoted by psycopg2, never pasted; every builder of a statement binds through one allocator
(``store.params.Params``), so none can rebind another's names; and the plans stay those of the names written
in place."""

import csv
import io
import json
import math
import re
import shutil

import psycopg2
import pyogrio
import pytest
import shapely

from mapper import create_app
from mapper.config import PROJECT_ROOT
from mapper.domain.layers import Field, Layer
from mapper.domain.privacy import View
from mapper.services.tokens import create_api_token
from mapper.store import features, reports
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


# --- unusual names, end to end -----------------------------------------------------------------------------
LONG = "a" + "bcdefghij" * 6 + "kl"  # 63 characters: the longest name the loader (and PostgreSQL) take
ODD_LAYER = f"""
id = "select"
title = "Names that are SQL words"
geometry = "point"
time_field = "from"

[sensitivity]
precision_m = 100
exact_audiences = ["admin"]

[[fields]]
name = "from"
type = "datetime"
[[fields]]
name = "order"
type = "integer"
[[fields]]
name = "offset"
type = "number"
[[fields]]
name = "group"
type = "enum"
values = ["a b", "it's"]
[[fields]]
name = "user"
type = "enum"
multiple = true
values = ["x", "y"]
[[fields]]
name = "end"
type = "boolean"
[[fields]]
name = "properties"
type = "text"
[[fields]]
name = "r"
type = "date"
[[fields]]
name = "{LONG}"
type = "text"
[[fields]]
name = "p0"
type = "text"
public = false
"""
ODD_REPORTS = [
    {"from": "2026-01-0{}T10:00:00Z", "order": 1, "offset": 1.5, "group": "a b", "user": ["x"], "end": True,
     "properties": "one", "r": "2026-02-01", LONG: "long 1", "p0": "secret 1"},
    {"from": "2026-01-0{}T10:00:00Z", "order": 2, "offset": 2.5, "group": "it's", "user": ["x", "y"], "end": False,
     "properties": "two", "r": "2026-02-02", LONG: "long 2", "p0": "secret 2"},
    {"from": "2026-01-0{}T10:00:00Z", "order": 3, "offset": 3.5, "group": "it's", "user": ["y"], "end": True,
     "properties": "three", "r": "2026-02-03", LONG: "long 3", "p0": "secret 3"},
]  # fmt: skip
PUBLIC = [k for k in ODD_REPORTS[0] if k != "p0"]


def tile_of(lon, lat, z):
    n = 2**z
    return z, int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


@pytest.fixture
def odd(tmp_path, database_url, clean):
    """An app whose layers include ``select``, every field named after an SQL word or a name our SQL uses, and
    three reports in it."""
    layers = tmp_path / "layers"
    shutil.copytree(PROJECT_ROOT / "layers", layers)
    (layers / "select.toml").write_text(ODD_LAYER)
    app = create_app({"DATABASE_URL": database_url, "LAYERS_DIR": str(layers), "TILES_URL": "", "SECRET_KEY": "t"})
    client = app.test_client()
    ids = []
    for i, props in enumerate(ODD_REPORTS):
        props = dict(props, **{"from": props["from"].format(i + 1)})
        r = client.post(
            "/api/layers/select/reports",
            json={"type": "Feature", "geometry": {"type": "Point", "coordinates": [2.35 + i / 1000, 48.85]},
                  "properties": props},
        )  # fmt: skip
        assert r.status_code == 201, r.get_json()
        ids.append(r.get_json()["id"])
    admin = {"Authorization": f"Bearer {create_api_token(app.extensions['mapper.engine'], 'admin', 'odd')}"}
    return client, ids, admin


def features_of(client, path, **kw):
    r = client.get(path, **kw)
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    return r.get_json()["features"]


def test_a_layer_named_with_sql_words_works_in_items_and_filters(odd):
    client, ids, admin = odd
    items = features_of(client, "/ogc/collections/select/items")
    assert [f["id"] for f in items] == ids
    for feature, sent in zip(items, ODD_REPORTS, strict=True):
        props = feature["properties"]
        assert {k: props[k] for k in PUBLIC if k != "from"} == {k: sent[k] for k in PUBLIC if k != "from"}
        assert "p0" not in props and props["status"] == "submitted"
    staff = features_of(client, "/ogc/collections/select/items", headers=admin)
    assert [f["properties"]["p0"] for f in staff] == ["secret 1", "secret 2", "secret 3"]
    cql = {"op": "and", "args": [{"op": ">=", "args": [{"property": "order"}, 2]},
                                 {"op": "=", "args": [{"property": "user"}, "x"]}]}  # fmt: skip
    for query, expected in [
        ({"filter": json.dumps(cql), "filter-lang": "cql2-json"}, ids[1:2]),
        ({"group": "it's"}, ids[1:]),
        ({"order": "1"}, ids[:1]),
        ({"end": "true"}, [ids[0], ids[2]]),
        ({"properties": "three"}, ids[2:]),
        ({LONG: "long 2"}, ids[1:2]),
        ({"filter": "r >= DATE('2026-02-02') AND \"offset\" < 3"}, ids[1:2]),
        ({"datetime": "2026-01-02T00:00:00Z/.."}, ids[1:]),
        ({"cursor": f"a{ids[0]}"}, ids[1:]),
    ]:
        got = [f["id"] for f in features_of(client, "/ogc/collections/select/items", query_string=query)]
        assert got == expected, query
    p0 = {"filter": json.dumps({"op": "=", "args": [{"property": "p0"}, "secret 3"]}), "filter-lang": "cql2-json"}
    assert [f["id"] for f in features_of(client, "/ogc/collections/select/items", query_string=p0, headers=admin)] == [
        ids[2]
    ]
    assert client.get("/ogc/collections/select/items", query_string=p0).status_code == 400  # private to the public
    assert set(PUBLIC) <= set(client.get("/ogc/collections/select/queryables").get_json()["properties"])


def test_a_layer_named_with_sql_words_works_in_tiles_and_exports(odd, tmp_path):
    client, ids, admin = odd
    z, x, y = tile_of(2.351, 48.85, 10)  # a tile holding the reports and their published (100 m) locations
    for headers, name in (({}, "public.mvt"), (admin, "staff.mvt")):
        r = client.get(f"/tiles/select/{z}/{x}/{y}.mvt", headers=headers)
        assert r.status_code == 200
        (tmp_path / name).write_bytes(r.data)
        df = pyogrio.read_dataframe(tmp_path / name, layer="select", X=x, Y=y, Z=z).sort_values("order")
        assert df["order"].tolist() == [1, 2, 3] and df["offset"].tolist() == [1.5, 2.5, 3.5]
        assert df["user"].tolist() == ["x", "x;y", "y"] and df["group"].tolist() == ["a b", "it's", "it's"]
        assert df[LONG].tolist() == ["long 1", "long 2", "long 3"] and df["properties"].tolist() == [
            "one",
            "two",
            "three",
        ]
        assert ("p0" in df.columns) == bool(headers)
    rows = list(csv.DictReader(io.StringIO(client.get("/export/select.csv").get_data(as_text=True))))
    assert [int(r["id"]) for r in rows] == ids and [r["order"] for r in rows] == ["1", "2", "3"]
    assert [r[LONG] for r in rows] == ["long 1", "long 2", "long 3"] and [r["user"] for r in rows] == ["x", "x;y", "y"]
    assert "p0" not in rows[0] and set(PUBLIC) <= set(rows[0])
    for fmt in ("geojson", "gpkg"):
        r = client.get(f"/export/select.{fmt}", headers=admin)
        assert r.status_code == 200
        (tmp_path / f"select.{fmt}").write_bytes(r.data)
        df = pyogrio.read_dataframe(tmp_path / f"select.{fmt}")
        assert df["p0"].tolist() == ["secret 1", "secret 2", "secret 3"] and df["order"].tolist() == [1, 2, 3]
        assert df["group"].tolist() == ["a b", "it's", "it's"]


def test_the_sql_does_not_rely_on_the_loader_for_names(engine, clean, cursor):
    """Field and layer names the loader would refuse — quotes, spaces, SQL — still reach SQL quoted: the store
    reads and prints them exactly, in pages, tiles and CSV."""
    import csv
    import io

    names = ["it's", 'a "b"', "x'); DROP TABLE reports; --", "%(p0)s", "back\\slash"]
    layer = Layer(
        id="odd",  # a CHECK keeps layer ids to [a-z][a-z0-9_]*; field names have no such guard
        title="odd",
        description="",
        geometry="point",
        fields=tuple(Field(n, "text", n) for n in names) + (Field("n'um", "integer", "n"),),
        exact_audiences=("admin",),
    )
    with engine.begin() as conn:
        for i in range(3):
            props = {n: f"{n} {i}" for n in names} | {"n'um": i}
            reports.insert_report(conn, layer, shapely.Point(2.35, 48.85), props, {}, None, "test", None)
    view = View(layer, exact=True)
    where = features.where_for(view, cql={"op": ">", "args": [{"property": "n'um"}, 0]})
    for expected in (2, 100_000):  # both read plans: matches first, and the id index walked
        cursor.execute(
            *features.page_sql(
                view, where, after=None, before=None, limit=10, estimate=features.fixed_estimate(expected)
            )
        )
        printed = [f["properties"] for f in json.loads("[" + cursor.fetchone()[7] + "]")]
        assert [{k: v for k, v in p.items() if k != "observed_at"} for p in printed] == [
            {**{n: f"{n} {i}" for n in names}, "n'um": i, "status": "submitted"} for i in (1, 2)
        ]
    tile = features.where_for(view, tile=tile_of(2.35, 48.85, 12))
    cursor.execute(*features.tile_sql(view, tile, cap=10))
    mvt = bytes(cursor.fetchone()[0])
    assert all(n.encode() in mvt for n in names) and layer.id.encode() in mvt
    out = io.BytesIO()
    cursor.copy_expert(cursor.mogrify(*features.csv_copy_sql(view, where)).decode(), out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue().decode())))
    assert [r["n'um"] for r in rows] == ["1", "2"] and [r[names[2]] for r in rows] == [f"{names[2]} 1", f"{names[2]} 2"]
    cursor.execute("SELECT count(*) FROM reports")
    assert cursor.fetchone()[0] == 3
