#!/usr/bin/env bash
# bench/intake.sh - figures for the intake issue (not a test):
#  1. komek-intake vs `kcat -P` publishing the same generated JSON Lines
#     (komek-gen, seed 109, BENCH_LINES lines, default 2,000,000: a
#     window of at least 5 s for kcat) to fresh topics, both idempotent
#     (acks=all); subject and baseline alternate BENCH_ROUNDS times (ABAB..,
#     default 3) and the median ratio is printed.  Both are timed the same
#     way: first to last message time (CreateTime) on the output topic, so
#     neither start-up nor the final flush counts.  Beside each rate, CPU
#     microseconds per message of each process (user + system: GNU time
#     for komek-intake and kcat, /proc/PID/stat of the broker before and
#     after), and the load average before and after.
#     Target: intake >= 0.8x kcat.
# The gateway's POST /requests is bench/gateway.sh.
# usage: bench/intake.sh [BIN_DIR]     (after make up; uses the shared
# broker)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN="$ROOT/${1:-bin}"
export KOMEK_CONFIG="$ROOT/deploy/komek.conf"
# shellcheck disable=SC1091
. .run/kafka.env
LINES=${BENCH_LINES:-2000000}
ROUNDS=${BENCH_ROUNDS:-3}
make --no-print-directory -s "$BIN/komek-gen" "$BIN/komek-intake" "$BIN/komek-admin"
work=$(mktemp -d)
cleanup() {
        rm -rf "$work"
}
trap cleanup EXIT
now() { date +%s.%N; }
# CPU ticks (user + system) of a live process, from /proc/PID/stat
ticks() { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '{ print $12 + $13 }' || echo 0; }
HZ=$(getconf CLK_TCK)
broker=$(cat .run/kafka/kafka.pid 2>/dev/null || pgrep -f "kafka.Kafka.*$ROOT" | head -1 || true)
# "first last count" of the CreateTimes (ms) on a topic
span() {
        kcat -C -b "$KOMEK_BROKERS" -t "$1" -e -q -o beginning -f '%T\n' |
                awk 'NR == 1 || $1 < a { a = $1 } $1 > b { b = $1 } END { print a, b, NR }'
}
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

load0=$(cut -d' ' -f1-3 /proc/loadavg)
"$BIN/komek-gen" --out "$work/gen" --seed 109 --complaints 200000 --bad-rate 0 \
        --from "$(date -u -d "today - 364 days" +%Y-%m-%d)" --days 364 2>/dev/null
gl=$(wc -l <"$work/gen/complaints.jsonl")
for _ in $(seq $(((LINES + gl - 1) / gl))); do cat "$work/gen/complaints.jsonl"; done >"$work/all.jsonl"
head -n "$LINES" "$work/all.jsonl" >"$work/in.jsonl"
rm -f "$work/all.jsonl"
lines=$(wc -l <"$work/in.jsonl")
tag="komek-bench-$$-$(date +%s)"
echo "intake bench: $lines lines, $ROUNDS rounds, $(nproc) cores, load before $load0"
# one window: $1 = kcat | intake, $2 = round; prints
# "rate cpu_us_per_msg broker_us_per_msg n secs"
window() {
        local who=$1 k=$2 t="$tag-$1-$2" b0 b1
        "$BIN/komek-admin" --log-level warn --set "topics.complaints=$t" --set "topics.dlq=$t.dlq" topics
        b0=$(ticks "$broker")
        if [ "$who" = kcat ]; then
                /usr/bin/time -f '%U %S %M' -o "$work/time.$who.$k" \
                        kcat -P -b "$KOMEK_BROKERS" -t "$t" -l -X enable.idempotence=true "$work/in.jsonl"
        else
                /usr/bin/time -f '%U %S %M' -o "$work/time.$who.$k" \
                        "$BIN/komek-intake" --progress=false --set "topics.complaints=$t" \
                        --set "topics.dlq=$t.dlq" "$work/in.jsonl" 2>"$work/intake.log.$k"
        fi
        b1=$(ticks "$broker")
        read -r first last n < <(span "$t")
        awk -v f="$first" -v l="$last" -v n="$n" -v b="$((b1 - b0))" -v hz="$HZ" -v w="$lines" \
                -v tm="$(tail -1 "$work/time.$who.$k")" 'BEGIN {
                split(tm, x, " "); s = (l - f) / 1000
                if (n != w) printf "intake bench: %d messages on the topic, %d lines!\n", n, w > "/dev/stderr"
                printf "%.0f %.2f %.2f %d %.2f %d\n", n / s, (x[1] + x[2]) * 1e6 / n, b * 1e6 / hz / n, n, s, x[3] }'
}
for k in $(seq "$ROUNDS"); do
        for who in kcat intake; do
                read -r rate cpu bcpu n secs rss < <(window "$who" "$k")
                printf "  round %d %-6s %8d msg/s over %6.2f s (%d messages); CPU %6.2f us/msg, broker %6.2f us/msg; RSS %d kB\n" \
                        "$k" "$who" "$rate" "$secs" "$n" "$cpu" "$bcpu" "$rss"
                echo "$rate" >>"$work/rate.$who"
                echo "$cpu" >>"$work/cpu.$who"
                echo "$bcpu" >>"$work/bcpu.$who"
                echo "$rss" >>"$work/rss.$who"
        done
        awk -v a="$(tail -1 "$work/rate.intake")" -v b="$(tail -1 "$work/rate.kcat")" 'BEGIN { print a / b }' >>"$work/ratio"
done
k=$(median <"$work/rate.kcat")
i=$(median <"$work/rate.intake")
r=$(median <"$work/ratio")
load1=$(cut -d' ' -f1-3 /proc/loadavg)
awk -v n="$lines" -v k="$k" -v i="$i" -v r="$r" -v ck="$(median <"$work/cpu.kcat")" \
        -v ci="$(median <"$work/cpu.intake")" -v bk="$(median <"$work/bcpu.kcat")" \
        -v bi="$(median <"$work/bcpu.intake")" -v ratios="$(tr '\n' ' ' <"$work/ratio")" 'BEGIN {
        printf "intake-vs-kcat: %d lines; medians: kcat -P %.0f msg/s (%.2f us/msg, broker %.2f), komek-intake %.0f msg/s (%.2f us/msg, broker %.2f); ratios %s-> median %.2f (target 0.80)\n",
                n, k, ck, bk, i, ci, bi, ratios, r
        printf "bench: intake.kcat_msg_s %.0f msg/s\nbench: intake.intake_msg_s %.0f msg/s\n", k, i
        printf "bench: intake.ratio_median %.3f x\n", r
        printf "bench: cpu.intake.komek-intake %.2f us/msg\nbench: cpu.intake.kcat-P %.2f us/msg\n", ci, ck
        printf "bench: cpu.intake.broker-for-intake %.2f us/msg\nbench: cpu.intake.broker-for-kcat %.2f us/msg\n", bi, bk }'
echo "bench: rss.komek-intake $(sort -n "$work/rss.intake" | tail -1) kB"
echo "load average: before $load0, after $load1"
tail -1 "$work/intake.log.$ROUNDS" | sed 's/^/  /'

