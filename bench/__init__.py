"""Benchmarks, run as modules: ``.venv/bin/python -m bench.<name>`` (see bench/README.md)."""

import os
import secrets

# A server with a database of its own must be given a secret: the benchmarks' apps and servers get a fresh one.
os.environ.setdefault("MAPPER_SECRET_KEY", secrets.token_hex(32))
