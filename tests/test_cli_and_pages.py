"""The ``mapper`` command, settings, demo data, and the pages' self-hosted assets."""

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import text

from mapper.config import load_settings
from mapper.embedded_db import EmbeddedCluster
from mapper.services.tokens import digest
from tests.conftest import count
from tests.reports import publish


def mapper(*args, env, check=True):
    r = subprocess.run(["mapper", *args], env=env, capture_output=True, text=True, timeout=120)
    if check:
        assert r.returncode == 0, r.stdout + r.stderr
    return r


def test_settings_layering(monkeypatch):
    monkeypatch.setenv("MAPPER_SECRET_KEY", "from-env")
    monkeypatch.setenv("MAPPER_MAX_VERTICES", "42")
    s = load_settings()
    assert s["SECRET_KEY"] == "from-env" and s["MAX_VERTICES"] == 42
    assert load_settings({"SECRET_KEY": "from-test"})["SECRET_KEY"] == "from-test"


def test_db_url_follows_mapper_database_url(cli_env, database_url):
    assert mapper("db", "url", env=cli_env).stdout.strip() == database_url
    assert "MAPPER_DATABASE_URL is set" in mapper("db", "status", env=cli_env).stdout


def test_embedded_cluster_lifecycle_in_a_fresh_directory(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "MAPPER_DATABASE_URL"}
    env.update(MAPPER_VAR_DIR=str(tmp_path / "var"), PATH=f"{os.path.dirname(os.sys.executable)}:{env['PATH']}")
    assert "not created" in mapper("db", "status", env=env).stdout
    try:
        out = mapper("db", "start", env=env).stdout
        assert out.startswith("running:")
        datadir = EmbeddedCluster(tmp_path / "var").state()["datadir"]
        url = mapper("db", "url", env=env).stdout.strip()
        assert re.match(r"postgresql\+psycopg2://mapper:[^@]+@127\.0\.0\.1:\d+/mapper$", url)
        mapper("db", "upgrade", env=env)
        assert mapper("db", "start", env=env).stdout.startswith("running:")  # idempotent
        assert mapper("db", "stop", env=env).stdout.strip() == "stopped"
        assert mapper("db", "status", env=env).stdout.startswith("stopped:")
        assert mapper("db", "start", env=env).stdout.startswith("running:")  # restarts with its data
    finally:
        mapper("db", "stop", env=env, check=False)
        EmbeddedCluster(tmp_path / "var").destroy()  # its data may live outside tmp_path (root fallback)
    assert not Path(datadir).exists()


def test_token_create_and_use(cli_env, app, client, engine):
    token = mapper("token", "create", "--role", "police", "--name", "district 4", env=cli_env).stdout.strip()
    with engine.connect() as conn:
        row = conn.execute(text("SELECT role, token_hash FROM api_tokens")).one()
        assert row.role == "police" and bytes(row.token_hash) == digest(token)
        assert (
            conn.execute(
                text("SELECT count(*) FROM api_tokens WHERE position(:t in token_hash::text) > 0"), {"t": token}
            ).scalar()
            == 0
        )
    body = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [-83, 40]},
        "properties": {"category": "theft", "severity": 1, "occurred_at": "2026-11-01T00:00:00Z"},
    }
    r = client.post("/api/layers/crime/reports", json=body, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 201
    assert count(engine, where="source = 'api:police'") == 1
    r = client.post("/api/layers/crime/reports", json=body, headers={"Authorization": "Bearer cm_wrong"})
    assert r.status_code == 401 and r.content_type == "application/problem+json"
    bad = mapper("token", "create", "--role", "mayor", env=cli_env, check=False)
    assert bad.returncode != 0 and "mayor" in bad.stderr


def test_demo_loads_every_layer_and_the_map_shows_them(cli_env, client, engine):
    out = mapper("demo", env=cli_env).stdout
    for layer in ("crime", "water_quality", "health_centres", "urban_life", "land_use"):
        assert re.search(rf"^{layer}: [1-9]\d* reports$", out, re.M), out
    assert "already loaded" in mapper("demo", env=cli_env).stdout
    with engine.connect() as conn:
        per_layer = dict(conn.execute(text("SELECT layer, count(*) FROM reports GROUP BY layer")).all())
    assert per_layer["crime"] > 1000 and per_layer["land_use"] == 49
    html, feeds = map_and_its_feeds(client)
    assert "Crime and insecurity" in html and "Land use" in html
    assert all(feeds[layer]["features"] for layer in per_layer)
    assert '"/api/scores/water_quality/"' in html  # popups link to how a score was computed, by feature id
    water = feeds["water_quality"]["features"][0]["id"]
    assert "WHO" in json.dumps(client.get(f"/api/scores/water_quality/{water}").get_json())


def map_and_its_feeds(client) -> tuple[str, dict]:
    """The public map page, and the feeds its browser reads ({layer: FeatureCollection})."""
    html = client.get("/map").get_data(as_text=True)
    config = json.loads(re.search(r'<script[^>]* id="civic-map-config">(.*?)</script>', html, re.S)[1])
    return html, {spec["id"]: client.get(spec["feed"] + "?limit=2000").get_json() for spec in config["layers"]}


def test_public_map_hides_private_fields_and_exact_sensitive_locations(client, engine):
    body = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [-83.0012345, 39.9612345]},
        "properties": {
            "category": "assault",
            "severity": 4,
            "occurred_at": "2026-11-01T00:00:00Z",
            "description": "PRIVATE-DETAIL",
            "reporter_name": "Ana Reporter",
        },
    }
    r = client.post("/api/layers/crime/reports", json=body)
    assert r.status_code == 201
    publish(client.application, r.get_json()["id"])
    html, feeds = map_and_its_feeds(client)
    shown = html + json.dumps(feeds)
    assert "assault" in json.dumps(feeds["crime"])
    assert "PRIVATE-DETAIL" not in shown and "Ana Reporter" not in shown
    assert "-83.0012345" not in shown and "39.9612345" not in shown and "-83.001234" not in shown


