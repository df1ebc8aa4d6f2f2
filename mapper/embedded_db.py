"""The embedded default database: a private PostgreSQL + PostGIS cluster under ``var/``.

The cluster listens on 127.0.0.1 only, on a free port chosen at first start, with a random password kept
in ``var/db.json`` (mode 600). PostgreSQL refuses to run as root, so when invoked as root the server runs
as the ``postgres`` system user (and, if that user cannot reach ``var/``, its data directory lives under
``/var/lib/civic-mapper/``).
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg2
from psycopg2 import sql as pgsql

SUPERUSER = "mapper"
DATABASE = "mapper"
INSTALL_HINT = (
    "PostgreSQL with PostGIS is not installed. On Debian/Ubuntu run:\n"
    "    sudo apt-get install -y postgresql-15 postgresql-15-postgis-3\n"
    "(or set MAPPER_DATABASE_URL to an existing PostGIS database)."
)


class EmbeddedDbError(RuntimeError):
    """The embedded cluster cannot be created, started or reached; the message says what to do."""


def find_bindir() -> Path:
    """Newest PostgreSQL server binaries on this machine."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=_version_key, reverse=True)
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(on_path)
    for c in candidates:
        if Path(c).with_name("initdb").exists():
            return Path(c).parent
    raise EmbeddedDbError(INSTALL_HINT)


def _version_key(path: str) -> float:
    try:
        return float(Path(path).parts[-3])
    except (ValueError, IndexError):
        return 0.0


