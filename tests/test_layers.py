"""Layer definitions: the shipped layers load; bad files fail with file, key and reason; a new file is a
new layer with no code."""

import shutil
import subprocess

import pytest
from sqlalchemy import text

from mapper import create_app
from mapper.config import PROJECT_ROOT
from mapper.domain.errors import LayerDefinitionError
from mapper.domain.layers import CONTACT_FIELDS, load_layer, load_registry
from tests.conftest import count
from tests.reports import publish

LAYERS = PROJECT_ROOT / "layers"


def test_shipped_layers_load_with_realistic_fields():
    reg = load_registry(LAYERS)
    assert reg.ids() == ["crime", "health_centres", "land_use", "urban_life", "water_quality"]
    crime = reg.get("crime")
    assert {"category", "severity", "occurred_at", "description"} <= {f.name for f in crime.fields}
    assert crime.precision_m > 0 and "police" in crime.exact_audiences
    assert not crime.field("description").public
    water = reg.get("water_quality")
    for name in (
        "e_coli_cfu_100ml",
        "turbidity_ntu",
        "ph",
        "free_chlorine_mg_l",
        "nitrate_mg_l",
        "arsenic_mg_l",
        "functional_status",
        "alert",
        "source_type",
    ):
        assert water.field(name) is not None, name
    assert water.field("ph").max == 14 and water.field("turbidity_ntu").unit == "NTU"
    health = reg.get("health_centres")
    assert "sexual_reproductive_health" in health.field("services").values and health.field("services").multiple
    assert not health.field("complaint").public
    assert reg.get("land_use").geometry == "polygon"
    assert {"titled", "demarcated", "public_space", "reserved"} <= set(reg.get("land_use").field("land_class").values)
    assert {"safety", "lighting", "cleanliness", "accessibility", "noise", "greenery"} <= set(
        reg.get("urban_life").field("theme").values
    )


def test_every_layer_has_private_contact_fields():
    for layer in load_registry(LAYERS):
        for contact in CONTACT_FIELDS:
            assert layer.field(contact.name) is not None and not layer.field(contact.name).public


GOOD = """
id = "noise"
title = "Noise"
geometry = "point"
[[fields]]
name = "level_db"
type = "number"
min = 0
max = 140
"""

BAD = [
    # (replace this, with this, expected key, words in the reason)
    ('id = "noise"', 'id = "Noise!"', "id", "must match"),
    ('id = "noise"\n', "", "id", "is required"),
    ('geometry = "point"', 'geometry = "line"', "geometry", "must be one of"),
    ('type = "number"', 'type = "float"', "fields[0] (level_db).type", "must be one of"),
    ("min = 0", 'min = "zero"', "fields[0] (level_db).min", "must be of type float"),
    ("min = 0", "min = 200", "fields[0] (level_db).min", "greater than max"),
    ('name = "level_db"', 'name = "geometry"', "fields[0] (geometry).name", "must match"),
    ('name = "level_db"', 'name = "limit"', "fields[0] (limit).name", "must match"),  # a query parameter
    ('title = "Noise"', 'title = "Noise"\ncolour = "red"', "colour", "unknown key"),
    ('type = "number"', 'type = "enum"', "fields[0] (level_db).values", "non-empty list"),
    ('title = "Noise"', 'title = "Noise"\ntime_field = "level_db"', "time_field", "date or datetime"),
    (
        "max = 140",
        'max = 140\n[sensitivity]\nexact_audiences = ["mayor"]',
        "sensitivity.exact_audiences",
        "unknown role",
    ),
    ("max = 140", 'max = 140\n[style]\ncolor = "red"', "style.color", "#rrggbb"),
    ("max = 140", 'max = 140\n[[fields]]\nname = "level_db"\ntype = "text"', "fields", "duplicate field"),
    ('id = "noise"', 'id = "noise', "-", "not valid TOML"),
]


@pytest.mark.parametrize("old,new,key,reason", BAD, ids=[b[2] + ":" + b[3] for b in BAD])
def test_bad_definition_names_file_key_and_reason(tmp_path, old, new, key, reason):
    assert old in GOOD
    path = tmp_path / "noise.toml"
    path.write_text(GOOD.replace(old, new, 1))
    with pytest.raises(LayerDefinitionError) as e:
        load_layer(path)
    assert e.value.file == str(path)
    assert e.value.key == key
    assert reason in e.value.reason
    assert str(path) in str(e.value) and key in str(e.value)


def test_good_definition_loads(tmp_path):
    path = tmp_path / "noise.toml"
    path.write_text(GOOD)
    layer = load_layer(path)
    assert layer.id == "noise" and layer.field("level_db").max == 140


