#!/usr/bin/env bash
# bench/routing.sh - figures for the routing issue (not a test):
#  1. komek-router throughput, 1 process vs 2 processes in one group,
#     on the same complaints topic (6 partitions, BENCH_COMPLAINTS
#     generated complaints published by komek-intake), exactly-once
#     (transactions of router.batch_size messages).  Each router reports
#     messages from its first message to its last commit; for two, the
#     span from the earliest first to the latest last commit.
#     Target: 2 processes >= 1.6x one.
#  2. a plain `kcat -C | kcat -P` copy of the same topic in the same run
#     (no parsing, no transactions): target router >= 0.5x the copy.
#  3. peak RSS of each router (GNU time): target <= 64 MB.
# The routers' consumers heartbeat every second, so the second one of a
# pair gets its partitions within about a second of the first.
# usage: bench/routing.sh [BIN_DIR]   (after make up; uses the shared
# broker, fresh topics and a scratch schema of the test database, dropped
# at the end).  BENCH_COMPLAINTS (default 100000), BENCH_BATCH (2000).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN="$ROOT/${1:-bin}"
export KOMEK_CONFIG="$ROOT/deploy/komek.conf"
# shellcheck disable=SC1091
. .run/kafka.env
# shellcheck disable=SC1091
. .run/pg.env
N=${BENCH_COMPLAINTS:-100000}
BATCH=${BENCH_BATCH:-2000}
make --no-print-directory -s "$BIN/komek-gen" "$BIN/komek-intake" "$BIN/komek-admin" \
        "$BIN/komek-directory" "$BIN/komek-router" >/dev/null
work=$(mktemp -d)
schema="bench_routing_$$"
pids=()
cleanup() {
        for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
        wait 2>/dev/null || true
        psql -q "$KOMEK_PG_TEST_CONNINFO" -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
        rm -rf "$work"
}
trap cleanup EXIT
[ -n "${BENCH_KEEP:-}" ] && trap - EXIT
now() { date +%s.%N; }

export KOMEK_PG_CONNINFO="$KOMEK_PG_TEST_CONNINFO options='-csearch_path=$schema'"
psql -q "$KOMEK_PG_TEST_CONNINFO" -c "CREATE SCHEMA $schema"
"$BIN/komek-admin" --log-level warn migrate
"$BIN/komek-gen" --out "$work/gen" --seed 109 --complaints "$N" \
        --from "$(date -u -d "today - 364 days" +%Y-%m-%d)" --days 364 2>/dev/null
"$BIN/komek-directory" --log-level warn import "$work/gen" >/dev/null
tag="komek-bench-routing-$$-$(date +%s)"
topics=(--set "topics.complaints=$tag-src" --set "topics.dlq=$tag-dlq")
"$BIN/komek-admin" --log-level warn "${topics[@]}" topics
for d in d1 d2 copy; do
        "$BIN/komek-admin" --log-level warn --set "topics.complaints=$tag-$d" topics
done
"$BIN/komek-intake" --log-level warn --progress=false "${topics[@]}" "$work/gen/complaints.jsonl"
msgs=$(kcat -C -b "$KOMEK_BROKERS" -t "$tag-src" -e -q -o beginning -f 'x\n' | wc -l)
echo "routing bench: $msgs complaints on a 6-partition topic, batch $BATCH, $(nproc) cores"

# 2. the plain copy, same topic, same run
t0=$(now)
kcat -C -b "$KOMEK_BROKERS" -t "$tag-src" -e -q -o beginning -f '%s\n' |
        kcat -P -b "$KOMEK_BROKERS" -t "$tag-copy"
t1=$(now)
copy=$(awk -v n="$msgs" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }')

# 1. routers: $1 = group tag, $2.. = instance names
run_routers() {
        local g=$1; shift
        local rp=()
        for i in "$@"; do
                /usr/bin/time -f '%M' -o "$work/rss-$g-$i" \
                        "$BIN/komek-router" "${topics[@]}" --set "topics.dispatch=$tag-$g" \
                        --set "router.group=$tag-$g" --set "router.transactional_id=$tag-$g-$i" \
                        --set "router.batch_size=$BATCH" --set router.exit_idle_ms=3000 \
                        --set router.reload_ms=0 2>"$work/log-$g-$i" &
                rp+=($!)
                pids+=($!)
        done
        for p in "${rp[@]}"; do wait "$p"; done
}
# "throughput: N message(s) from A to B (monotonic ms)" of each router
span() {
        cat "$@" | sed -n 's/.*throughput: \([0-9]*\) message(s) from \([0-9]*\) to \([0-9]*\).*/\1 \2 \3/p' |
                awk 'NR == 1 || $2 < a { a = $2 } NR == 1 || $3 > b { b = $3 } { n += $1 }
                     END { printf "%d %.0f\n", n, n * 1000 / (b - a) }'
}
run_routers d1 a
read -r n1 one < <(span "$work/log-d1-a")
run_routers d2 a b
read -r n2 two < <(span "$work/log-d2-a" "$work/log-d2-b")
na=$(sed -n 's/.*throughput: \([0-9]*\) message.*/\1/p' "$work/log-d2-a")
nb=$(sed -n 's/.*throughput: \([0-9]*\) message.*/\1/p' "$work/log-d2-b")
rss1=$(tail -1 "$work/rss-d1-a")
rss2a=$(tail -1 "$work/rss-d2-a")
rss2b=$(tail -1 "$work/rss-d2-b")
awk -v c="$copy" -v o="$one" -v t="$two" -v n1="$n1" -v n2="$n2" -v na="${na:-0}" -v nb="${nb:-0}" \
        -v r1="$rss1" -v r2="$rss2a" -v r3="$rss2b" 'BEGIN {
        printf "kcat -C | kcat -P copy:     %7d msg/s\n", c
        printf "komek-router, 1 process:   %7d msg/s (%d messages)  %.2fx the copy (target 0.50)\n", o, n1, o / c
        printf "komek-router, 2 processes: %7d msg/s (%d + %d messages)  %.2fx one process (target 1.60)\n", t, na, nb, t / o
        printf "peak RSS: %.1f MB (1 process); %.1f MB and %.1f MB (2 processes) (target 64)\n", r1 / 1024, r2 / 1024, r3 / 1024
        # machine-readable (bench/run.sh)
        printf "bench: routing.copy_msg_s %d msg/s\nbench: routing.router1_msg_s %d msg/s\n", c, o
        printf "bench: routing.router2_msg_s %d msg/s\nbench: rss.komek-router %d kB\n", t, (r2 > r1 ? (r2 > r3 ? r2 : r3) : (r1 > r3 ? r1 : r3))
}'
for f in "$work"/log-d*; do
        echo "  $(basename "$f"): $(sed -n 's/.*info: \(time: .*\)/\1/p' "$f")"
done
