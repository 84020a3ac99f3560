#!/usr/bin/env bash
# bench/e2e.sh - end-to-end latency, komek-intake -> task row, at a fixed
# rate, stage by stage (not a test; bench/run.sh puts its figures in the
# table):
#  - complaints are written into komek-intake's stdin at E2E_RATE lines/s
#    for E2E_SECONDS (5000/s for 4 s: the target), then at E2E_LOW_RATE for
#    E2E_LOW_SECONDS (500/s for 10 s) (bench/pace.py; each carries its send
#    time in µs in its description); komek-router and komek-tasksink run
#    with komek.conf's settings on fresh topics and a scratch schema;
#  - the stages of each complaint, p50 and p99 of each:
#      received  -> on complaints  the complaints record's timestamp
#                                  (komek-intake hands it to its producer;
#                                  ms) minus the send time;
#      -> routed                   when a read_committed consumer of
#                                  dispatch (kcat, as komek's consumers)
#                                  received it: the router's transaction
#                                  committed; split into -> dispatch
#                                  produced (the record's timestamp, ms) and
#                                  -> its transaction committed;
#      -> task row committed       its transaction's commit
#                                  (pg_xact_commit_timestamp: deploy/pg.sh's
#                                  private cluster has track_commit_timestamp;
#                                  without it tasks.updated_at,
#                                  clock_timestamp() in the sink's statement,
#                                  a few ms before the commit);
#    and end to end (send -> task row);
#  - each consumer group's lag (komek_consumer_lag on /metrics, renewed
#    every 3 s) every 3 s from the start until the tasks are in, when the sending stops
#    and once the tasks are in: at 5,000/s no stage's backlog may grow;
#  - CPU µs per complaint of komek-intake, komek-router, komek-tasksink,
#    their PostgreSQL backends and the broker over each phase;
#  - baseline, same run, same rate: the same lines through `kcat -P` to a
#    topic and `kcat -C` out of it (Kafka alone, nothing parsed or stored);
#  - peak RSS (GNU time) of komek-intake, komek-router, komek-tasksink,
#    and of komek-analytics reading the run's complaints and dispatch.
# E2E_ROUTER_MS / E2E_SINK_MS, when set, override router.batch_ms and
# tasksink.batch_ms (default: komek.conf's).
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
rss() { /usr/bin/time -f '%M %U %S' -o "$work/rss-$1" "${@:2}"; }
hwm() { awk '/^VmHWM/ {print $2}' "/proc/$2/status" >"$work/rss-$1" 2>/dev/null || true; }
RT=() SK=()
[ -z "${E2E_ROUTER_MS:-}" ] || RT=(--set "router.batch_ms=$E2E_ROUTER_MS")
[ -z "${E2E_SINK_MS:-}" ] || SK=(--set "tasksink.batch_ms=$E2E_SINK_MS")
"$BIN/komek-router" "${T[@]}" --set "router.group=$tag-r" \
        --set "router.transactional_id=$tag-r" "${RT[@]}" \
        --set router.metrics_port=-1 --set "router.metrics_port_file=$work/router.port" \
        --set router.reload_ms=0 2>"$work/router.log" &
router_pid=$!
pids+=($!)
"$BIN/komek-tasksink" "${T[@]}" --set "tasksink.group=$tag-s" "${SK[@]}" \
        --set tasksink.metrics_port=-1 --set "tasksink.metrics_port_file=$work/tasksink.port" \
        2>"$work/tasksink.log" &
sink_pid=$!
pids+=($!)
# both consumers have their partitions before the clock starts
for _ in $(seq 300); do
        grep -q assigned "$work/router.log" && grep -q assigned "$work/tasksink.log" && break
        sleep 0.1
done