def test_duplicate_layer_ids_are_refused(tmp_path):
    (tmp_path / "a.toml").write_text(GOOD)
    (tmp_path / "b.toml").write_text(GOOD)
    with pytest.raises(LayerDefinitionError, match="duplicate layer id"):
        load_registry(tmp_path)


def test_app_refuses_to_start_with_a_bad_layer(tmp_path, database_url):
    (tmp_path / "noise.toml").write_text(GOOD.replace('geometry = "point"', 'geometry = "line"'))
    with pytest.raises(LayerDefinitionError, match="noise.toml: geometry"):
        create_app({"DATABASE_URL": database_url, "LAYERS_DIR": str(tmp_path)})


def test_adding_a_layer_is_adding_a_file(tmp_path, database_url, clean):
    layers = tmp_path / "layers"
    shutil.copytree(LAYERS, layers)
    (layers / "noise.toml").write_text(GOOD)
    app = create_app({"DATABASE_URL": database_url, "LAYERS_DIR": str(layers), "TILES_URL": ""})
    client = app.test_client()
    schema = client.get("/api/layers/noise").get_json()
    assert schema["fields"][0]["name"] == "level_db"
    r = client.post(
        "/api/layers/noise/reports",
        json={
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [2.35, 48.85]},
            "properties": {"level_db": 87.5},
        },
    )
    assert r.status_code == 201, r.get_json()
    r = client.post(
        "/api/layers/noise/reports",
        json={
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [2.35, 48.85]},
            "properties": {"level_db": 200},
        },
    )
    assert r.status_code == 422 and r.get_json()["errors"] == [
        {"field": "properties.level_db", "reason": "must be <= 140"}
    ]
    assert count(clean, where="layer = 'noise'") == 1
    assert 'name="level_db"' in client.get("/report").get_data(as_text=True)


def test_a_changed_precision_is_applied_by_db_upgrade(tmp_path, database_url, clean, cli_env):
    """Raising a sensitive layer's precision hides its reports from public outputs until `mapper db upgrade`
    has re-generalised them: never shown at a finer precision than the layer now declares."""
    app = create_app({"DATABASE_URL": database_url, "TILES_URL": ""})
    feature = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [-83.0123, 39.9876]},
        "properties": {"category": "theft", "severity": 2, "occurred_at": "2026-11-01T10:00:00Z"},
    }
    r = app.test_client().post("/api/layers/crime/reports", json=feature)
    assert r.status_code == 201
    publish(app, r.get_json()["id"])
    items = lambda a: a.test_client().get("/ogc/collections/crime/items").get_json()["features"]  # noqa: E731
    before = items(app)[0]["geometry"]["coordinates"]

    layers = tmp_path / "layers"
    shutil.copytree(LAYERS, layers)
    toml = layers / "crime.toml"
    toml.write_text(toml.read_text().replace("precision_m = 250", "precision_m = 1000"))
    coarser = create_app({"DATABASE_URL": database_url, "LAYERS_DIR": str(layers), "TILES_URL": ""})
    assert items(coarser) == []

    env = dict(cli_env, MAPPER_LAYERS_DIR=str(layers))
    r = subprocess.run(["mapper", "db", "upgrade"], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "crime: public locations generalised to 1000 m (1 reports updated)" in r.stdout
    after = items(coarser)[0]["geometry"]["coordinates"]
    assert after != before
    with clean.connect() as conn:
        assert conn.execute(
            text("SELECT ST_Equals(public_geom, mapper_public_point(geom, 1000)) FROM reports")
        ).scalar()
    assert items(app) == []  # the old 250 m setting now sees nothing either


def test_no_field_can_take_the_name_of_a_query_parameter(app):
    """A field named like a parameter of the feeds, tiles or exports would be read as both (``?limit=``)."""
    from mapper.domain.layers import NAME_RE, RESERVED
    from mapper.services.feeds import STANDARD_PARAMS
    from mapper.web.openapi import document

    registry = app.extensions["mapper.registry"]
    doc = document(registry.collections(), "http://localhost")
    documented = {
        p["name"]
        for route, path in doc["paths"].items()
        if route.startswith(("/ogc/collections/", "/tiles/", "/export/"))  # where fields are parameters too
        for op in path.values()
        for p in op.get("parameters", [])
        if isinstance(p, dict) and p.get("in") == "query"
    }
    fields = {f.name for layer in registry.collections() for f in layer.fields}
    parameters = {n for n in STANDARD_PARAMS | (documented - fields) if NAME_RE.match(n)}
    assert parameters and parameters <= RESERVED, parameters - RESERVED
