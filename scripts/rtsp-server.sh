#!/usr/bin/env bash
# Builds mediamtx (MIT; a real RTSP server, used by the RTSP ingest tests and `vigil bench ingest`)
# from the Go module proxy, once, into a cache folder, and prints the binary's path on stdout.
# Idempotent and safe to run concurrently (flock); a fresh 2-core machine takes about a minute.
#
#   scripts/rtsp-server.sh            # -> ~/.cache/vigil/mediamtx-v1.14.0/mediamtx
#   VIGIL_CACHE_DIR=/x scripts/rtsp-server.sh
set -euo pipefail

VER=${VIGIL_MEDIAMTX_VERSION:-v1.14.0}
CACHE=${VIGIL_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vigil}
DIR="$CACHE/mediamtx-$VER"
BIN="$DIR/mediamtx"

if [ -x "$BIN" ]; then echo "$BIN"; exit 0; fi

if ! command -v go >/dev/null 2>&1; then
  echo "rtsp-server: Go is needed to build mediamtx once (Debian: apt-get install golang-go)" >&2
  exit 1
fi
mkdir -p "$CACHE"
exec 9>"$CACHE/mediamtx.lock"
flock 9
if [ -x "$BIN" ]; then echo "$BIN"; exit 0; fi

tmp=$(mktemp -d "$CACHE/mediamtx-build.XXXXXX")
trap 'chmod -R u+w "$tmp" 2>/dev/null || true; rm -rf "$tmp"' EXIT
t0=$(date +%s)
echo "rtsp-server: building mediamtx $VER from the Go module proxy (once; cached in $DIR)" >&2
src=$(cd "$tmp" && go mod download -json "github.com/bluenviron/mediamtx@$VER" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).Dir))')
cp -r "$src" "$tmp/src"
chmod -R u+w "$tmp/src"
# Files that mediamtx's `go generate` normally makes (it downloads them); go:embed needs them to exist.
echo "$VER" > "$tmp/src/internal/core/VERSION"
# The browser HLS player: only served by the HLS server, which Vigil's tests switch off.
: > "$tmp/src/internal/servers/hls/hls.min.js"
(cd "$tmp/src" && CGO_ENABLED=0 GOFLAGS=-mod=readonly go build -trimpath -ldflags "-s -w" -o "$tmp/mediamtx" .)
mkdir -p "$DIR"
mv "$tmp/mediamtx" "$BIN.partial"
mv "$BIN.partial" "$BIN"
echo "rtsp-server: built $BIN in $(( $(date +%s) - t0 )) s" >&2
echo "$BIN"
