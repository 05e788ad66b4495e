#!/usr/bin/env bash
# The main job on the embedded default target: sets up, starts the local demo (a real Go pprof server standing in
# for the Argo Rollouts controller, behind the project's loopback test API server with an argo-rollouts namespace),
# captures cpu (5 s) and heap with the plugin through the cluster path, shows where the files went, stops the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
out="${DEMO_OUT:-$PWD/out}"
mkdir -p "$out"
exec .venv/bin/python -m tests.demo --output-dir "$out"
