"""Database engine per application, and Alembic migrations run from code."""

from __future__ import annotations

import time
from contextlib import contextmanager

import psycopg2
from alembic import command
from alembic.config import Config
from flask import Flask, current_app
from sqlalchemy import Connection, Engine, create_engine, event, exc

from mapper.config import PROJECT_ROOT

# PostGIS functions carry high cost estimates, so ordinary feed queries cross the JIT thresholds and pay
# 40 ms–1.3 s compiling; on a few cores parallel workers only add overhead to concurrent small requests.
SESSION_OPTIONS = "-c jit=off -c max_parallel_workers_per_gather=0"
# A pooled connection idle this long is pinged before use (a restarted cluster has dropped it); one in
# steady use is not, which saves a round trip per request under load.
PING_AFTER_IDLE_S = 2.0


def make_engine(url: str) -> Engine:
    """A pooled engine whose connections survive restarts of the embedded cluster: one the driver knows to be
    closed is replaced at checkout, one idle for ``PING_AFTER_IDLE_S`` is pinged first."""
    engine = create_engine(url, pool_size=10, max_overflow=20, connect_args={"options": SESSION_OPTIONS})
    event.listen(engine, "checkin", _stamp_idle)
    event.listen(engine, "checkout", _ping_if_idle)
    return engine


def _stamp_idle(dbapi_conn, record) -> None:
    record.info["idle_since"] = time.monotonic()


def _ping_if_idle(dbapi_conn, record, proxy) -> None:
    """Checkout hook: raising DisconnectionError makes the pool discard the connection and open another."""
    if dbapi_conn.closed:
        raise exc.DisconnectionError("connection closed")
    if time.monotonic() - record.info.get("idle_since", time.monotonic()) < PING_AFTER_IDLE_S:
        return
    try:
        with dbapi_conn.cursor() as cur:
            cur.execute("SELECT 1")
        dbapi_conn.rollback()
    except (psycopg2.OperationalError, psycopg2.InterfaceError) as e:
        raise exc.DisconnectionError(str(e)) from e


def init_app(app: Flask, url: str) -> None:
    app.extensions["mapper.engine"] = make_engine(url)


def get_engine() -> Engine:
    return current_app.extensions["mapper.engine"]


def alembic_config(url: str) -> Config:
    cfg = Config(str(PROJECT_ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Run migrations up to ``revision``."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    """Run migrations down to ``revision``."""
    command.downgrade(alembic_config(url), revision)


@contextmanager
def cursor(engine: Engine, *, commit: bool = False, name: str | None = None):
    """A DB-API cursor on a pooled connection, for COPY, streaming and multi-statement work: the transaction
    is committed at the end when ``commit``, otherwise (and on any error) rolled back. ``name`` makes it a
    server-side cursor."""
    raw = engine.raw_connection()
    try:
        with raw.cursor(name=name) if name else raw.cursor() as cur:
            yield cur
        if commit:
            raw.commit()
        else:
            raw.rollback()
    except BaseException:
        raw.rollback()
        raise
    finally:
        raw.close()


@contextmanager
def cursor_in(conn: Connection):
    """A DB-API cursor in the transaction of SQLAlchemy's ``conn`` (for work written against cursors, such as
    ``services.scoring``, that must commit or roll back with the caller's statements)."""
    cur = conn.connection.cursor()
    try:
        yield cur
    finally:
        cur.close()
