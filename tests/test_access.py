"""Roles and access rules in one place (domain.policy), declared on every route (web.access), over HTTP."""

import re

import pytest
import requests
from flask import Flask
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from mapper import create_app
from mapper.cli import export_cmd, token_create
from mapper.domain import policy
from mapper.domain.errors import LayerDefinitionError
from mapper.domain.layers import load_layer, load_registry
from mapper.domain.privacy import view_for
from mapper.services.tokens import create_api_token
from mapper.web import access
from tests.reports import publish

# A value for each URL argument of the app's routes (per endpoint where one name means different things).
ARGUMENTS = {
    "layer_id": "water_quality",
    "collection": "water_quality",
    "subject_id": "1",
    "feature_id": "1",
    "report_id": "1",
    "position": "1",
    "token": "nope",
    "z": "0",
    "x": "0",
    "y": "0",
    "path": "leaflet/dist/leaflet.js",
    "filename": "water_quality.geojson",
}
PER_ENDPOINT = {"static": {"filename": "site.css"}}


def url_of(rule, **values) -> str:
    """The rule's path with every argument filled in."""
    given = {**ARGUMENTS, **PER_ENDPOINT.get(rule.endpoint, {}), **values}
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", lambda m: given[m[1]], rule.rule)


@pytest.fixture
def tokens(client, engine):
    """A bearer header for every role (the ``client`` fixture has emptied the tables first)."""
    return {role: {"Authorization": f"Bearer {create_api_token(engine, role, 'access-test')}"} for role in policy.ROLES}


def calls(app):
    """Every (access rule, method, url, layer) to try: layer-permission routes once per report layer."""
    registry = app.extensions["mapper.registry"]
    for rule in app.url_map.iter_rules():
        marked = access.rule_of(app.view_functions[rule.endpoint])
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if marked.kind == "layer_permission" and marked.layer_arg:
                for layer in registry:
                    yield marked, method, url_of(rule, **{marked.layer_arg: layer.id}), layer
            elif marked.kind == "layer_permission":
                yield marked, method, url_of(rule), registry.report_layer(marked.layer)
            else:
                yield marked, method, url_of(rule), None


def test_every_route_is_marked(app):
    unmarked = [str(r) for r in app.url_map.iter_rules() if access.rule_of(app.view_functions[r.endpoint]) is None]
    assert not unmarked
    kinds = {str(access.rule_of(app.view_functions[r.endpoint])) for r in app.url_map.iter_rules()}
    assert {"public", "layer_permission('run_scores' on <layer_id>)", "permission('upload_gtfs')"} <= kinds


def test_every_route_enforces_its_rule_for_every_caller(app, client, tokens):
    """Anonymous callers and every role, on every route: refused with 401 (no role) or 403 (a role without
    the permission) exactly when the route's rule says so; a response to a request with credentials is never
    cacheable by shared caches."""
    seen = 0
    for marked, method, url, layer in calls(app):
        for role, headers in [(None, {}), *tokens.items()]:
            body = {} if method == "POST" else None
            r = client.open(url, method=method, headers=headers, json=body)
            r.get_data()  # read (and close) streamed bodies
            r.close()
            where = f"{method} {url} as {role}: {r.status_code}"
            if marked.allows(role, layer):
                assert r.status_code not in (401, 403) and r.status_code < 500, where
            else:
                assert r.status_code == (401 if role is None else 403), where
                assert r.content_type == "application/problem+json", where
                assert [e["field"] for e in r.get_json()["errors"]] == ["Authorization"], where
            if headers:
                assert {"authorization", "cookie"} <= {v.lower() for v in r.vary}, where
                assert not r.cache_control.public and r.cache_control.private, where
            seen += 1
    assert seen > 6 * len(list(app.url_map.iter_rules()))


def test_a_bad_token_is_refused_even_where_any_role_would_do(client):
    r = client.post("/api/scores/crime/run", headers={"Authorization": "Bearer cm_nope"})
    assert r.status_code == 401 and r.get_json()["title"] == "Authentication required"


def test_who_may_run_scores_is_declared_with_the_layer(client, tokens):
    """The pen test's finding 8: a health token recomputed land use."""
    r = client.post("/api/scores/land_use/run", headers=tokens["health"])
    assert r.status_code == 403
    assert (
        "run_scores on land_use needs a Bearer token with role admin or planner" in r.get_json()["errors"][0]["reason"]
    )
    assert client.post("/api/scores/land_use/run", headers=tokens["planner"]).status_code == 200
    assert client.post("/api/scores/land_use/run", headers=tokens["admin"]).status_code == 200
    assert client.post("/api/scores/health_centres/run", headers=tokens["health"]).status_code == 200
    assert client.post("/api/scores/land_use/run").status_code == 401
    assert client.post("/api/scores/nope/run", headers=tokens["admin"]).status_code == 404
    assert client.post("/api/reports/1/alert-decision", json={}, headers=tokens["planner"]).status_code == 403
    assert client.post("/api/reports/1/alert-decision", json={}, headers=tokens["utility"]).status_code == 422
    assert client.post("/api/gtfs/feeds", headers=tokens["utility"]).status_code == 403
    assert client.post("/api/gtfs/feeds", headers=tokens["planner"]).status_code == 422


