#!/usr/bin/env bash
# bench/ops.sh - figures for the operations issue (not a test): the cost
# of km_metrics on the hot path (bench/ops_metrics.c, built here against
# build/libkomek.a with the Makefile's flags) and of a /metrics scrape.
# usage: bench/ops.sh
set -euo pipefail
cd "$(dirname "$0")/.."
make --no-print-directory -s build/libkomek.a
PKGS="rdkafka jansson libconfig libpq libmicrohttpd uuid libcrypto"
out=$(mktemp /tmp/komek-bench-ops.XXXXXX)
trap 'rm -f "$out"' EXIT
# shellcheck disable=SC2046
cc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -Icommon \
        $(pkg-config --cflags $PKGS) bench/ops_metrics.c build/libkomek.a \
        -o "$out" $(pkg-config --libs $PKGS) -lm -lpthread
"$out" | tee "$out.txt"
# machine-readable (bench/run.sh): "bench: <key> <value> <unit>"
sed -n -e 's/^counter add, 1 thread: *\([0-9.]*\) ns.*/bench: ops.counter_ns \1 ns/p' \
        -e 's/^histogram observe.*: *\([0-9.]*\) ns.*/bench: ops.histogram_ns \1 ns/p' \
        -e 's/^GET \/metrics over loopback: *\([0-9.]*\) ms.*/bench: ops.scrape_ms \1 ms/p' "$out.txt"
rm -f "$out.txt"