def asset_urls(html):
    return set(re.findall(r'(?:src|href)="([^"#]+\.(?:js|css))"', html))


@pytest.mark.parametrize("page", ["/", "/report", "/map"])
def test_pages_load_assets_from_the_app_only(client, page):
    r = client.get(page)
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert not re.search(r'(?:src|href)="(?:https?:)?//', html), "a page refers to another host"
    urls = asset_urls(html)
    assert urls
    for url in urls:
        assert client.get(url).status_code == 200, url


def test_vendor_route_serves_only_allow_listed_packages(client):
    assert client.get("/vendor/leaflet/dist/leaflet.js").status_code == 200
    assert client.get("/vendor/leaflet/package.json").status_code == 404
    assert client.get("/vendor/../package.json").status_code == 404


def test_tiles_url_is_configurable(database_url):
    from mapper import create_app

    intranet = "https://tiles.intranet.example/{z}/{x}/{y}.png"
    client = create_app({"DATABASE_URL": database_url, "TILES_URL": intranet}).test_client()
    assert intranet in client.get("/map").get_data(as_text=True)
    assert intranet in client.get("/report").get_data(as_text=True)


def test_healthz(client):
    assert client.get("/healthz").get_json()["status"] == "ok"


def test_missing_postgis_says_what_to_install(tmp_path):
    """A PostgreSQL whose share directory has no PostGIS: start() names the packages to install."""
    from mapper.embedded_db import EmbeddedCluster, EmbeddedDbError, find_bindir

    real = find_bindir()
    bindir = tmp_path / "15" / "bin"
    bindir.mkdir(parents=True)
    for tool in ("initdb", "pg_ctl", "postgres"):
        (bindir / tool).symlink_to(real / tool)
    (bindir / "pg_config").write_text(f"#!/bin/sh\necho {tmp_path / 'share'}\n")
    (bindir / "pg_config").chmod(0o755)
    with pytest.raises(EmbeddedDbError) as e:
        EmbeddedCluster(tmp_path / "var", bindir=bindir).start()
    assert "apt-get install -y postgresql-15 postgresql-15-postgis-3" in str(e.value)
    assert "MAPPER_DATABASE_URL" in str(e.value)
    assert not (tmp_path / "var" / "db.json").exists()


def test_demo_reset_replaces_the_demo_data(cli_env, engine):
    mapper("demo", env=cli_env)
    before = count(engine, where="source = 'demo'"), count(engine, "imports")
    out = mapper("demo", "--reset", env=cli_env).stdout
    assert "crime:" in out
    assert (count(engine, where="source = 'demo'"), count(engine, "imports")) == before