def test_the_layer_files_grant_what_the_platform_expects(registry):
    assert policy.granted("run_scores", registry.get("crime")) == ("admin", "police")
    assert policy.granted("run_scores", registry.get("land_use")) == ("admin", "planner")
    assert policy.granted("decide_alerts", registry.get("water_quality")) == ("admin", "utility")
    assert policy.granted("decide_alerts", registry.get("crime")) == ("admin",)
    assert policy.granted("see_exact", registry.get("crime")) == ("admin", "police")
    assert policy.granted("upload_gtfs") == ("admin", "planner")
    with pytest.raises(ValueError, match="layer permission"):
        policy.granted("run_scores")
    with pytest.raises(ValueError, match="unknown permission"):
        policy.granted("fly")


def test_views_follow_the_policy(registry):
    for layer in registry.collections():
        assert view_for(layer, "admin").exact
        assert not view_for(layer, None).exact
        for role in policy.ROLES:
            assert view_for(layer, role).exact == (role == "admin" or role in layer.exact_audiences)
    assert view_for(registry.get("water_quality"), "utility").exact
    assert not view_for(registry.get("water_quality"), "police").exact
    assert view_for(registry.get("transit_stops"), "health").exact


def test_the_database_accepts_exactly_the_policys_roles(engine, clean):
    """The CHECKs on api_tokens.role and staff_users.role (migration 0011) are the database's copies of the role
    list."""
    for table in ("api_tokens", "staff_users"):
        with engine.connect() as conn:
            checks = conn.execute(
                text(
                    "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                    "WHERE conrelid = CAST(:t AS regclass) AND contype = 'c'"
                ),
                {"t": table},
            ).scalars()
            role_checks = [c for c in checks if "role" in c]
        assert len(role_checks) == 1, table
        assert sorted(re.findall(r"'([^']*)'::text", role_checks[0])) == sorted(policy.ROLES), table
    for role in policy.ROLES:
        create_api_token(engine, role, "db-check")
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(text("INSERT INTO api_tokens (name, role, token_hash) VALUES ('x', 'mayor', 'x')"))


def test_the_cli_offers_the_policys_roles():
    for command in (token_create, export_cmd):
        (role,) = [p for p in command.params if p.name == "role"]
        assert tuple(role.type.choices) == policy.ROLES


# --- [access] in layer files ----------------------------------------------------------------------------------
NOISE = """
id = "noise"
title = "Noise"
geometry = "point"
scores = ["ratings"]

[[fields]]
name = "rating"
type = "integer"
"""
BAD_ACCESS = [
    ('[access]\nrun_scores = ["mayor"]', "access.run_scores", "unknown role 'mayor'"),
    ('[access]\nrun_scores = "police"', "access.run_scores", "must be a list of role names"),
    ('[access]\nfly = ["police"]', "access.fly", "unknown permission"),
    ('[access]\nsee_exact = ["police"]', "access.see_exact", "unknown permission"),
    ('access = ["police"]', "access", "must be of type dict"),
]


@pytest.mark.parametrize("table,key,reason", BAD_ACCESS, ids=[b[1] + ":" + b[2] for b in BAD_ACCESS])
def test_a_bad_access_table_is_refused_naming_file_key_and_reason(tmp_path, table, key, reason):
    path = tmp_path / "noise.toml"
    path.write_text(NOISE.replace('scores = ["ratings"]', f'scores = ["ratings"]\n{table}\n'))
    with pytest.raises(LayerDefinitionError) as e:
        load_layer(path)
    assert (e.value.file, e.value.key) == (str(path), key) and reason in e.value.reason


def test_run_scores_on_a_layer_without_scores_is_refused(tmp_path):
    path = tmp_path / "noise.toml"
    path.write_text(NOISE.replace('scores = ["ratings"]', '[access]\nrun_scores = ["health"]\n'))
    with pytest.raises(LayerDefinitionError, match="noise.toml: access.run_scores: the layer declares no score"):
        load_layer(path)


def test_a_layer_grants_its_permissions(tmp_path):
    path = tmp_path / "noise.toml"
    path.write_text(NOISE.replace('scores = ["ratings"]', 'scores = ["ratings"]\n[access]\nrun_scores = ["health"]\n'))
    layer = load_layer(path)
    assert policy.may("health", "run_scores", layer) and policy.may("admin", "run_scores", layer)
    assert not policy.may("planner", "run_scores", layer) and not policy.may(None, "run_scores", layer)
    assert not policy.may("moderator", "run_scores", layer)


