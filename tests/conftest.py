"""Fixtures on real parts: a throwaway PostGIS database in the embedded cluster (or the server named by
MAPPER_TEST_ADMIN_URL), the app built by its factory, and a live HTTP server for real clients."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright
from sqlalchemy import text

from mapper import create_app, db
from mapper.config import PROJECT_ROOT
from mapper.embedded_db import EmbeddedCluster
from tests.servers import SUITE_LIMITS, granian

SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"
# A server with a database of its own must be given a secret; the tests' apps, servers and commands get this one.
os.environ.setdefault("MAPPER_SECRET_KEY", "test-only-secret")


def _new_database(cluster: EmbeddedCluster) -> tuple[str, str]:
    name = f"mapper_test_{uuid.uuid4().hex[:10]}"
    return name, cluster.ensure_database(name)


@pytest.fixture(scope="session")
def cluster() -> EmbeddedCluster:
    """The project's embedded cluster, started if needed; stopped again afterwards if this session started it,
    and removed if this session created it outside the checkout (a throwaway clone run as root keeps its data
    under /var/lib/civic-mapper/, where nothing else would ever remove it)."""
    c = EmbeddedCluster(PROJECT_ROOT / "var")
    existed, was_running = c.state() is not None, c.is_running()
    c.start()
    yield c
    if not was_running:
        c.stop()
    if not existed and not c.data_inside_var_dir():
        c.destroy()


@pytest.fixture(scope="session")
def database_url(cluster) -> str:
    """A fresh database migrated to head, dropped after the session."""
    name, url = _new_database(cluster)
    db.upgrade(url)
    yield url
    cluster.drop_database(name)


@pytest.fixture(scope="session")
def scratch_database(cluster):
    """Factory of extra empty PostGIS databases (not migrated), dropped after the session."""
    made = []

    def make() -> str:
        name, url = _new_database(cluster)
        made.append(name)
        return url

    yield make
    for name in made:
        cluster.drop_database(name)


@pytest.fixture(scope="session")
def app(database_url):
    return create_app({"DATABASE_URL": database_url, "TILES_URL": "", "SECRET_KEY": "test", **SUITE_LIMITS})


@pytest.fixture(scope="session")
def engine(app):
    return app.extensions["mapper.engine"]


@pytest.fixture(scope="session")
def registry(app):
    return app.extensions["mapper.registry"]


# Not truncated by ``clean``: the schema's own tables; the layers' data versions, which must only ever grow
# (tile caches and ETags are keyed by them; truncating reports bumps them instead); and public_cells, which
# the reports' own TRUNCATE trigger empties.
SCHEMA_TABLES = ("alembic_version", "spatial_ref_sys", "layer_versions", "public_cells")


@pytest.fixture(scope="session")
def data_tables(engine) -> list[str]:
    """Every table of the schema that holds data, read from the catalogue (a new table is reset too)."""
    with engine.connect() as conn:
        names = conn.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND NOT tablename = ANY(:kept)"),
            {"kept": list(SCHEMA_TABLES)},
        ).scalars()
        return sorted(names)


def reset_tables(engine, tables: list[str]) -> None:
    """Empty ``tables`` (``data_tables``: every data table), restarting their ids."""
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))


@pytest.fixture
def clean(engine, data_tables):
    """Empty every data table before the test."""
    reset_tables(engine, data_tables)
    return engine


@pytest.fixture
def client(app, clean):
    return app.test_client()


def count(engine, table: str = "reports", where: str = "TRUE") -> int:
    with engine.connect() as conn:
        return conn.execute(text(f"SELECT count(*) FROM {table} WHERE {where}")).scalar_one()


@pytest.fixture(scope="session")
def live_server(database_url, tmp_path_factory):
    """The app under granian, the production server, on a loopback port, in its own process (clients such as
    GDAL hold the GIL while they wait for the server, so the server cannot be a thread of the test process)."""
    with granian(database_url, tmp_path_factory.mktemp("live-server")) as server:  # pytest keeps the last logs
        yield server.url


@pytest.fixture
def cli_env(database_url) -> dict:
    """Environment for running the real ``mapper`` command against the test database."""
    env = dict(os.environ, MAPPER_DATABASE_URL=database_url)
    env["PATH"] = f"{Path(PROJECT_ROOT, '.venv', 'bin')}:{env.get('PATH', '')}"
    return env


# --- a real browser (Debian's Chromium, driven by Playwright), one for the whole session ----------------------
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    """The system Chromium (scripts/bootstrap.sh --browser installs it); MAPPER_CHROMIUM overrides."""
    path = os.environ.get("MAPPER_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.fail("Chromium is not installed: run scripts/bootstrap.sh --browser or set MAPPER_CHROMIUM")
    return path


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield b
        b.close()
