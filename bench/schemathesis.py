"""The full schemathesis run of tests/test_schemathesis.py: every operation of /api/openapi.json on the live
server with ``--examples`` generated cases each (default 60) plus schemathesis' coverage phase (boundary
values and each constraint broken in turn), all checks. CI runs the same test in a reduced form.

    .venv/bin/python -m bench.schemathesis [--examples N] [--no-coverage] [pytest arguments…]

It takes a throwaway database in the embedded cluster like the tests, and 8 to 15 minutes on two shared
cores; the exit status is pytest's.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from mapper.config import PROJECT_ROOT


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=60, help="generated cases per operation (default 60)")
    parser.add_argument("--no-coverage", action="store_true", help="skip the coverage phase")
    args, pytest_args = parser.parse_known_args(argv)
    env = dict(
        os.environ,
        SCHEMATHESIS_EXAMPLES=str(args.examples),
        SCHEMATHESIS_COVERAGE="" if args.no_coverage else "1",
        PYTHONPATH=os.pathsep.join(p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")) if p),
    )
    command = [sys.executable, "-m", "pytest", "tests/test_schemathesis.py", "-p", "no:cacheprovider", *pytest_args]
    return subprocess.call(command, cwd=PROJECT_ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main())