# CPU per message: user + system clock ticks of each process of a stage
# (the workers, their PostgreSQL backends, the broker; komek-intake's from
# GNU time) over a phase, from its start until its tasks are in
tck=$(getconf CLK_TCK)
broker_pid=$(cat .run/kafka/kafka.pid 2>/dev/null || echo 0)
backend() { # the PostgreSQL backend of one program (application_name)
        psql -X -At "$KOMEK_PG_TEST_CONNINFO" -v "a=$1" \
                <<<"SELECT pid FROM pg_stat_activity WHERE application_name = :'a' LIMIT 1"
}
cpu_all() { # "name ticks" of every stage process
        local p
        for p in "router $router_pid" "router-pg $(backend komek-router)" \
                "tasksink $sink_pid" "tasksink-pg $(backend komek-tasksink)" \
                "broker $broker_pid"; do
                set -- $p
                echo "$1 $(awk '{print $14 + $15}' "/proc/${2:-0}/stat" 2>/dev/null || echo 0)"
        done
}

lag() { # the summed komek_consumer_lag of one program's /metrics
        curl -s "http://127.0.0.1:$(cat "$work/$1.port" 2>/dev/null)/metrics" 2>/dev/null |
                awk '/^komek_consumer_lag/ {s += $NF} END {print s + 0}'
}

