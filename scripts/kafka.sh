#!/usr/bin/env bash
# Apache Kafka (KRaft, one node) for development and tests, resolved from Maven Central: no Docker,
# no download besides the registries. The jars are fetched once and cached (~/.cache/vigil/kafka).
#
#   scripts/kafka.sh fetch
#       resolve the broker's jars (idempotent) and print their folder
#   scripts/kafka.sh start --dir DIR [--port 9092] [--controller-port 9093] [--heap 320m] [--watch-pid PID]
#                          [--sasl-ssl-port P --tls-dir TLS [--client-auth none|requested|required]]
#       write DIR/server.properties, format DIR on first use, then run the broker in the foreground
#       (exec: the process id is the broker's). With --watch-pid the broker stops when that process
#       ends, so a test run that dies does not leave a broker behind. Same DIR again: same data.
#       --sasl-ssl-port adds a SASL_SSL listener (TLS with TLS/ca.pem and TLS/broker.pem, SCRAM-SHA-256
#       and -512) next to the plaintext one; KAFKA_SCRAM_USER and KAFKA_SCRAM_PASSWORD create that user
#       (both mechanisms) when DIR is formatted. The password goes to the storage tool in a 0600
#       argument file, never on a command line.
#   scripts/kafka.sh tls --dir TLS [--host 127.0.0.1]
#       write a throwaway CA and certificates signed by it (openssl) for tests and development:
#       ca.pem, broker.pem (key + certificate, Kafka's PEM keystore; SAN = --host and localhost),
#       client.pem + client.key (a client certificate, for --client-auth). Keys are 0600.
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

# A throwaway CA and certificates signed by it; run once per folder.
tls() {
  local dir="" host=127.0.0.1
  while [ $# -gt 0 ]; do
    case "$1" in
      --dir) dir=$2; shift 2 ;;
      --host) host=$2; shift 2 ;;
      *) echo "kafka.sh tls: unknown option $1" >&2; exit 64 ;;
    esac
  done
  [ -n "$dir" ] || { echo "kafka.sh tls: --dir is required" >&2; exit 64; }
  command -v openssl >/dev/null 2>&1 || { echo "kafka.sh tls: openssl is required" >&2; exit 69; }
  mkdir -p "$dir"
  chmod 700 "$dir"
  local san="subjectAltName=DNS:localhost"
  if [[ $host =~ ^[0-9.]+$ ]]; then san="$san,IP:$host"; else san="$san,DNS:$host"; fi
  (
    cd "$dir"
    umask 077
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 30 -subj "/CN=Vigil test CA" 2>/dev/null
    for who in broker client; do
      local cn=$host
      [ $who = client ] && cn=vigil-client
      openssl req -newkey rsa:2048 -nodes -keyout "$who.key" -out "$who.csr" -subj "/CN=$cn" 2>/dev/null
      openssl x509 -req -in "$who.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -out "$who.crt" -days 30 -extfile <(echo "$san") 2>/dev/null
      rm -f "$who.csr"
    done
    # Kafka's PEM keystore: the key in PKCS#8, then the certificate.
    openssl pkcs8 -topk8 -nocrypt -in broker.key -out broker.pk8
    cat broker.pk8 broker.crt >broker.pem
    rm -f broker.pk8 broker.key broker.crt
    mv client.crt client.pem
    chmod 644 ca.pem
  )
  echo "$dir"
}

start() {
  local dir="" port=9092 cport=9093 heap=320m watch="" sport="" tlsdir="" clientauth=none
  while [ $# -gt 0 ]; do
    case "$1" in
      --dir) dir=$2; shift 2 ;;
      --sasl-ssl-port) sport=$2; shift 2 ;;
      --tls-dir) tlsdir=$2; shift 2 ;;
      --client-auth) clientauth=$2; shift 2 ;;
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
  if [ -n "$sport" ]; then
    [ -n "$tlsdir" ] && [ -f "$tlsdir/broker.pem" ] || { echo "kafka.sh start: --sasl-ssl-port needs --tls-dir with broker.pem (scripts/kafka.sh tls --dir ...)" >&2; exit 64; }
    tlsdir=$(cd "$tlsdir" && pwd)
    sed -e "s|@SASL_SSL_PORT@|$sport|g" -e "s|@TLS@|$tlsdir|g" -e "s|@CLIENT_AUTH@|$clientauth|g" "$here/kafka/sasl-ssl.properties.in" >>"$dir/server.properties"
    sed -i -e "s|^listeners=.*|&,SASL_SSL://127.0.0.1:$sport|" -e "s|^advertised.listeners=.*|&,SASL_SSL://127.0.0.1:$sport|" \
      -e "s|^listener.security.protocol.map=.*|&,SASL_SSL:SASL_SSL|" "$dir/server.properties"
  fi
  local tool_opts="-Xmx128m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Dlog4j.configuration=file:$here/kafka/log4j.properties"
  if [ ! -f "$dir/log/meta.properties" ]; then
    local id
    # shellcheck disable=SC2086
    id=$(java $tool_opts -cp "$libs/*" kafka.tools.StorageTool random-uuid)
    local args
    args=$(umask 077 && mktemp "$dir/.format-args.XXXXXX")
    {
      echo "$tool_opts -cp \"$libs/*\" kafka.tools.StorageTool format -t $id -c \"$dir/server.properties\""
      if [ -n "${KAFKA_SCRAM_USER:-}" ]; then
        for m in SCRAM-SHA-256 SCRAM-SHA-512; do echo "--add-scram \"$m=[name=$KAFKA_SCRAM_USER,password=$KAFKA_SCRAM_PASSWORD]\""; done
      fi
    } >"$args"
    # An argument file (java @file) keeps the password out of the process list.
    java "@$args" >&2 || { rm -f "$args"; exit 1; }
    rm -f "$args"
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
  tls) shift; tls "$@" ;;
  *) echo "usage: scripts/kafka.sh fetch | start --dir DIR [--port P] [--controller-port P] [--heap 320m] [--watch-pid PID] [--sasl-ssl-port P --tls-dir TLS [--client-auth none|requested|required]] | tls --dir TLS [--host H]" >&2; exit 64 ;;
esac
