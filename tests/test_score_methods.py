"""Score methods declare the fields they read (``domain.score_methods``): a layer declaring a method without
them is refused at start-up, naming the file, the key and the field; the shipped layers have them all."""

import shutil
import subprocess

import pytest

from mapper import create_app
from mapper.config import PROJECT_ROOT
from mapper.domain import score_methods, water
from mapper.domain.errors import LayerDefinitionError
from mapper.domain.layers import load_layer, load_registry
from mapper.services import explain, scoring

LAYERS = PROJECT_ROOT / "layers"
E_COLI_FIELD = """
[[fields]]
name = "e_coli_cfu_100ml"
label = "E. coli"
type = "number"
min = 0
max = 100000
unit = "CFU/100 mL"
help = "WHO guideline: none detectable in any 100 mL sample."
"""


def shipped(name: str) -> str:
    return (LAYERS / f"{name}.toml").read_text()


def layers_without_e_coli(tmp_path):
    """The shipped layers, the water layer's E. coli field taken out."""
    layers = tmp_path / "layers"
    shutil.copytree(LAYERS, layers)
    text = shipped("water_quality")
    assert E_COLI_FIELD in text
    (layers / "water_quality.toml").write_text(text.replace(E_COLI_FIELD, ""))
    return layers


def test_a_water_layer_without_its_e_coli_field_stops_the_app_naming_file_and_field(tmp_path, database_url, cli_env):
    layers = layers_without_e_coli(tmp_path)
    file = str(layers / "water_quality.toml")
    for start in (
        lambda: load_registry(layers),
        lambda: create_app({"DATABASE_URL": database_url, "LAYERS_DIR": str(layers)}),
    ):
        with pytest.raises(LayerDefinitionError) as e:
            start()
        assert (e.value.file, e.value.key) == (file, "scores")
        assert "'water_quality'" in e.value.reason and "'e_coli_cfu_100ml'" in e.value.reason
        assert "does not declare" in e.value.reason
    r = subprocess.run(
        ["mapper", "layers"], env=dict(cli_env, MAPPER_LAYERS_DIR=str(layers)), capture_output=True, text=True
    )
    assert r.returncode != 0 and f"{file}: scores:" in r.stderr and "e_coli_cfu_100ml" in r.stderr


def with_field(text: str, name: str, block: str | None) -> str:
    """A layer file with the ``[[fields]]`` table of field ``name`` replaced by ``block`` (removed when None)."""
    head, *tables = text.split("\n[[fields]]\n")
    assert any(t.startswith(f'name = "{name}"\n') for t in tables), name
    kept = [t if not t.startswith(f'name = "{name}"\n') else block for t in tables]
    return "\n[[fields]]\n".join([head, *(t for t in kept if t is not None)])


def field(name: str, ftype: str, *lines: str) -> str:
    return "\n".join([f'name = "{name}"', f'type = "{ftype}"', *lines, ""])


# (layer file, its field replaced: (name, new table or None to remove it) or a text replacement, key, reason)
BAD = [
    (
        "water_quality",
        ("e_coli_cfu_100ml", field("e_coli_cfu_100ml", "text")),
        "scores",
        "must be integer or number, not text",
    ),
    ("water_quality", ("ph", field("ph", "integer", "public = false")), "scores", "'ph': the method publishes"),
    (
        "water_quality",
        ("turbidity_ntu", field("turbidity_ntu", "boolean")),
        "scores",
        "'turbidity_ntu': it must be integer or number, not boolean",
    ),
    (
        "water_quality",
        ("alert", field("alert", "boolean", "public = false")),
        "scores",
        "'alert': the method publishes",
    ),
    ("water_quality", ("alert", field("alert", "text")), "scores", "'alert': it must be boolean, not text"),
    (
        "urban_life",
        ('values = ["positive", "negative"]', 'values = ["good", "negative"]'),
        "scores",
        "must include 'positive'",
    ),
    ("urban_life", ("theme", None), None, None),  # theme is optional: the layer loads
    (
        "urban_life",
        ('where_field = "sentiment"', 'where_field = "theme"'),
        "hotspots.where_field",
        "where_values among",
    ),
    (
        "crime",
        ('weight_field = "severity"', 'weight_field = "severe"'),
        "hotspots.weight_field",
        "'severe', which the layer does not declare",
    ),
    ("crime", ('weight_field = "severity"', 'weight_field = "category"'), "hotspots.weight_field", "not enum"),
    ("crime", ("severity", field("severity", "integer", "public = false")), "hotspots.weight_field", "must be public"),
    ("health_centres", ("rating", None), "scores", "'ratings' reads the rating from the field 'rating'"),
    ("health_centres", ("multiple = true\n", ""), "scores", "'services': it must be a multiple enum, not enum"),
    ("health_centres", ("complaint", field("complaint", "text")), None, None),  # counted only: it may be public too
    ("land_use", ("land_class", field("land_class", "text")), "scores", "'land_class': it must be enum, not text"),
    (
        "land_use",
        ("population", field("population", "number")),
        "scores",
        "'population': it must be integer, not number",
    ),
    ("land_use", ("district", None), None, None),  # districts are optional: all parcels in one
]


@pytest.mark.parametrize("layer,change,key,reason", BAD, ids=[f"{b[0]}:{b[1][0][:24]}" for b in BAD])
def test_a_layer_without_the_fields_its_methods_read_is_refused(tmp_path, layer, change, key, reason):
    text, (old, new) = shipped(layer), change
    changed = text.replace(old, new, 1) if "=" in old or "\n" in old else with_field(text, old, new)
    assert changed != text
    path = tmp_path / f"{layer}.toml"
    path.write_text(changed)
    if key is None:
        assert load_layer(path).id == layer
        return
    with pytest.raises(LayerDefinitionError) as e:
        load_layer(path)
    assert (e.value.file, e.value.key) == (str(path), key) and reason in e.value.reason, e.value


def test_the_shipped_layers_hold_every_field_their_methods_read():
    registry = load_registry(LAYERS)
    declared = {(lay.id, m) for lay in registry for m in (["hotspots"] if lay.hotspots else []) + list(lay.scores)}
    assert {m for _, m in declared} == set(score_methods.METHODS)  # every method is used by a shipped layer
    for layer_id, method in declared:
        layer = registry.get(layer_id)
        assert score_methods.problems(method, layer.fields, layer.hotspots) == [], (layer_id, method)
        fields = score_methods.fields_for(layer, method)
        for read in score_methods.METHODS[method].reads:
            name = score_methods.field_name(read, layer.hotspots)
            assert fields[read.role] is (layer.field(name) if name else None), (layer_id, read.role)
    assert score_methods.fields_for(registry.get("crime"), "hotspots")["weight"].name == "severity"


def test_every_declared_method_is_run_and_explained_and_nothing_else():
    assert set(scoring.METHODS) == set(score_methods.SCORES) == set(score_methods.METHODS) - {"hotspots"}
    assert set(explain.SUMMARIES) == set(score_methods.METHODS)


def test_the_water_method_reads_the_guideline_variables_by_their_names():
    objectives, _ = water.load_guidelines()
    reads = {r.name for r in score_methods.METHODS["water_quality"].reads}
    assert water.E_COLI in objectives and set(objectives) <= reads
    assert score_methods.METHODS["water_quality"].reading("e_coli").required
