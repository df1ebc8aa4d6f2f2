"""Settings: defaults, then ``config.toml``, then ``MAPPER_*`` environment variables, then test overrides."""

from __future__ import annotations

import os
import secrets
import tomllib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

PROJECT_ROOT = Path(__file__).resolve().parent.parent

DEFAULTS = {
    "DATABASE_URL": "",
    "SECRET_KEY": "",
    "LAYERS_DIR": "layers",
    "VAR_DIR": "var",
    "TILES_URL": "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
    "TILES_ATTRIBUTION": "&copy; OpenStreetMap contributors",
    "MAP_CENTER": [39.965, -83.0],
    "MAP_ZOOM": 12,
    "MAX_BODY_BYTES": 262144,
    "MAX_VERTICES": 5000,
    "MAX_FEATURES_PER_TILE": 10000,
    "MAP_DETAIL_LIMIT": 1000,
    "TILE_CACHE_MB": 64,
    "MAX_UPLOAD_BYTES": 200 * 1024 * 1024,
    "PUBLIC_URL": "",
    "TRUSTED_HOSTS": ["localhost", "127.0.0.1", "::1"],
    "FRAME_ANCESTORS": "'self'",
    "IDEMPOTENCY_TTL_HOURS": 24,
    "RATELIMIT_ENABLED": True,
    "RATELIMIT_STORAGE_URI": "database://",
    "RATELIMIT_INTAKE": "10 per minute; 100 per hour",
    "RATELIMIT_TRACKING": "30 per minute; 300 per hour",
    "RATELIMIT_LOGIN": "5 per minute; 20 per hour",
    "TRUSTED_PROXIES": 0,
    "SESSION_COOKIE_SECURE": "auto",
    "SESSION_COOKIE_SAMESITE": "Lax",
    "SCORE_REFRESH_S": 60,
    "WORKER_POLL_S": 5,
    "SMTP_URL": "",  # "" = no e-mail; smtp://[user:pass@]host:port, smtp+starttls://…, smtps://…
    "MAIL_FROM": "civic-mapper <no-reply@localhost>",
}


def config_path() -> Path:
    """The config file in use: ``$MAPPER_CONFIG``, else ``./config.toml``, else the project's own."""
    if os.environ.get("MAPPER_CONFIG"):
        return Path(os.environ["MAPPER_CONFIG"])
    if Path("config.toml").exists():
        return Path("config.toml").resolve()
    return PROJECT_ROOT / "config.toml"


def _env_value(raw: str):
    """Parse an environment override as a TOML value when it is one (numbers, lists), else keep the text."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def load_settings(test_config: dict | None = None) -> dict:
    """Merged settings; relative paths are resolved against the config file's directory."""
    settings = dict(DEFAULTS)
    path = config_path()
    if path.exists():
        with open(path, "rb") as f:
            settings.update(tomllib.load(f))
    for key, raw in os.environ.items():
        if key.startswith("MAPPER_") and key != "MAPPER_CONFIG":
            settings[key[len("MAPPER_") :]] = _env_value(raw)
    settings.update(test_config or {})
    base = path.parent if path.exists() else PROJECT_ROOT
    for key in ("LAYERS_DIR", "VAR_DIR"):
        settings[key] = str((base / settings[key]).resolve())
    return settings


class ConfigurationError(ValueError):
    """A setting the platform cannot start with; the message says which and what to do."""


# Secrets shipped in examples: never accepted as a server's secret.
PLACEHOLDER_SECRETS = ("", "dev-only-change-me", "change-me")


def secret_key(settings: dict) -> str:
    """``SECRET_KEY`` (it signs sessions and CSRF tokens, and seals idempotency records). Unset on the embedded
    default, a random one is made once and kept in ``VAR_DIR/secret_key`` (mode 600); with a database of your
    own (``DATABASE_URL``) it must be set."""
    key = str(settings.get("SECRET_KEY") or "")
    if key not in PLACEHOLDER_SECRETS:
        return key
    if settings.get("DATABASE_URL"):
        raise ConfigurationError(
            "SECRET_KEY is not set: set MAPPER_SECRET_KEY to a long random value (e.g. `openssl rand -hex 32`)."
        )
    path = Path(settings["VAR_DIR"]) / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return path.read_text().strip()


def database_url(settings: dict) -> str:
    """The database in use: ``DATABASE_URL`` when set, else the embedded cluster's."""
    if settings.get("DATABASE_URL"):
        return settings["DATABASE_URL"]
    from mapper.embedded_db import EmbeddedCluster

    return EmbeddedCluster(Path(settings["VAR_DIR"])).url()


SMTP_SCHEMES = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}  # each with its usual port


@dataclass(frozen=True)
class SmtpServer:
    """Where messages go (``SMTP_URL``): ``security`` is ``plain``, ``starttls`` or ``tls``."""

    host: str
    port: int
    security: str
    user: str | None = None
    password: str | None = None


def smtp_server(settings: dict) -> SmtpServer | None:
    """``SMTP_URL`` read (None: no e-mail is sent nor queued); with it, ``PUBLIC_URL`` must be set, since every
    message carries a link to the reporter's tracking page."""
    url = str(settings.get("SMTP_URL") or "")
    if not url:
        return None
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme not in SMTP_SCHEMES or not parts.hostname or port == -1:
        raise ConfigurationError(
            'SMTP_URL must read smtp://[user:password@]host:port, smtp+starttls://… or smtps://… (or "" for no e-mail).'
        )
    if not settings.get("PUBLIC_URL"):
        raise ConfigurationError("SMTP_URL is set: set PUBLIC_URL too (messages link to the tracking page).")
    security = {"smtp": "plain", "smtp+starttls": "starttls", "smtps": "tls"}[parts.scheme]
    return SmtpServer(
        parts.hostname,
        port or SMTP_SCHEMES[parts.scheme],
        security,
        unquote(parts.username) if parts.username else None,
        unquote(parts.password) if parts.password else None,
    )
