#!/usr/bin/env bash
# bench/tasksink.sh - komek-tasksink's CPU per dispatch message (not a
# test): 1. the scanner vs its jansson reference on the same messages, in
# one process, alternated (build/bench/tasksink_parse_bench); 2. callgrind
# instructions per message of the whole komek-tasksink (consume, read,
# COPY, commit) over TS_N messages, for BIN and, when TS_BASE_BIN is set,
# for that build too (e.g. main's), on the same messages.
# The messages: a dispatch topic's (TS_TOPIC), else TS_FILE (one message a
# line), else made by komek-router from komek-gen's complaints.
# usage: bash bench/tasksink.sh [BIN]   (after make up)
# Prints lines "bench: <key> <value> <unit>".
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN="$ROOT/${1:-bin}"
N=${TS_N:-5000}
export KOMEK_CONFIG="$ROOT/deploy/komek.conf"
# shellcheck disable=SC1091
. .run/kafka.env
# shellcheck disable=SC1091
. .run/pg.env
make --no-print-directory -s build/bench/tasksink_parse_bench "${1:-bin}/komek-tasksink" >/dev/null
work=$(mktemp -d /tmp/komek-bench-tasksink.XXXXXX)
schema="bench_ts_$$"
pids=()
cleanup() {
        for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
        wait 2>/dev/null || true
        psql -q "$KOMEK_PG_TEST_CONNINFO" -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
        rm -rf "$work"
}
trap cleanup EXIT
if [ -n "${TS_TOPIC:-}" ]; then
        kcat -C -b "$KOMEK_BROKERS" -t "$TS_TOPIC" -o beginning -c "$N" -e -q \
                -X isolation.level=read_committed -f '%s\n' >"$work/d.jsonl" 2>/dev/null
elif [ -n "${TS_FILE:-}" ]; then
        head -n "$N" "$TS_FILE" >"$work/d.jsonl"
else
        echo "bench/tasksink.sh: set TS_TOPIC or TS_FILE (a dispatch topic, e.g. bench/e2e.sh's)" >&2
        exit 2
fi
N=$(wc -l <"$work/d.jsonl")
# 1. the readers alone, alternated, 5 rounds
build/bench/tasksink_parse_bench "$work/d.jsonl" both 5
# 2. the whole program under callgrind
export KOMEK_PG_CONNINFO="$KOMEK_PG_TEST_CONNINFO options='-csearch_path=$schema'"
psql -q "$KOMEK_PG_TEST_CONNINFO" -c "CREATE SCHEMA $schema"
tag="komek-bench-ts-$$-$(date +%s)"
T=(--set "topics.complaints=$tag-c" --set "topics.dlq=$tag-dlq" --set "topics.dispatch=$tag-d"
        --set "topics.task_events=$tag-e" --set "topics.votes=$tag-v" --set "topics.escalations=$tag-x")
"$BIN/komek-admin" --log-level warn "${T[@]}" all
kcat -P -b "$KOMEK_BROKERS" -t "$tag-d" <"$work/d.jsonl"
run_cg() { # label bin: instructions per message of that komek-tasksink
        local lab=$1 bin=$2 got deadline
        psql -q "$KOMEK_PG_CONNINFO" -c "TRUNCATE tasks, task_attempts CASCADE; DELETE FROM consumer_offsets"
        valgrind --tool=callgrind --callgrind-out-file="$work/cg-$lab.out" \
                "$bin/komek-tasksink" "${T[@]}" --set "tasksink.group=$tag-$lab" \
                --set tasksink.relay_ms=0 2>"$work/sink-$lab.log" &
        pids+=($!)
        deadline=$((SECONDS + 600))
        while :; do
                got=$(psql -X -At "$KOMEK_PG_CONNINFO" -c "SELECT count(*) FROM task_attempts")
                [ "$got" -ge "$N" ] && break
                ((SECONDS < deadline)) || { echo "tasksink.sh: $lab: $got of $N" >&2; break; }
                sleep 1
        done
        kill -TERM "${pids[-1]}"
        wait "${pids[-1]}" || true
        unset 'pids[-1]'
        local total parse
        total=$(callgrind_annotate "$work/cg-$lab.out" 2>/dev/null | sed -n 's/^ *\([0-9,]*\) .*PROGRAM TOTALS.*/\1/p' | tr -d ,)
        parse=$(callgrind_annotate --inclusive=yes "$work/cg-$lab.out" 2>/dev/null |
                sed -n 's/^ *\([0-9,]*\) .*:tasksink_row_parse .*/\1/p' | head -1 | tr -d ,)
        echo "bench: tasksink_cg.$lab.instr_per_msg $((total / N)) instr/msg"
        echo "bench: tasksink_cg.$lab.parse_instr_per_msg $((${parse:-0} / N)) instr/msg"
}
[ -z "${TS_BASE_BIN:-}" ] || run_cg base "$ROOT/$TS_BASE_BIN"
run_cg bin "$BIN"
echo "bench: tasksink_cg.messages $N msg"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
