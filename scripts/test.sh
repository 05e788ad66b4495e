#!/usr/bin/env bash
# Sets up (scripts/setup.sh --test) and runs the whole test suite: lint, type check, the dependency floors, pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
echo "[test] ruff" >&2
.venv/bin/ruff check kubectl_rollouts_profile tests benchmarks krew
echo "[test] mypy" >&2
.venv/bin/mypy
echo "[test] dependency floors: lowest direct versions on Python 3.10, smoke commands, fast tests" >&2
bash scripts/test-floors.sh
echo "[test] pytest" >&2
status=0
.venv/bin/python -m pytest -q -p no:cacheprovider "$@" || status=$?
if [ $status = 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi
exit $status
