#!/usr/bin/env bash
# Sets up everything the plugin, its demo and its tests need on a fresh Debian machine:
#   the Go toolchain (Debian's golang-go) for the real pprof target, a virtualenv in .venv with the plugin
#   installed (editable) and, with --test, the test tools (browser and the speedscope package for export tests).
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

. scripts/setup-common.sh

if ! command -v go >/dev/null 2>&1; then
  log "installing the Go toolchain (golang-go)"
  apt_install golang-go
fi

if [ ! -x .venv/bin/python ]; then
  log "creating .venv"
  python3 -m venv .venv
fi
stamp=.venv/.installed
if [ ! -f $stamp ] || [ pyproject.toml -nt $stamp ]; then
  log "installing the plugin and its dependencies into .venv"
  .venv/bin/pip install -q --disable-pip-version-check -e '.[test]' >&2
  touch $stamp
fi

log "building the Go pprof target"
.venv/bin/python -c 'from tests.goproc import build_gotarget; print(build_gotarget())' >/dev/null

if [ $want_test = 1 ]; then
  if ! command -v kubectl >/dev/null 2>&1; then
    log "installing kubectl"
    apt_install kubectl
  fi
  if [ -f scripts/setup-test-extras.sh ]; then
    bash scripts/setup-test-extras.sh
  fi
fi
log "ready"
