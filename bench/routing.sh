#!/usr/bin/env bash
# bench/routing.sh - figures for the routing issue (not a test):
#  1. komek-router, 1 process, vs a plain `kcat -C | kcat -P` copy of the
#     same complaints topic (6 partitions, BENCH_COMPLAINTS generated
#     complaints, default 300,000, published by komek-intake), exactly-once
#     (transactions of router.batch_size messages); the copy and the
#     router alternate BENCH_ROUNDS times (default 3) and the median ratio
#     is printed.  Both are timed the same way: first to last message time
#     (CreateTime) on the output topic, read back read_committed.
#     Target: router >= 0.5x the copy.
#  2. two routers in one group, timed only after both hold partitions:
#     from the later of the two routers' first "assigned" log lines to the
#     last message on their output topic, counting the messages produced
#     in that span.
#     Target: >= 1.6x one where the machine has >= 4 cores; each one's CPU
#     per message within 15 % of a single router's.
#  3. beside each rate, CPU microseconds per message of each process (user
#     + system: GNU time for the routers and kcat, /proc/PID/stat for the
#     broker and the PostgreSQL server with its backends, before and
#     after), peak RSS of each router (target <= 64 MB), the load average
#     before and after.
# usage: bench/routing.sh [BIN_DIR]   (after make up; uses the shared
# broker, fresh topics and a scratch schema of the test database, dropped
# at the end).  BENCH_ROUTER_ARGS: extra komek-router flags (word-split),
# for trying settings.  BENCH_COMPLAINTS (default 300000), BENCH_BATCH (2000),
# BENCH_ROUNDS (3).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN="$ROOT/${1:-bin}"
export KOMEK_CONFIG="$ROOT/deploy/komek.conf"
# shellcheck disable=SC1091
. .run/kafka.env
# shellcheck disable=SC1091
. .run/pg.env
N=${BENCH_COMPLAINTS:-300000}
BATCH=${BENCH_BATCH:-2000}
ROUNDS=${BENCH_ROUNDS:-3}
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
HZ=$(getconf CLK_TCK)
# CPU ticks (user + system) of a live process, from /proc/PID/stat; with
# "tree": also its reaped children's (cutime + cstime) and its live
# children's own (PostgreSQL: the postmaster and its backends)
ticks() { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '{ print $12 + $13 }' || echo 0; }
tree_ticks() {
        local t c
        t=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '{ print $12 + $13 + $14 + $15 }' || echo 0)
        for c in $(pgrep -P "$1" || true); do t=$((t + $(ticks "$c"))); done
        echo "$t"
}
broker=$(cat .run/kafka/kafka.pid 2>/dev/null || true)
pgdata=$(psql -X -A -t "$KOMEK_PG_TEST_CONNINFO" -c "SHOW data_directory" 2>/dev/null || true)
[ -r "$pgdata/postmaster.pid" ] || pgdata=$(dirname "$(find .run/pg -name postmaster.pid 2>/dev/null | head -1)")
postmaster=$(head -1 "$pgdata/postmaster.pid" 2>/dev/null || true)
[ -n "$postmaster" ] && [ -r "/proc/$postmaster/stat" ] || postmaster=
# "first last count" of the CreateTimes (ms) on a topic, committed only;
# with $2: only from that time (ms) on
span() {
        kcat -C -b "$KOMEK_BROKERS" -t "$1" -e -q -o beginning -X isolation.level=read_committed -f '%T\n' |
                awk -v from="${2:-0}" '$1 >= from { n++; if (n == 1 || $1 < a) a = $1; if ($1 > b) b = $1 }
                                       END { print a, b, n }'
}
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ms_of() { date -u -d "$1" +%s%3N; } # a log line's time stamp in ms

load0=$(cut -d' ' -f1-3 /proc/loadavg)
export KOMEK_PG_CONNINFO="$KOMEK_PG_TEST_CONNINFO options='-csearch_path=$schema'"
psql -q "$KOMEK_PG_TEST_CONNINFO" -c "CREATE SCHEMA $schema"
"$BIN/komek-admin" --log-level warn migrate
"$BIN/komek-gen" --out "$work/gen" --seed 109 --complaints "$N" --bad-rate 0 \
        --from "$(date -u -d "today - 364 days" +%Y-%m-%d)" --days 364 2>/dev/null
"$BIN/komek-directory" --log-level warn import "$work/gen" >/dev/null
tag="komek-bench-routing-$$-$(date +%s)"
topics=(--set "topics.complaints=$tag-src" --set "topics.dlq=$tag-dlq")
"$BIN/komek-admin" --log-level warn "${topics[@]}" topics
"$BIN/komek-intake" --log-level warn --progress=false "${topics[@]}" "$work/gen/complaints.jsonl"
msgs=$(kcat -C -b "$KOMEK_BROKERS" -t "$tag-src" -e -q -o beginning -f 'x\n' | wc -l)
echo "routing bench: $msgs complaints on a 6-partition topic, batch $BATCH, $ROUNDS rounds, $(nproc) cores, load before $load0"

