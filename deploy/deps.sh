#!/usr/bin/env bash
# deploy/deps.sh — install what komek needs to build, test and run on Debian 12.
#
# Usage: bash deploy/deps.sh        (from any directory; run as root)
#
# Idempotent: checks each Debian package with `dpkg -s` and runs
# `apt-get update` + `apt-get install` only when something is missing; then
# fetches the Kafka broker jars (deploy/kafka/pom.xml) into .run/kafka/lib
# unless they are already there. Prints one line "deps: ok" when nothing had
# to be done. Safe with CI=true and no standard input.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd -P)

PKGS=(
  build-essential pkg-config
  librdkafka-dev libjansson-dev libconfig-dev libpq-dev libmicrohttpd-dev
  uuid-dev libssl-dev libcmocka-dev
  # komek-notify: SMTP and HTTPS through libcurl; its tests' SMTP server
  libcurl4-openssl-dev python3-aiosmtpd
  kcat postgresql postgresql-contrib
  default-jdk-headless maven
  clang libclang-rt-14-dev clang-format valgrind curl chromium wrk
  # tools the scripts, the demo and the tests call (a minimal Debian 12
  # root has none of them): jq, ip (iproute2), python3, perl, GNU time,
  # psql, git, ps/pgrep (procps), flock/setsid (util-linux), openssl
  jq iproute2 python3 perl time postgresql-client git procps
  util-linux openssl ca-certificates
  systemd  # systemd-analyze verifies the units (tests/ops/test_deploy.sh)
  coreutils sed gawk file
  # make test-fresh builds a minimal Debian 12 root to run the README in
  debootstrap
)
KAFKA_LIB="$ROOT/.run/kafka/lib"
KAFKA_JAR="kafka_2.13-3.9.2.jar"

did=0

missing=()
for p in "${PKGS[@]}"; do
  # Like `dpkg -s`, but a removed package whose config files remain counts
  # as missing (dpkg -s would succeed for it).
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) || status=""
  [[ $status == "install ok installed" ]] || missing+=("$p")
done
# Node.js and npm for the browser test (playwright-core drives Debian's
# chromium): Debian's packages, unless a node is already installed (this
# machine kind ships one; two would conflict).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  missing+=(nodejs npm)
fi

if ((${#missing[@]})); then
  did=1
  echo "deps: installing ${missing[*]}"
  SUDO=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "deps: need root (or sudo) to install packages" >&2; exit 1; }
    SUDO=(sudo -n)
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" apt-get update -q </dev/null
  "${SUDO[@]}" apt-get install -y -q "${missing[@]}" </dev/null
fi

if [[ ! -f "$KAFKA_LIB/$KAFKA_JAR" ]]; then
  did=1
  echo "deps: fetching Kafka jars into .run/kafka/lib"
  mkdir -p "$ROOT/.run/kafka"
  rm -rf "$ROOT"/.run/kafka/lib.tmp.*   # left by an interrupted earlier run
  tmp=$(mktemp -d "$ROOT/.run/kafka/lib.tmp.XXXXXX")
  mvnlog="$tmp.log"
  trap 'rm -rf "$tmp" "$mvnlog"' EXIT
  # Maven's output (even with -q it leaves colour escapes) is shown on failure only.
  if ! mvn -q -B -Dstyle.color=never -f deploy/kafka/pom.xml dependency:copy-dependencies \
      -DoutputDirectory="$tmp" -DincludeScope=runtime </dev/null >"$mvnlog" 2>&1; then
    cat "$mvnlog" >&2
    echo "deps: fetching the Kafka jars with maven failed" >&2
    exit 1
  fi
  if [[ ! -f "$tmp/$KAFKA_JAR" ]]; then
    echo "deps: maven finished but $KAFKA_JAR is not among the fetched jars" >&2
    exit 1
  fi
  rm -rf "$KAFKA_LIB"
  mv "$tmp" "$KAFKA_LIB"
  rm -f "$mvnlog"
  trap - EXIT
fi

if ((did)); then
  echo "deps: ok (installed what was missing)"
else
  echo "deps: ok"
fi
