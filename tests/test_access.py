"""Roles and access rules in one place (domain.policy): the layer files, views, the CLI and the database."""

import re

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from mapper import create_app
from mapper.cli import export_cmd, token_create
from mapper.domain import policy
from mapper.domain.errors import LayerDefinitionError
from mapper.domain.layers import load_layer, load_registry
from mapper.domain.privacy import view_for
from mapper.services.tokens import create_api_token


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
        assert not view_for(layer, "moderator").exact  # not a role (yet): nothing more than the public
        for role in policy.ROLES:
            assert view_for(layer, role).exact == (role == "admin" or role in layer.exact_audiences)
    assert view_for(registry.get("water_quality"), "utility").exact
    assert not view_for(registry.get("water_quality"), "police").exact
    assert view_for(registry.get("transit_stops"), "health").exact


def test_the_database_accepts_exactly_the_policys_roles(engine, clean):
    """Migration 0001's CHECK on api_tokens.role is the database's copy of the role list."""
    with engine.connect() as conn:
        checks = conn.execute(
            text(
                "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = 'api_tokens'::regclass AND contype = 'c'"
            )
        ).scalars()
        role_checks = [c for c in checks if "role" in c]
    assert len(role_checks) == 1
    assert sorted(re.findall(r"'([^']*)'::text", role_checks[0])) == sorted(policy.ROLES)
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
