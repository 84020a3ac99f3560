#!/usr/bin/env bash
# bench/tasksink.sh - komek-tasksink's CPU per dispatch message (not a
# test): 1. the scanner vs its jansson reference on the same messages, in
# one process, alternated (build/bench/tasksink_parse_bench); 2. callgrind
# instructions per message of the whole komek-tasksink (consume, read,
# COPY, commit) over TS_N messages, for BIN and, when TS_BASE_BIN is set,
# for that build too (e.g. main's), on the same messages.
# The messages: a dispatch topic's (TS_TOPIC), else TS_FILE (one message a
# line), else made by komek-router from TS_N of komek-gen's complaints
# (seed 109) on topics of their own.  TS_BASE_BIN: absolute, or relative
# to the tree.
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
make --no-print-directory -s build/bench/tasksink_parse_bench "${1:-bin}/komek-tasksink" \
        "${1:-bin}/komek-gen" "${1:-bin}/komek-directory" "${1:-bin}/komek-intake" \
        "${1:-bin}/komek-router" "${1:-bin}/komek-admin" >/dev/null
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
export KOMEK_PG_CONNINFO="$KOMEK_PG_TEST_CONNINFO options='-csearch_path=$schema'"
psql -q "$KOMEK_PG_TEST_CONNINFO" -c "CREATE SCHEMA $schema"
tag="komek-bench-ts-$$-$(date +%s)"
topics() { # the topic names for prefix $1
        T=(--set "topics.complaints=$1-c" --set "topics.dlq=$1-dlq" --set "topics.dispatch=$1-d"
                --set "topics.task_events=$1-e" --set "topics.votes=$1-v" --set "topics.escalations=$1-x")
}
if [ -n "${TS_TOPIC:-}" ]; then
        kcat -C -b "$KOMEK_BROKERS" -t "$TS_TOPIC" -o beginning -c "$N" -e -q \
                -X isolation.level=read_committed -f '%s\n' >"$work/d.jsonl" 2>/dev/null
elif [ -n "${TS_FILE:-}" ]; then
        head -n "$N" "$TS_FILE" >"$work/d.jsonl"
else
        # komek-gen's complaints through komek-intake and komek-router,
        # on topics of their own, the directory in the scratch schema
        topics "$tag-g"
        "$BIN/komek-admin" --log-level warn "${T[@]}" all
        "$BIN/komek-gen" --out "$work/gen" --seed 109 --complaints "$N" --dup-rate 0 --bad-rate 0 \
                --from "$(date -u -d "today - 200 days" +%Y-%m-%d)" --days 180 2>/dev/null
        "$BIN/komek-directory" --log-level warn import "$work/gen" >/dev/null
        "$BIN/komek-intake" --progress=false "${T[@]}" "$work/gen/complaints.jsonl" 2>"$work/intake.log"
        "$BIN/komek-router" "${T[@]}" --set "router.group=$tag-r" \
                --set "router.transactional_id=$tag-r" --set router.metrics_port=0 \
                --set router.reload_ms=0 2>"$work/router.log" &
        pids+=($!)
        timeout 300 kcat -C -b "$KOMEK_BROKERS" -t "$tag-g-d" -o beginning -c "$N" -q \
                -X isolation.level=read_committed -f '%s\n' >"$work/d.jsonl" 2>/dev/null || true
        kill -TERM "${pids[-1]}"
        wait "${pids[-1]}" || true
        unset 'pids[-1]'
fi
N=$(wc -l <"$work/d.jsonl")
[ "$N" -gt 0 ] || { echo "bench/tasksink.sh: no dispatch messages" >&2; exit 1; }
# 1. the readers alone, alternated, 5 rounds
build/bench/tasksink_parse_bench "$work/d.jsonl" both 5
# 2. the whole program under callgrind
topics "$tag"
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
if [ -n "${TS_BASE_BIN:-}" ]; then
        case $TS_BASE_BIN in /*) run_cg base "$TS_BASE_BIN" ;; *) run_cg base "$ROOT/$TS_BASE_BIN" ;; esac
fi
run_cg bin "$BIN"
echo "bench: tasksink_cg.messages $N msg"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