batches() { # "count sum_s commit_sum_s" of komek_batch_seconds on one program's /metrics
        curl -s "http://127.0.0.1:$(cat "$work/$1.port" 2>/dev/null)/metrics" 2>/dev/null |
                awk '/^komek_batch_seconds_count[ {]/ && !/stage=/ {c = $NF}
                     /^komek_batch_seconds_sum[ {]/ && !/stage=/ {s = $NF}
                     /^komek_batch_seconds_sum\{.*stage="commit"/ {w = $NF}
                     END {print c + 0, s + 0, w + 0}'
}

run_rate() { # rate seconds label: komek-intake at that rate, then the kcat baseline
        local rate=$1 n=$(($1 * $2)) lab=$3 t=$tag-$3 deadline got kc vis t0 lp
        # the dispatch messages as a read_committed consumer sees them (the
        # router's transaction committed): stamped on arrival
        kcat -C -b "$KOMEK_BROKERS" -t "$tag-d" -o beginning -u -q \
                -X isolation.level=read_committed \
                -f '%s\n' 2>/dev/null > >(python3 -c '
import re, sys, time
p = re.compile(r"\"external_id\":\"(" + re.escape(sys.argv[1]) + r"-[0-9]+)\"")
out = open(sys.argv[2], "w")
for line in sys.stdin:
    now = time.time()
    m = p.search(line)
    if m:
        out.write("%s|%d\n" % (m.group(1), int(now * 1e3)))
' "$t" "$work/ts-v-$lab.txt") &
        vis=$! # kcat's pid; the stamper ends at its end of input
        cpu_all >"$work/cpu0-$lab.txt"
        echo "$(batches router) $(batches tasksink)" >"$work/bat0-$lab.txt"
        t0=$(date +%s%N)
        # each group's lag every probe period (KM_OBS_PERIOD_MS, 3 s) until
        # the tasks are in: a backlog that grows while the sending goes on
        # shows here
        touch "$work/sampling-$lab"
        while [ -e "$work/sampling-$lab" ]; do
                echo "$(lag router)/$(lag tasksink)"
                sleep 3
        done >"$work/lags-$lab.txt" &
        lp=$!
        # 1. komek-intake
        python3 bench/pace.py "$rate" "$n" "$t" <"$work/gen/complaints.jsonl" 2>"$work/pace-$lab.log" |
                rss "intake-$lab" "$BIN/komek-intake" --progress=false "${T[@]}" - 2>"$work/intake-$lab.log"
        local lr ls
        lr=$(lag router) ls=$(lag tasksink)
        echo "lag when the sending stopped ($lab): router $lr, tasksink $ls" >"$work/lag-$lab.txt"
        echo "bench: e2e.$lab.lag_stop_router $lr msg" >"$work/lagk-$lab.txt"
        echo "bench: e2e.$lab.lag_stop_tasksink $ls msg" >>"$work/lagk-$lab.txt"
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
        cpu_all >"$work/cpu1-$lab.txt"
        echo "$(batches router) $(batches tasksink)" >"$work/bat1-$lab.txt"
        rm -f "$work/sampling-$lab"
        wait "$lp" || true
        echo "$(( ($(date +%s%N) - t0) / 1000000 ))" >"$work/wall-$lab.txt"
        sleep 3.5 # a probe period (KM_OBS_PERIOD_MS): the lag once the tasks are in
        kill "$vis" 2>/dev/null || true
        lr=$(lag router) ls=$(lag tasksink)
        echo "lag once the tasks were in ($lab): router $lr, tasksink $ls" >>"$work/lag-$lab.txt"
        echo "bench: e2e.$lab.lag_end_router $lr msg" >>"$work/lagk-$lab.txt"
        echo "bench: e2e.$lab.lag_end_tasksink $ls msg" >>"$work/lagk-$lab.txt"
        # pg_xact_commit_timestamp raises an error where
        # track_commit_timestamp is off (the machine's shared server): asked
        # only where it is on, updated_at otherwise
        psql -X -At "$KOMEK_PG_CONNINFO" -v "p=$t-%" >"$work/lat-$lab.txt" <<<"SELECT
                complaint->>'external_id', substring(description from '^t=([0-9]+)\|'),
                (extract(epoch from coalesce(c.ts, updated_at)) * 1e6)::bigint,
                c.ts IS NOT NULL
                FROM tasks CROSS JOIN LATERAL (SELECT CASE WHEN
                current_setting('track_commit_timestamp') = 'on'
                THEN pg_xact_commit_timestamp(tasks.xmin) END AS ts) c
                WHERE complaint->>'external_id' LIKE :'p'"
        # the records' timestamps (ms): on complaints, routed (on dispatch)
        for x in c d; do
                kcat -C -b "$KOMEK_BROKERS" -t "$tag-$x" -o beginning -e -q \
                        -X isolation.level=read_committed -f '%T %s\n' 2>/dev/null |
                        python3 -c '
import re, sys
p = re.compile(r"\"external_id\":\"(" + re.escape(sys.argv[1]) + r"-[0-9]+)\"")
for line in sys.stdin:
    ts, _, rest = line.partition(" ")
    m = p.search(rest)
    if m:
        print("%s|%s" % (m.group(1), ts))
' "$t" >"$work/ts-$x-$lab.txt"
        done
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
                "$(sed -n 's/.*= \([0-9]*\)\/s/\1/p' "$work/pace-$lab.log")" \
                "$work/ts-c-$lab.txt" "$work/ts-d-$lab.txt" "$work/ts-v-$lab.txt" \
                "$work/cpu0-$lab.txt" "$work/cpu1-$lab.txt" "$work/rss-intake-$lab" \
                "$tck" "$(cat "$work/wall-$lab.txt")" <<'EOF'
import sys
def ms_of(v):
    v.sort()
    if not v:
        return 0, 0, 0
    return len(v), v[len(v) // 2], v[min(len(v) - 1, int(len(v) * 0.99))]
def stamps(path):  # external id -> ms
    d = {}
    for line in open(path):
        f = line.strip().split("|")
        if len(f) == 2 and f[1]:
            d.setdefault(f[0], int(f[1]))
    return d
on_c, routed, seen = stamps(sys.argv[7]), stamps(sys.argv[8]), stamps(sys.argv[9])
e2e, s1, s2, s2p, s2c, s3 = [], [], [], [], [], []
committed = 0  # rows stamped by their commit (track_commit_timestamp)
for line in open(sys.argv[1]):
    f = line.strip().split("|")
    if len(f) != 4 or not f[1] or not f[2]:
        continue
    committed += f[3] == "t"
    sent, row = int(f[1]) / 1000.0, int(f[2]) / 1000.0  # ms
    e2e.append(row - sent)
    if f[0] in on_c and f[0] in routed and f[0] in seen:
        c, d, v = on_c[f[0]], routed[f[0]], seen[f[0]]
        s1.append(c - sent)
        s2.append(v - c)
        s2p.append(d - c)
        s2c.append(v - d)
        s3.append(row - v)
kv = []
for line in open(sys.argv[2]):
    f = line.strip().split("|")
    if len(f) == 2:
        kv.append((int(f[1]) - int(f[0])) / 1000.0)
n, p50, p99 = ms_of(e2e)
k, k50, k99 = ms_of(kv)
lab = sys.argv[4]
print("e2e %s: %s/s asked, %s/s written; %d of %s tasks; intake -> task row p50 %.1f ms, "
      "p99 %.1f ms; kcat -P -> kcat -C p50 %.1f ms, p99 %.1f ms (%d)"
      % (lab, sys.argv[5], sys.argv[6], n, sys.argv[3], p50, p99, k50, k99, k))
print("  task rows stamped at their commit: %d of %d (the others: updated_at, "
      "clock_timestamp() in the sink's statement)" % (committed, n))
print("  stage (%d complaints)                 p50 ms    p99 ms" % len(s1))
for name, key, v in (("received -> on complaints", "s1_intake", s1),
                     ("on complaints -> routed (committed)", "s2_router", s2),
                     ("  of which -> dispatch produced", "s2a_produce", s2p),
                     ("  of which -> its txn committed", "s2b_commit", s2c),
                     ("routed -> task row committed", "s3_sink", s3)):
    _, a, b = ms_of(v)
    print("  %-36s %8.1f  %8.1f" % (name, a, b))
    print("bench: e2e.%s.%s_p50_ms %.1f ms" % (lab, key, a))
    print("bench: e2e.%s.%s_p99_ms %.1f ms" % (lab, key, b))
print("  %-36s %8.1f  %8.1f" % ("end to end (send -> task row)", p50, p99))
print("  %-36s %8.1f  %8.1f" % ("baseline: kcat -P -> kcat -C", k50, k99))
# CPU µs per complaint of each stage's processes over the phase, and
# their share of one core (the machine has 2, shared)
tck, wall = float(sys.argv[13]), float(sys.argv[14]) / 1000.0
c0 = dict(l.split() for l in open(sys.argv[10]) if len(l.split()) == 2)
c1 = dict(l.split() for l in open(sys.argv[11]) if len(l.split()) == 2)
cpu = [(k, (int(c1[k]) - int(c0.get(k, 0))) / tck) for k in c1]
try:
    f = open(sys.argv[12]).read().split()
    cpu.insert(0, ("intake", float(f[1]) + float(f[2])))
except (OSError, IndexError, ValueError):
    pass
N = max(int(sys.argv[3]), 1)
print("  CPU over %.1f s (µs per complaint, %% of one core):" % wall)
print("   " + ", ".join("%s %.0f (%.0f%%)" % (k, c * 1e6 / N, 100 * c / wall)
                        for k, c in cpu))
for k, c in cpu:
    print("bench: e2e.%s.cpu_us_%s %.0f us" % (lab, k.replace("-", "_"), c * 1e6 / N))
print("bench: e2e.%s.rate_target %s /s" % (lab, sys.argv[5]))
print("bench: e2e.%s.rate_reached %s /s" % (lab, sys.argv[6] or 0))
print("bench: e2e.%s.tasks %d" % (lab, n))
print("bench: e2e.%s.tasks_expected %s" % (lab, sys.argv[3]))
print("bench: e2e.%s.p50_ms %.1f ms" % (lab, p50))
print("bench: e2e.%s.p99_ms %.1f ms" % (lab, p99))
print("bench: e2e.%s.kcat_p50_ms %.2f ms" % (lab, k50))
print("bench: e2e.%s.kcat_p99_ms %.2f ms" % (lab, k99))
EOF
        sed 's/^/  /' "$work/lag-$lab.txt"
        python3 - "$work/bat0-$lab.txt" "$work/bat1-$lab.txt" "$n" <<'EOF'
import sys
a, b = ([float(x) for x in open(f).read().split()] for f in sys.argv[1:3])
n = int(sys.argv[3])
for i, name in enumerate(("router", "tasksink")):
    c, s, w = (b[3 * i + k] - a[3 * i + k] for k in range(3))
    c = max(c, 1)
    print("  %s: %d batches, %.0f complaints each, open %.1f ms, committing %.1f ms "
          "(means)" % (name, c, n / c, 1e3 * s / c, 1e3 * w / c))
EOF
        echo "  lag every 3 s, router/tasksink: $(tr '\n' ' ' <"$work/lags-$lab.txt")"
        cat "$work/lagk-$lab.txt"
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
        [ -s "$work/rss-$p" ] && echo "bench: rss.komek-$p $(tail -1 "$work/rss-$p" | cut -d' ' -f1) kB"
done
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
