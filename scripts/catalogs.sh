#!/usr/bin/env bash
# Refresh the interface catalogs after adding or changing strings: extract mapper/translations/messages.pot
# (babel.cfg: templates, Python, layer files, messages shown on HTML pages), merge it into every language's
# messages.po, then translate the new or fuzzy entries (tests/test_i18n.py fails until none is left).
# Usage: scripts/catalogs.sh [--init LANG]      (--init: start a catalog for a new language first)
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
pybabel=.venv/bin/pybabel
out=mapper/translations
"$pybabel" -q extract -F babel.cfg --sort-by-file --add-location=file --omit-header -k _ -k gettext \
  -k ngettext:1,2 -k lazy_gettext --project civic-mapper -o "$out/messages.pot" .
if [ "${1:-}" = "--init" ]; then
  "$pybabel" init -i "$out/messages.pot" -d "$out" -l "$2"
fi
"$pybabel" -q update -i "$out/messages.pot" -d "$out" --no-fuzzy-matching --ignore-obsolete
"$pybabel" -q compile -d "$out" --statistics
