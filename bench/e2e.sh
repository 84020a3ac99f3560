#!/usr/bin/env bash
# bench/e2e.sh - end-to-end latency, komek-intake -> task row, at a fixed
# rate (not a test; bench/run.sh puts its figures in the table):
#  - complaints are written into komek-intake's stdin at E2E_RATE lines/s
#    for E2E_SECONDS (5000/s for 4 s: the target), then at E2E_LOW_RATE for
#    E2E_LOW_SECONDS (500/s for 10 s: a rate this 2-core machine sustains)
#    (bench/pace.py; each carries its send time in µs in its
#    description); komek-router and komek-tasksink run on fresh
#    topics and a scratch schema; a complaint's latency is its task row's
#    updated_at (the task sink's transaction time, now()) minus its send
#    time (routed_at, the router's time in whole seconds, splits it
#    roughly in two, in the log line only); p50 and p99
#    over all of them, and the rate actually written;
#  - baseline, same run, same rate: the same lines through `kcat -P` to a
#    topic and `kcat -C` out of it (Kafka alone, nothing parsed or stored);
#  - peak RSS (GNU time) of komek-intake, komek-router, komek-tasksink,
#    and of komek-analytics reading the run's complaints and dispatch.
# Router and task sink run with router.batch_ms=E2E_ROUTER_MS (100) and
# tasksink.batch_ms=E2E_SINK_MS (50): a transaction or batch open longer
# is latency by construction (komek.conf's defaults are 500 and 200).
# Prints lines "bench: <key> <value> <unit>".  usage: bench/e2e.sh [BIN]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN="$ROOT/${1:-bin}"
export KOMEK_CONFIG="$ROOT/deploy/komek.conf"
# shellcheck disable=SC1091
. .run/kafka.env
# shellcheck disable=SC1091
. .run/pg.env
RATE=${E2E_RATE:-5000} SECS=${E2E_SECONDS:-4}       # the target rate
LOW=${E2E_LOW_RATE:-500} LOW_SECS=${E2E_LOW_SECONDS:-10} # a rate it sustains here
make --no-print-directory -s "$BIN/komek-gen" "$BIN/komek-intake" "$BIN/komek-admin" \
        "$BIN/komek-directory" "$BIN/komek-router" "$BIN/komek-tasksink" \
        "$BIN/komek-analytics" >/dev/null
work=$(mktemp -d /tmp/komek-bench-e2e.XXXXXX)
schema="bench_e2e_$$"
pids=()
cleanup() {
        for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
        wait 2>/dev/null || true
        psql -q "$KOMEK_PG_TEST_CONNINFO" -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
        rm -rf "$work"
}
trap cleanup EXIT
export KOMEK_PG_CONNINFO="$KOMEK_PG_TEST_CONNINFO options='-csearch_path=$schema'"
psql -q "$KOMEK_PG_TEST_CONNINFO" -c "CREATE SCHEMA $schema"
tag="komek-bench-e2e-$$-$(date +%s)"
T=(--set "topics.complaints=$tag-c" --set "topics.dlq=$tag-dlq" --set "topics.dispatch=$tag-d"
        --set "topics.task_events=$tag-e" --set "topics.votes=$tag-v" --set "topics.escalations=$tag-x")
"$BIN/komek-admin" --log-level warn "${T[@]}" all
"$BIN/komek-gen" --out "$work/gen" --seed 109 --complaints 20000 --dup-rate 0 --bad-rate 0 \
        --from "$(date -u -d "today - 200 days" +%Y-%m-%d)" --days 180 2>/dev/null
"$BIN/komek-directory" --log-level warn import "$work/gen" >/dev/null

# Peak RSS: GNU time for what exits by itself; VmHWM from /proc just
# before SIGTERM for the workers (GNU time would not pass the signal on).
rss() { /usr/bin/time -f '%M' -o "$work/rss-$1" "${@:2}"; }
hwm() { awk '/^VmHWM/ {print $2}' "/proc/$2/status" >"$work/rss-$1" 2>/dev/null || true; }
"$BIN/komek-router" "${T[@]}" --set "router.group=$tag-r" \
        --set "router.transactional_id=$tag-r" --set "router.batch_ms=${E2E_ROUTER_MS:-100}" \
        --set router.reload_ms=0 2>"$work/router.log" &
router_pid=$!
pids+=($!)
"$BIN/komek-tasksink" "${T[@]}" --set "tasksink.group=$tag-s" \
        --set "tasksink.batch_ms=${E2E_SINK_MS:-50}" 2>"$work/tasksink.log" &
sink_pid=$!
pids+=($!)
# both consumers have their partitions before the clock starts
for _ in $(seq 300); do
        grep -q assigned "$work/router.log" && grep -q assigned "$work/tasksink.log" && break
        sleep 0.1
done