def test_the_app_refuses_to_start_with_an_unknown_role(tmp_path, database_url):
    (tmp_path / "noise.toml").write_text(NOISE.replace('scores = ["ratings"]', '[access]\nrun_scores = ["mayor"]\n'))
    with pytest.raises(LayerDefinitionError, match="noise.toml: access.run_scores"):
        load_registry(tmp_path)
    with pytest.raises(LayerDefinitionError, match="noise.toml: access.run_scores"):
        create_app({"DATABASE_URL": database_url, "LAYERS_DIR": str(tmp_path)})


# --- the markers themselves -----------------------------------------------------------------------------------
def test_an_unmarked_route_stops_the_app_from_starting():
    app = Flask("unmarked")
    app.add_url_rule("/marked", "marked", access.public(lambda: "hi"))
    access.init_app(app)  # Flask's own static route is marked public by init_app
    assert access.rule_of(app.view_functions["static"]).kind == "public"
    app = Flask("unmarked")
    app.add_url_rule("/unmarked-test", "unmarked", lambda: "hi")
    with pytest.raises(RuntimeError, match="/unmarked-test"):
        access.init_app(app)


def test_marker_factories_refuse_unknown_permissions():
    with pytest.raises(ValueError, match="unknown platform permission"):
        access.permission("run_scores")
    with pytest.raises(ValueError, match="unknown layer permission"):
        access.layer_permission("upload_gtfs")


def test_the_staff_marker_takes_any_role_and_only_a_role(database_url, engine, clean):
    app = create_app({"DATABASE_URL": database_url, "TILES_URL": ""})
    app.view_functions["pages.healthz"] = access.staff(app.view_functions["pages.healthz"])
    client = app.test_client()
    assert client.get("/healthz").status_code == 401
    for role in policy.ROLES:
        token = create_api_token(engine, role, "staff-test")
        assert client.get("/healthz", headers={"Authorization": f"Bearer {token}"}).status_code == 200


# --- caches (finding 9) ---------------------------------------------------------------------------------------
@pytest.fixture
def crime_report(client):
    body = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [-83.0, 39.96]},
        "properties": {
            "category": "theft",
            "severity": 3,
            "occurred_at": "2026-05-01T10:00:00Z",
            "reporter_email": "me@example.org",
        },
    }
    r = client.post("/api/layers/crime/reports", json=body)
    assert r.status_code == 201, r.get_json()
    publish(client.application, r.get_json()["id"])
    return r.get_json()["id"]


def test_staff_responses_stay_out_of_shared_caches(live_server, engine, crime_report):
    police = {"Authorization": f"Bearer {create_api_token(engine, 'police', 'cache-test')}"}
    tile = f"{live_server}/tiles/crime/0/0/0.mvt"
    items = f"{live_server}/ogc/collections/crime/items"
    staff_tile = requests.get(tile, headers=police)
    assert staff_tile.status_code == 200 and staff_tile.headers["Cache-Control"] == "private, max-age=60"
    public_tile = requests.get(tile)
    assert public_tile.status_code == 200 and public_tile.headers["Cache-Control"] == "public, max-age=60"
    assert "Cookie" in public_tile.headers["Vary"] and "Authorization" in public_tile.headers["Vary"]

    staff_items = requests.get(items, headers=police)
    assert "me@example.org" in staff_items.text
    assert staff_items.headers["Cache-Control"] == "private, no-cache"
    assert {"Authorization", "Cookie"} <= {v.strip() for v in staff_items.headers["Vary"].split(",")}
    again = requests.get(items, headers={**police, "If-None-Match": staff_items.headers["ETag"]})
    assert again.status_code == 304 and "public" not in again.headers["Cache-Control"]
    item = requests.get(f"{items}/{crime_report}", headers=police)
    assert item.status_code == 200 and item.headers["Cache-Control"] == "private, no-cache"
    public_items = requests.get(items)
    assert "me@example.org" not in public_items.text and public_items.headers["Cache-Control"] == "public, no-cache"
    assert requests.get(f"{items}/{crime_report}").headers["Cache-Control"] == "public, no-cache"

    for fmt in ("geojson", "csv"):
        export = requests.get(f"{live_server}/export/crime.{fmt}", headers=police)
        assert export.status_code == 200 and "me@example.org" in export.text
        cc = export.headers["Cache-Control"]
        assert "private" in cc and "public" not in cc and ("no-store" in cc or "no-cache" in cc), cc
        assert "Authorization" in export.headers["Vary"]
    scores = requests.get(f"{live_server}/api/scores/crime", headers=police)
    assert scores.headers["Cache-Control"] == "private, no-store" and "Cookie" in scores.headers["Vary"]
