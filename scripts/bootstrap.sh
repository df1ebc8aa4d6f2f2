#!/usr/bin/env bash
# Prepare a fresh machine for civic-mapper: system packages (PostGIS; Chromium for the browser tests) when
# missing and we may install them, the virtualenv with the package, and the map assets from npm.
# Usage: scripts/bootstrap.sh [--browser]     (idempotent; fast when everything is already there)
set -euo pipefail
cd "$(dirname "$0")/.."
want_browser=0
[ "${1:-}" = "--browser" ] && want_browser=1

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo "$@"
  else return 1; fi
}
apt_install() {
  command -v apt-get >/dev/null || return 1
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get install -y -q "$@" >/dev/null 2>&1 || { as_root apt-get update -q >/dev/null 2>&1 && as_root apt-get install -y -q "$@" >/dev/null; }
}

have_postgis() { ls /usr/share/postgresql/*/extension/postgis.control >/dev/null 2>&1; }
if [ -z "${MAPPER_DATABASE_URL:-}" ] && ! have_postgis; then
  pgver=$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -n 1)
  pgver=${pgver:-15}
  echo "bootstrap: installing PostgreSQL $pgver + PostGIS 3 from Debian packages"
  apt_install "postgresql-$pgver" "postgresql-$pgver-postgis-3" || {
    echo "PostGIS is missing and cannot be installed here. Install it with:" >&2
    echo "    sudo apt-get install -y postgresql-$pgver postgresql-$pgver-postgis-3" >&2
    echo "or set MAPPER_DATABASE_URL to an existing PostGIS database." >&2
    exit 1; }
fi

if [ "$want_browser" = 1 ] && ! command -v chromium >/dev/null; then
  echo "bootstrap: installing Chromium for the browser tests"
  apt_install chromium chromium-driver || echo "bootstrap: Chromium unavailable; browser tests will fail" >&2
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv"
  "$PY" -m venv .venv
fi
stamp=.venv/.installed-$(cat pyproject.toml | sha1sum | cut -c1-12)
if [ ! -f "$stamp" ]; then
  echo "bootstrap: installing civic-mapper and its dependencies into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[test]'
  rm -f .venv/.installed-*; touch "$stamp"
fi

lockstamp=node_modules/.lock-$(sha1sum package-lock.json | cut -c1-12)
if [ ! -f "$lockstamp" ]; then
  echo "bootstrap: installing map assets from the npm registry (npm ci)"
  npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
  touch "$lockstamp"
fi

# The interface catalogs (.po → .mo); the app also compiles missing or stale ones when it starts.
.venv/bin/pybabel -q compile -d mapper/translations