# CPU of the broker and PostgreSQL over a window: "b0 p0" now, then
# "us_broker us_pg" per message for n messages
svc_mark() { echo "$(ticks "$broker") $([ -n "$postmaster" ] && tree_ticks "$postmaster" || echo 0)"; }
svc_us() { # $1 = mark before, $2 = n
        local b0 p0
        read -r b0 p0 <<<"$1"
        awk -v b="$(($(ticks "$broker") - b0))" -v p="$(($([ -n "$postmaster" ] && tree_ticks "$postmaster" || echo 0) - p0))" \
                -v n="$2" -v hz="$HZ" 'BEGIN { printf "%.2f %.2f", b * 1e6 / hz / n, p * 1e6 / hz / n }'
}
# GNU time's "user sys rss" in a file -> CPU us per message
cpu_us() { awk -v n="$2" '{ printf "%.2f", ($1 + $2) * 1e6 / n }' "$1"; }

# the copy: $1 = round; prints "rate n secs us_kcatC us_kcatP us_broker us_pg"
copy() {
        local t="$tag-copy-$1" m
        "$BIN/komek-admin" --log-level warn --set "topics.complaints=$t" topics
        m=$(svc_mark)
        /usr/bin/time -f '%U %S %M' -o "$work/time.copyC.$1" \
                kcat -C -b "$KOMEK_BROKERS" -t "$tag-src" -e -q -o beginning -f '%s\n' |
                /usr/bin/time -f '%U %S %M' -o "$work/time.copyP.$1" kcat -P -b "$KOMEK_BROKERS" -t "$t"
        read -r first last n < <(span "$t")
        echo "$(awk -v f="$first" -v l="$last" -v n="$n" 'BEGIN { printf "%.0f %d %.2f", n * 1000 / (l - f), n, (l - f) / 1000 }') \
$(cpu_us "$work/time.copyC.$1" "$n") $(cpu_us "$work/time.copyP.$1" "$n") $(svc_us "$m" "$n")"
}
# routers: $1 = group tag, $2.. = instance names; each one's log in
# $work/log-$g-$i, GNU time in $work/rss-$g-$i
run_routers() {
        local g=$1 rp=() i
        shift
        "$BIN/komek-admin" --log-level warn --set "topics.complaints=$tag-$g" topics
        for i in "$@"; do
                /usr/bin/time -f '%U %S %M' -o "$work/rss-$g-$i" \
                        "$BIN/komek-router" "${topics[@]}" --set "topics.dispatch=$tag-$g" \
                        --set "router.group=$tag-$g" --set "router.transactional_id=$tag-$g-$i" \
                        --set "router.batch_size=$BATCH" --set router.exit_idle_ms=3000 \
                        --set router.reload_ms=0 ${BENCH_ROUTER_ARGS:-} 2>"$work/log-$g-$i" &
                rp+=($!)
                pids+=($!)
        done
        for i in "${rp[@]}"; do wait "$i"; done
}
consumed() { sed -n 's/.*stopped: consumed \([0-9]*\),.*/\1/p' "$1" | tail -1; }
# one router: $1 = round; "rate n secs us_router us_broker us_pg rss"
one() {
        local g="r1-$1" m n
        m=$(svc_mark)
        run_routers "$g" a
        read -r first last n < <(span "$tag-$g")
        echo "$(awk -v f="$first" -v l="$last" -v n="$n" 'BEGIN { printf "%.0f %d %.2f", n * 1000 / (l - f), n, (l - f) / 1000 }') \
$(cpu_us "$work/rss-$g-a" "$(consumed "$work/log-$g-a")") $(svc_us "$m" "$n") $(awk '{ print $3 }' "$work/rss-$g-a")"
}
# two routers: $1 = round; "rate n secs us_a us_b rss_a rss_b from_ms"
two() {
        local g="r2-$1" from
        run_routers "$g" a b
        # both hold partitions from the later of their first assignments
        # (the first one's came alone, the second's when the group had
        # both; the one left at the end is assigned again: not counted)
        from=0
        for i in a b; do
                t=$(sed -n 's/^\([^ ]*\) .*assigned [0-9]* partition.*/\1/p' "$work/log-$g-$i" | head -1)
                [ -n "$t" ] && t=$(ms_of "$t") && [ "$t" -gt "$from" ] && from=$t
        done
        read -r first last n < <(span "$tag-$g" "$from")
        # no message after both held partitions (the first was done
        # before the second joined): nothing to time, 0
        echo "$(awk -v f="$from" -v l="${last:-0}" -v n="${n:-0}" 'BEGIN {
                if (n < 2 || l <= f) { print "0 0 0"; exit }
                printf "%.0f %d %.2f", n * 1000 / (l - f), n, (l - f) / 1000 }') \
$(cpu_us "$work/rss-$g-a" "$(consumed "$work/log-$g-a")") $(cpu_us "$work/rss-$g-b" "$(consumed "$work/log-$g-b")") \
$(awk '{ print $3 }' "$work/rss-$g-a") $(awk '{ print $3 }' "$work/rss-$g-b") ${first:-0}"
}
for k in $(seq "$ROUNDS"); do
        read -r rate n secs uc up ub upg < <(copy "$k")
        printf "  round %d copy      %7d msg/s over %6.2f s (%d); CPU us/msg: kcat -C %.2f, kcat -P %.2f, broker %.2f, PostgreSQL %.2f\n" \
                "$k" "$rate" "$secs" "$n" "$uc" "$up" "$ub" "$upg"
        echo "$rate" >>"$work/copy"
        read -r rate n secs ur ub upg rss < <(one "$k")
        printf "  round %d 1 router  %7d msg/s over %6.2f s (%d); CPU us/msg: router %.2f, broker %.2f, PostgreSQL %.2f; RSS %d kB\n" \
                "$k" "$rate" "$secs" "$n" "$ur" "$ub" "$upg" "$rss"
        echo "$rate" >>"$work/one"
        echo "$ur" >>"$work/one.cpu"
        echo "$rss" >>"$work/rss"
        awk -v a="$rate" -v b="$(tail -1 "$work/copy")" 'BEGIN { print a / b }' >>"$work/ratio"
        read -r rate n secs ua ub ra rb first < <(two "$k")
        printf "  round %d 2 routers %7d msg/s over %6.2f s (%d, after both held partitions); CPU us/msg: a %.2f, b %.2f; RSS %d kB, %d kB\n" \
                "$k" "$rate" "$secs" "$n" "$ua" "$ub" "$ra" "$rb"
        echo "$rate" >>"$work/two"
        echo "$ua" >>"$work/two.cpu"
        echo "$ub" >>"$work/two.cpu"
        echo "$ra" >>"$work/rss"
        echo "$rb" >>"$work/rss"
        awk -v a="$rate" -v b="$(tail -1 "$work/one")" 'BEGIN { print a / b }' >>"$work/ratio2"
