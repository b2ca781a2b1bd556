#!/usr/bin/env bash
# Apache Kafka (KRaft, one node) for development and tests, resolved from Maven Central: no Docker,
# no download besides the registries. The jars are fetched once and cached (~/.cache/vigil/kafka).
#
#   scripts/kafka.sh fetch
#       resolve the broker's jars (idempotent) and print their folder
#   scripts/kafka.sh start --dir DIR [--port 9092] [--controller-port 9093] [--heap 320m] [--watch-pid PID]
#       write DIR/server.properties, format DIR on first use, then run the broker in the foreground
#       (exec: the process id is the broker's). With --watch-pid the broker stops when that process
#       ends, so a test run that dies does not leave a broker behind. Same DIR again: same data.
#
# KAFKA_JVM_OPTS replaces the JVM options (heap, GC, JIT); VIGIL_CACHE_DIR moves the cache.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
pom="$here/kafka/pom.xml"
version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$pom")
pomsum=$(sha256sum "$pom" | cut -c1-8)
cache="${VIGIL_CACHE_DIR:-$HOME/.cache/vigil}/kafka/$version-$pomsum"

need_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

ensure_tools() {
  local missing=()
  command -v java >/dev/null 2>&1 || missing+=(default-jre-headless)
  command -v mvn >/dev/null 2>&1 || missing+=(maven)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "kafka.sh: installing ${missing[*]} (Debian packages)" >&2
    need_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive need_root apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

fetch() {
  if [ -f "$cache/libs/.complete" ]; then echo "$cache/libs"; return; fi
  ensure_tools
  mkdir -p "$cache"
  # Several test workers may ask at once: one fetches, the others wait for it.
  exec 9>"$cache/.lock"
  flock 9
  if [ ! -f "$cache/libs/.complete" ]; then
    echo "kafka.sh: fetching Apache Kafka $version from Maven Central into $cache (once)" >&2
    local tmp
    tmp=$(mktemp -d "$cache/libs.XXXXXX")
    mvn -q -B -f "$pom" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" >&2
    touch "$tmp/.complete"
    rm -rf "$cache/libs"
    mv "$tmp" "$cache/libs"
  fi
  flock -u 9
  echo "$cache/libs"
}

start() {
  local dir="" port=9092 cport=9093 heap=320m watch=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --dir) dir=$2; shift 2 ;;
      --port) port=$2; shift 2 ;;
      --controller-port) cport=$2; shift 2 ;;
      --heap) heap=$2; shift 2 ;;
      --watch-pid) watch=$2; shift 2 ;;
      *) echo "kafka.sh start: unknown option $1" >&2; exit 64 ;;
    esac
  done
  [ -n "$dir" ] || { echo "kafka.sh start: --dir is required" >&2; exit 64; }
  local libs
  libs=$(fetch)
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  sed -e "s|@PORT@|$port|g" -e "s|@CONTROLLER_PORT@|$cport|g" -e "s|@DATA@|$dir|g" "$here/kafka/server.properties.in" >"$dir/server.properties"
  local tool_opts="-Xmx128m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Dlog4j.configuration=file:$here/kafka/log4j.properties"
  if [ ! -f "$dir/log/meta.properties" ]; then
    local id
    # shellcheck disable=SC2086
    id=$(java $tool_opts -cp "$libs/*" kafka.tools.StorageTool random-uuid)
    # shellcheck disable=SC2086
    java $tool_opts -cp "$libs/*" kafka.tools.StorageTool format -t "$id" -c "$dir/server.properties" >&2
  fi
  if [ -n "$watch" ]; then
    # $$ stays this script's pid, which after `exec` below is the broker's.
    (while kill -0 "$watch" 2>/dev/null && kill -0 $$ 2>/dev/null; do sleep 1; done; kill $$ 2>/dev/null || true) </dev/null >/dev/null 2>&1 &
  fi
  local opts=${KAFKA_JVM_OPTS:-"-Xms64m -Xmx$heap -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true"}
  # shellcheck disable=SC2086
  exec java $opts -Dlog4j.configuration="file:$here/kafka/log4j.properties" -Dkafka.logs.dir="$dir/logs" -cp "$libs/*" kafka.Kafka "$dir/server.properties"
}

case "${1:-}" in
  fetch) fetch ;;
  start) shift; start "$@" ;;
  *) echo "usage: scripts/kafka.sh fetch | start --dir DIR [--port P] [--controller-port P] [--heap 320m] [--watch-pid PID]" >&2; exit 64 ;;
esac
