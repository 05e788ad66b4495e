#!/usr/bin/env bash
# Checks the declared lower bounds: a new virtualenv on Python 3.10 (the oldest the project supports) with the lowest
# versions of the direct dependencies that pyproject.toml allows (uv's lowest-direct resolution); runs the smoke
# commands through pip's script and `python -m`, then the fast tests (the CLI, completion, signals, the cluster path
# over TLS and proxies). Called by scripts/test.sh after scripts/setup.sh --test (which installs uv).
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '[floors] %s\n' "$*" >&2; }
FAST_TESTS=(tests/test_cli_main.py tests/test_cli_completion.py tests/test_cluster_transport.py)

python310=""
for candidate in "$(command -v python3.10 || true)" "$HOME"/.pyenv/versions/3.10*/bin/python; do
  # (pyenv's shim for python3.10 exists even where it would not run 3.10: ask the interpreter itself)
  if [ -n "$candidate" ] && "$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null; then
    python310=$candidate
    break
  fi
done
if [ -z "$python310" ]; then
  log "SKIPPED: no Python 3.10 here (neither python3.10 on PATH nor pyenv's 3.10): the lower bounds were NOT checked"
  log "hint: pyenv install 3.10, or apt-get install python3.10 where the distribution has it"
  exit 0
fi
uv=.venv/bin/uv
venv=.cache/floors-venv
rm -rf "$venv"
log "Python $("$python310" -c 'import platform; print(platform.python_version())') with the lowest direct dependencies"
$uv venv -q --python "$python310" "$venv"
$uv pip install -q --python "$venv/bin/python" --resolution lowest-direct .
# Each direct dependency must be installed at exactly its declared floor: a floor that another package lifts is not
# the true one.
.venv/bin/python - "$venv/bin/python" <<'PY'
import json, re, subprocess, sys, tomllib
declared = {}
for requirement in tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]:
    name, floor = re.fullmatch(r"([A-Za-z0-9_.-]+)>=([0-9.]+)", requirement).groups()
    declared[name] = floor
probe = "import importlib.metadata as m, json, sys; print(json.dumps({n: m.version(n) for n in sys.argv[1:]}))"
installed = json.loads(subprocess.run([sys.argv[1], "-c", probe, *declared], capture_output=True, text=True,
                                      check=True).stdout)
key = lambda version: [int(part) for part in version.split(".")] + [0] * (4 - version.count("."))
print("[floors] installed: " + ", ".join(f"{name} {installed[name]}" for name in declared), file=sys.stderr)
lifted = [f"{name} {installed[name]} (declared >={floor})" for name, floor in declared.items()
          if key(installed[name]) != key(floor)]
if lifted:
    sys.exit("[floors] not installed at the declared floor: " + ", ".join(lifted))
PY
gotarget=$(.venv/bin/python -c 'from tests.goproc import build_gotarget; print(build_gotarget())')
"$venv/bin/python" krew/smoke.py --gotarget "$gotarget" -- "$venv/bin/kubectl-rollouts_profile"
"$venv/bin/python" krew/smoke.py -- "$venv/bin/python" -m kubectl_rollouts_profile
log "the fast tests on Python 3.10"
$uv pip install -q --python "$venv/bin/python" --resolution lowest-direct '.[test]'
"$venv/bin/python" -m pytest -q -p no:cacheprovider "${FAST_TESTS[@]}"