done
load1=$(cut -d' ' -f1-3 /proc/loadavg)
c=$(median <"$work/copy")
o=$(median <"$work/one")
t=$(median <"$work/two")
awk -v c="$c" -v o="$o" -v t="$t" -v r="$(median <"$work/ratio")" -v r2="$(median <"$work/ratio2")" \
        -v rs="$(tr '\n' ' ' <"$work/ratio")" -v rs2="$(tr '\n' ' ' <"$work/ratio2")" \
        -v c1="$(median <"$work/one.cpu")" -v c2="$(median <"$work/two.cpu")" \
        -v rss="$(sort -n "$work/rss" | tail -1)" -v cores="$(nproc)" 'BEGIN {
        printf "kcat -C | kcat -P copy:     %7d msg/s (median)\n", c
        printf "komek-router, 1 process:   %7d msg/s (median)  ratios %s-> median %.2fx the copy (target 0.50)\n", o, rs, r
        printf "komek-router, 2 processes: %7d msg/s (median)  ratios %s-> median %.2fx one process (target 1.60 on >= 4 cores; %d here)\n", t, rs2, r2, cores
        printf "router CPU: %.2f us/msg alone, %.2f us/msg each of two (%+.0f%%, target within 15%%)\n", c1, c2, (c2 / c1 - 1) * 100
        printf "peak RSS: %.1f MB (target 64)\n", rss / 1024
        # machine-readable (bench/run.sh)
        printf "bench: routing.copy_msg_s %d msg/s\nbench: routing.router1_msg_s %d msg/s\n", c, o
        printf "bench: routing.router2_msg_s %d msg/s\nbench: rss.komek-router %d kB\n", t, rss
        printf "bench: routing.ratio_median %.3f x\nbench: routing.ratio2_median %.3f x\n", r, r2
        printf "bench: cpu.routing.router1 %.2f us/msg\nbench: cpu.routing.router2_each %.2f us/msg\n", c1, c2 }'
echo "load average: before $load0, after $load1"
for f in "$work"/log-r*; do
        echo "  $(basename "$f"): $(sed -n 's/.*info: \(time: .*\)/\1/p' "$f")"
done
