#!/usr/bin/env bash
# Installs what a fresh machine lacks, idempotently: ffmpeg (Debian), then the npm dependencies.
# Runs before `npm start` and `npm test` (npm's prestart/pretest), so it must be quick when all is there.
set -euo pipefail
cd "$(dirname "$0")/.."

need_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v ffmpeg >/dev/null 2>&1 || ! command -v ffprobe >/dev/null 2>&1; then
  echo "bootstrap: installing ffmpeg (Debian package)" >&2
  need_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive need_root apt-get install -y -qq ffmpeg >/dev/null
fi
# The tests also drive real parts from Debian: chromium (console and report tests, through
# playwright-core; never a browser download), mosquitto (MQTT sink), promtool (metrics and rules checks)
# and PostgreSQL (the shared event store). `npm start` does not need them.
if [ "${1:-}" = "--test" ]; then
  missing=()
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
  command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "bootstrap: installing ${missing[*]} (Debian packages, for the tests)" >&2
    need_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive need_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi
command -v tar >/dev/null || { echo "bootstrap: tar is required" >&2; exit 1; }

major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 20 ]; then echo "bootstrap: Node.js >= 20 is required (found $(node --version))" >&2; exit 1; fi

# npm ci only when node_modules is missing or was installed from another lockfile.
lock_sum=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat node_modules/.vigil-lock-sha256 2>/dev/null)" != "$lock_sum" ]; then
  echo "bootstrap: installing npm dependencies" >&2
  # onnxruntime-node's postinstall would download CUDA libraries; the CPU and WebGPU providers are bundled.
  export ONNXRUNTIME_NODE_INSTALL=skip
  # hnswlib-node is built by node-gyp: use this Node's own headers instead of downloading them.
  prefix=$(dirname "$(dirname "$(command -v node)")")
  if [ -d "$prefix/include/node" ]; then export npm_config_nodedir="$prefix"; fi
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_sum" > node_modules/.vigil-lock-sha256
fi
