#!/usr/bin/env bash
# Test-only tools: tinyproxy (the HTTP CONNECT proxy the proxy tests go through), headless Chromium (Debian's chromium) for the flame graph and speedscope browser tests, and
# speedscope's npm package (its file-format schema and app) in the ignored .cache/node folder.
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '[setup] %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  log "installing chromium (headless browser tests)"
  as_root apt-get update -qq >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2
fi
if ! command -v tinyproxy >/dev/null 2>&1 && [ ! -x /usr/bin/tinyproxy ] && [ ! -x /usr/sbin/tinyproxy ]; then
  log "installing tinyproxy (proxy tests)"
  as_root apt-get update -qq >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tinyproxy >&2
  # The package starts a system-wide instance on port 8888; the tests run their own on a free loopback port.
  as_root sh -c 'command -v service >/dev/null && service tinyproxy stop' >/dev/null 2>&1 || true
fi
if ! command -v npm >/dev/null 2>&1; then
  log "installing npm"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >&2
fi
if [ ! -f .cache/node/node_modules/speedscope/package.json ]; then
  log "installing the speedscope npm package into .cache/node"
  mkdir -p .cache/node
  npm install --silent --no-audit --no-fund --prefix .cache/node speedscope >&2
fi