run_rate() { # rate seconds label: komek-intake at that rate, then the kcat baseline
        local rate=$1 n=$(($1 * $2)) lab=$3 t=$tag-$3 deadline got kc
        # 1. komek-intake
        python3 bench/pace.py "$rate" "$n" "$t" <"$work/gen/complaints.jsonl" 2>"$work/pace-$lab.log" |
                rss "intake-$lab" "$BIN/komek-intake" --progress=false "${T[@]}" - 2>"$work/intake-$lab.log"
        deadline=$((SECONDS + 180))
        while :; do
                got=$(psql -X -At "$KOMEK_PG_CONNINFO" -v "p=$t-%" \
                        <<<"SELECT count(*) FROM tasks WHERE complaint->>'external_id' LIKE :'p'")
                [ "$got" -ge "$n" ] && break
                if ((SECONDS > deadline)); then
                        echo "e2e: only $got of $n tasks after the deadline" >&2
                        break
                fi
                sleep 0.5
        done
        psql -X -At "$KOMEK_PG_CONNINFO" -v "p=$t-%" >"$work/lat-$lab.txt" <<<"SELECT
                substring(description from '^t=([0-9]+)\|'),
                (extract(epoch from routed_at) * 1e6)::bigint, (extract(epoch from updated_at) * 1e6)::bigint
                FROM tasks WHERE complaint->>'external_id' LIKE :'p'"
        # 2. baseline: the same lines at the same rate, kcat -P | kcat -C
        "$BIN/komek-admin" --log-level warn --set "topics.complaints=$t-kcat" topics
        kcat -C -b "$KOMEK_BROKERS" -t "$t-kcat" -o beginning -u -c "$n" -q -f '%s\n' 2>/dev/null |
                python3 -c '
import re, sys, time
out = open(sys.argv[1], "w")
for line in sys.stdin:
    m = re.search(r"\"t=([0-9]+)\|", line)
    if m:
        out.write("%s|%d\n" % (m.group(1), int(time.time() * 1e6)))
' "$work/kcat-$lab.txt" &
        kc=$!
        sleep 1 # the consumer has its partitions (a fresh topic, read from the beginning)
        python3 bench/pace.py "$rate" "$n" "$t-k" <"$work/gen/complaints.jsonl" 2>/dev/null |
                kcat -P -b "$KOMEK_BROKERS" -t "$t-kcat" -X linger.ms=5
        timeout 60 tail --pid=$kc -f /dev/null || kill "$kc" 2>/dev/null || true
        python3 - "$work/lat-$lab.txt" "$work/kcat-$lab.txt" "$n" "$lab" "$rate" \
                "$(sed -n 's/.*= \([0-9]*\)\/s/\1/p' "$work/pace-$lab.log")" <<'EOF'
import sys
def pct(path, a, b):
    v = []
    for line in open(path):
        f = line.strip().split("|")
        if len(f) > max(a, b) and f[a] and f[b]:
            v.append((int(f[b]) - int(f[a])) / 1000.0)
    v.sort()
    if not v:
        return 0, 0, 0
    return len(v), v[len(v) // 2], v[min(len(v) - 1, int(len(v) * 0.99))]
n, p50, p99 = pct(sys.argv[1], 0, 2)
_, r50, r99 = pct(sys.argv[1], 0, 1)
_, s50, s99 = pct(sys.argv[1], 1, 2)
k, k50, k99 = pct(sys.argv[2], 0, 1)
lab = sys.argv[4]
print("e2e %s: %s/s asked, %s/s written; %d of %s tasks; intake -> task row p50 %.1f ms, "
      "p99 %.1f ms (routed_at has 1 s resolution: send -> routed p50 %.0f, p99 %.0f; "
      "routed -> row p50 %.0f, p99 %.0f); "
      "kcat -P -> kcat -C p50 %.1f ms, p99 %.1f ms (%d)"
      % (lab, sys.argv[5], sys.argv[6], n, sys.argv[3], p50, p99, r50, r99, s50, s99, k50, k99, k))
print("bench: e2e.%s.rate_target %s /s" % (lab, sys.argv[5]))
print("bench: e2e.%s.rate_reached %s /s" % (lab, sys.argv[6] or 0))
print("bench: e2e.%s.tasks %d" % (lab, n))
print("bench: e2e.%s.tasks_expected %s" % (lab, sys.argv[3]))
print("bench: e2e.%s.p50_ms %.1f ms" % (lab, p50))
print("bench: e2e.%s.p99_ms %.1f ms" % (lab, p99))
print("bench: e2e.%s.kcat_p50_ms %.2f ms" % (lab, k50))
print("bench: e2e.%s.kcat_p99_ms %.2f ms" % (lab, k99))
EOF
        echo "  intake: $(tail -1 "$work/intake-$lab.log")"
}
run_rate "$RATE" "$SECS" target
run_rate "$LOW" "$LOW_SECS" low
hwm router "$router_pid"
hwm tasksink "$sink_pid"
cp "$work/rss-intake-target" "$work/rss-intake"
# 3. komek-analytics over the run's topics, for its peak RSS
"$BIN/komek-analytics" "${T[@]}" --set "analytics.group=$tag-a" 2>"$work/analytics.log" &
ap=$!
pids+=($ap)
deadline=$((SECONDS + 120))
while ((SECONDS < deadline)); do
        sleep 1
        lag=$("$BIN/komek-analytics" "${T[@]}" --set "analytics.group=$tag-a" --lag 2>/dev/null |
                sed -n 's/^total \([0-9]*\).*/\1/p' | tail -1)
        [ "${lag:-1}" = 0 ] && break
done
hwm analytics "$ap"
for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
wait 2>/dev/null || true
pids=()
for p in intake router tasksink analytics; do
        [ -s "$work/rss-$p" ] && echo "bench: rss.komek-$p $(tail -1 "$work/rss-$p") kB"
done
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
