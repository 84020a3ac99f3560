#!/usr/bin/env bash
# bench/intake.sh - figures for the intake issue (not a test):
#  1. komek-intake vs `kcat -P` publishing the same generated JSON Lines
#     (komek-gen, seed 109, a year x BENCH_COPIES) to fresh topics in the
#     same run; both idempotent (acks=all); messages/s over the whole run,
#     start-up and final flush included.  Target: intake >= 0.8x kcat.
#  2. komek-gateway: POST /requests (unique external ids, 201 after the
#     broker's ack) and GET /services at concurrency 32 with
#     komek-httpload (tests/intake/httpload.c): requests/s, p50, p99.
# usage: bench/intake.sh [BIN_DIR]     (after make up; uses the shared
# broker and a scratch schema of the test database, dropped at the end)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN="$ROOT/${1:-bin}"
BUILD=build
[[ ${1:-bin} == build-asan/* ]] && BUILD=build-asan
export KOMEK_CONFIG="$ROOT/deploy/komek.conf"
# shellcheck disable=SC1091
. .run/kafka.env
# shellcheck disable=SC1091
. .run/pg.env
COPIES=${BENCH_COPIES:-5}
CONC=${BENCH_CONCURRENCY:-32}
POSTS=${BENCH_POSTS:-6400}
make --no-print-directory -s "$BIN/komek-gen" "$BIN/komek-intake" "$BIN/komek-gateway" \
        "$BIN/komek-keys" "$BIN/komek-admin" "$BUILD/bench/komek-httpload" >/dev/null 2>&1 ||
        make --no-print-directory -s "$BUILD/bench/komek-httpload"
work=$(mktemp -d)
schema="bench_intake_$$"
gw_pid=
cleanup() {
        if [ -n "$gw_pid" ]; then kill -TERM "$gw_pid" 2>/dev/null || true; wait "$gw_pid" 2>/dev/null || true; fi
        psql -q "$KOMEK_PG_TEST_CONNINFO" -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
        rm -rf "$work"
}
trap cleanup EXIT
now() { date +%s.%N; }

"$BIN/komek-gen" --out "$work/gen" --seed 109 --from "$(date -u -d "today - 364 days" +%Y-%m-%d)" --days 364 2>/dev/null
for _ in $(seq "$COPIES"); do cat "$work/gen/complaints.jsonl"; done >"$work/in.jsonl"
lines=$(wc -l <"$work/in.jsonl")
tag="komek-bench-$$-$(date +%s)"
"$BIN/komek-admin" --log-level warn --set "topics.complaints=$tag-kcat" topics
"$BIN/komek-admin" --log-level warn --set "topics.complaints=$tag-intake" \
        --set "topics.dlq=$tag-intake.dlq" topics

t0=$(now)
kcat -P -b "$KOMEK_BROKERS" -t "$tag-kcat" -l -X enable.idempotence=true "$work/in.jsonl"
t1=$(now)
/usr/bin/time -f '%M' -o "$work/intake.rss" \
        "$BIN/komek-intake" --progress=false --set "topics.complaints=$tag-intake" \
        --set "topics.dlq=$tag-intake.dlq" "$work/in.jsonl" 2>"$work/intake.log"
t2=$(now)
awk -v n="$lines" -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN {
        k = n / (b - a); i = n / (c - b);
        printf "intake-vs-kcat: %d lines; kcat -P %.2f s %.0f msg/s; komek-intake %.2f s %.0f msg/s; ratio %.2f (target 0.80)\n",
                n, b - a, k, c - b, i, i / k
        printf "bench: intake.kcat_msg_s %.0f msg/s\nbench: intake.intake_msg_s %.0f msg/s\n", k, i }'
tail -1 "$work/intake.log" | sed 's/^/  /'

# gateway
psql -q "$KOMEK_PG_TEST_CONNINFO" -c "CREATE SCHEMA $schema"
export KOMEK_PG_CONNINFO="$KOMEK_PG_TEST_CONNINFO options='-csearch_path=$schema'"
"$BIN/komek-admin" --log-level warn migrate
key=$("$BIN/komek-keys" --log-level warn add --source bench --rate 1000000)
"$BIN/komek-gateway" --log-level warn --port 0 --port-file "$work/port" \
        --set "topics.complaints=$tag-intake" 2>"$work/gateway.log" &
gw_pid=$!
for _ in $(seq 200); do [ -s "$work/port" ] && break; sleep 0.1; done
port=$(cat "$work/port")
"$BUILD/bench/komek-httpload" "$port" "$CONC" "$CONC" "$key" >/dev/null # warm-up
post=$("$BUILD/bench/komek-httpload" "$port" "$CONC" "$POSTS" "$key")
echo "gateway POST /requests.json, concurrency $CONC: $post"
svc=$("$BUILD/bench/komek-httpload" "$port" "$CONC" $((POSTS * 2)) - /services.json)
echo "gateway GET /services.json, concurrency $CONC: $svc"
# machine-readable (bench/run.sh), from komek-httpload's "rps N p50_ms N p99_ms N"
echo "bench: gateway.post_req_s $(sed -n 's/.* rps \([0-9.]*\).*/\1/p' <<<"$post") req/s"
echo "bench: gateway.post_p99_ms $(sed -n 's/.* p99_ms \([0-9.]*\).*/\1/p' <<<"$post") ms"
echo "bench: gateway.services_req_s $(sed -n 's/.* rps \([0-9.]*\).*/\1/p' <<<"$svc") req/s"
echo "gateway GET /requests.json (1000 newest), concurrency $CONC: $("$BUILD/bench/komek-httpload" "$port" "$CONC" $((CONC * 4)) - /requests.json)"
gw_rss=$(awk '/^VmHWM/ {print $2}' "/proc/$gw_pid/status") # peak RSS
kill -TERM "$gw_pid"
wait "$gw_pid"
gw_pid=
echo "bench: rss.komek-intake $(tail -1 "$work/intake.rss") kB"
echo "bench: rss.komek-gateway $gw_rss kB"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg) (2 cores shared with the broker and PostgreSQL)"