def postgis_available(bindir: Path) -> bool:
    """True when the PostGIS extension is installed for the server in ``bindir``."""
    pg_config = bindir / "pg_config"
    if pg_config.exists():
        share = subprocess.run([str(pg_config), "--sharedir"], capture_output=True, text=True).stdout.strip()
    else:
        share = f"/usr/share/postgresql/{bindir.parent.name}"
    return Path(share, "extension", "postgis.control").exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def server_settings() -> str:
    """Memory and planner settings for this machine: shared buffers an eighth of RAM (256 MB–2 GB) and the
    page costs of an SSD or a cached table, where PostgreSQL's defaults assume spinning disks."""
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        ram = 2 << 30
    shared_mb = min(2048, max(256, ram // 8 >> 20))
    return (
        f"-c shared_buffers={shared_mb}MB -c effective_cache_size={max(1024, ram // 2 >> 20)}MB "
        "-c random_page_cost=1.1 -c effective_io_concurrency=100"
    )


@dataclass
class EmbeddedCluster:
    """One private cluster, described by the state file ``<var_dir>/db.json``."""

    var_dir: Path
    bindir: Path | None = None  # PostgreSQL server binaries; found on this machine when None

    def __post_init__(self):
        self.var_dir = Path(self.var_dir).resolve()
        self.state_file = self.var_dir / "db.json"
        self.as_root = os.geteuid() == 0

    # --- state -------------------------------------------------------------------------------------
    def state(self) -> dict | None:
        if not self.state_file.exists():
            return None
        return json.loads(self.state_file.read_text())

    def _save_state(self, state: dict) -> None:
        self.var_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        os.chmod(tmp, 0o600)
        tmp.replace(self.state_file)

    def url(self, database: str = DATABASE) -> str:
        """SQLAlchemy URL of the cluster (it need not be running)."""
        st = self.state()
        if st is None:
            raise EmbeddedDbError("The embedded database does not exist yet: run `mapper db start`.")
        return f"postgresql+psycopg2://{SUPERUSER}:{st['password']}@127.0.0.1:{st['port']}/{database}"

    # --- running commands as the server user --------------------------------------------------------
    def _server_cmd(self, args: list[str]) -> list[str]:
        if self.as_root:
            return ["runuser", "-u", "postgres", "--", *args]
        return args

    def _run(self, args: list[str]) -> subprocess.CompletedProcess:
        return subprocess.run(self._server_cmd(args), capture_output=True, text=True)

    def _datadir_for_new_cluster(self) -> Path:
        local = self.var_dir / "pgdata"
        if not self.as_root:
            return local
        try:
            pwd.getpwnam("postgres")
        except KeyError as e:
            raise EmbeddedDbError("Running as root needs the `postgres` system user. " + INSTALL_HINT) from e
        self.var_dir.mkdir(parents=True, exist_ok=True)
        reachable = (
            subprocess.run(
                ["runuser", "-u", "postgres", "--", "test", "-x", str(self.var_dir)], capture_output=True
            ).returncode
            == 0
        )
        if not reachable:
            # The project sits under a directory the postgres user cannot enter (e.g. a 0700 temp dir):
            # keep the data where it can, named after this checkout.
            digest = hashlib.sha1(str(self.var_dir).encode()).hexdigest()[:12]
            return Path("/var/lib/civic-mapper") / digest / "pgdata"
        return local

    # --- lifecycle ---------------------------------------------------------------------------------
    def init(self) -> dict:
        """Create the cluster (first time only) and return its state."""
        st = self.state()
        if st and Path(st["datadir"], "PG_VERSION").exists():
            return st
        bindir = Path(self.bindir) if self.bindir else find_bindir()
        if not postgis_available(bindir):
            raise EmbeddedDbError(INSTALL_HINT)
        datadir = self._datadir_for_new_cluster()
        datadir.mkdir(parents=True, exist_ok=True)
        if self.as_root:
            shutil.chown(datadir, "postgres", "postgres")
        os.chmod(datadir, 0o700)
        password = secrets.token_urlsafe(24)
        with tempfile.NamedTemporaryFile("w", delete=False, prefix="mapper-pw") as f:
            f.write(password)
        if self.as_root:
            shutil.chown(f.name, "postgres", "postgres")
        try:
            res = self._run(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(datadir),
                    "-U",
                    SUPERUSER,
                    "--auth=scram-sha-256",
                    f"--pwfile={f.name}",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                ]
            )
        finally:
            os.unlink(f.name)
        if res.returncode != 0:
            raise EmbeddedDbError(f"initdb failed:\n{res.stdout}\n{res.stderr}")
        st = {"datadir": str(datadir), "bindir": str(bindir), "port": _free_port(), "password": password}
        self._save_state(st)
        return st

    def is_running(self) -> bool:
        st = self.state()
        if not st:
            return False
        return self._run([str(Path(st["bindir"]) / "pg_ctl"), "-D", st["datadir"], "status"]).returncode == 0

    def start(self) -> str:
        """Create if needed, start if stopped, ensure the PostGIS database exists; return its URL."""
        st = self.init()
        if not self.is_running():
            if not _port_free(st["port"]):
                st["port"] = _free_port()
                self._save_state(st)
            opts = (
                f"-c listen_addresses=127.0.0.1 -p {st['port']} -c unix_socket_directories='' "
                f"{server_settings()} -c max_connections=200 -c max_wal_size=4GB"
            )
            log = str(Path(st["datadir"]) / "server.log")
            res = self._run(
                [
                    str(Path(st["bindir"]) / "pg_ctl"),
                    "-D",
                    st["datadir"],
                    "-l",
                    log,
                    "-o",
                    opts,
                    "-w",
                    "-t",
                    "60",
                    "start",
                ]
            )
            if res.returncode != 0:
                tail = self._run(["tail", "-n", "20", log]).stdout
                raise EmbeddedDbError(f"PostgreSQL did not start:\n{res.stdout}{res.stderr}\n{tail}")
        self.ensure_database(DATABASE)
        return self.url()

    def stop(self) -> bool:
        """Stop the cluster; False when it was not running."""
        st = self.state()
        if not st or not self.is_running():
            return False
        self._run([str(Path(st["bindir"]) / "pg_ctl"), "-D", st["datadir"], "-m", "fast", "-w", "stop"])
        return True

    def data_inside_var_dir(self) -> bool:
        """True when the cluster's data lives under ``var_dir`` (not in the root fallback directory)."""
        st = self.state()
        return st is None or Path(st["datadir"]).resolve().is_relative_to(self.var_dir)

    def destroy(self) -> None:
        """Stop the cluster and delete its data and state for good."""
        self.stop()
        st = self.state()
        if st is None:
            return
        datadir = Path(st["datadir"])
        shutil.rmtree(datadir if self.data_inside_var_dir() else datadir.parent, ignore_errors=True)
        self.state_file.unlink(missing_ok=True)

    def status(self) -> str:
        st = self.state()
        if not st:
            return "not created (run `mapper db start`)"
        where = f"{st['datadir']} on 127.0.0.1:{st['port']}"
        return f"running: {where}" if self.is_running() else f"stopped: {where}"

    # --- databases ---------------------------------------------------------------------------------
    def _admin_connect(self):
        st = self.state()
        last = None
        for _ in range(50):
            try:
                conn = psycopg2.connect(
                    host="127.0.0.1", port=st["port"], user=SUPERUSER, password=st["password"], dbname="postgres"
                )
                conn.autocommit = True
                return conn
            except psycopg2.OperationalError as e:  # server still starting
                last = e
                time.sleep(0.1)
        raise EmbeddedDbError(f"cannot connect to the embedded cluster: {last}")

    def ensure_database(self, name: str) -> str:
        """Create database ``name`` with PostGIS if it does not exist; return its URL."""
        conn = self._admin_connect()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
                if cur.fetchone() is None:
                    cur.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(name)))
        finally:
            conn.close()
        url = self.url(name)
        st = self.state()
        db = psycopg2.connect(host="127.0.0.1", port=st["port"], user=SUPERUSER, password=st["password"], dbname=name)
        db.autocommit = True
        try:
            with db.cursor() as cur:
                cur.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        finally:
            db.close()
        return url

    def drop_database(self, name: str) -> None:
        conn = self._admin_connect()
        try:
            with conn.cursor() as cur:
                cur.execute(pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(name)))
        finally:
            conn.close()
