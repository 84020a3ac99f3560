#!/usr/bin/env bash
# bench/analytics.sh - komek-analytics throughput against a naive writer
# (one INSERT + COMMIT per message) and against raw COPY of the same facts,
# komek-tasksink's against raw COPY of the same task rows (each alternated
# with its baseline in windows, CPU per message beside each rate), in the
# same run; the full four-topic mix; komek-report over a year.
# Not a test: prints figures.  Needs Kafka and PostgreSQL up (make up).
#
# usage: bash bench/analytics.sh [BIN_DIR]   (env: AN_COMPLAINTS=100000,
#        AN_NAIVE=5000, AN_REPLICAS=5 copies of the year for the COPY
#        comparisons, AN_WINDOWS=4 of AN_WINDOW_MS=1500 each)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export KOMEK_BIN="$ROOT/${1:-bin}" KOMEK_ROOT="$ROOT"
export KOMEK_CONFIG="$ROOT/deploy/komek.conf"
# shellcheck disable=SC1091
. .run/kafka.env
# shellcheck disable=SC1091
. .run/pg.env
N=${AN_COMPLAINTS:-100000}
NAIVE=${AN_NAIVE:-5000}
make --no-print-directory bin/komek-gen bin/komek-analytics bin/komek-report \
        bin/komek-admin bin/komek-tasksink build/bench/analytics_bench >/dev/null
DIR=$(mktemp -d /tmp/komek-bench-analytics-XXXXXX)
trap 'rm -rf "$DIR"' EXIT
echo "== bench/analytics: a year of data, $N complaint lines (komek-gen seed 5)"
"$KOMEK_BIN/komek-gen" --out "$DIR" --seed 5 --complaints "$N" \
        --from 2025-01-01 --days 365 2>/dev/null
mkdir -p .run
build/bench/analytics_bench "$DIR" "$NAIVE" 2025-W52 | tee "$DIR/out.txt"
# machine-readable (bench/run.sh): "bench: <key> <value> <unit>"
sed -n -e 's/^komek-analytics, complaints: .* = \([0-9.]*\) msg\/s.*/bench: analytics.complaints_msg_s \1 msg\/s/p' \
        -e 's/^naive writer .* = \([0-9.]*\) msg\/s.*/bench: analytics.naive_msg_s \1 msg\/s/p' \
        -e 's/^raw COPY of the same facts: .* = \([0-9.]*\) rows\/s.*/bench: analytics.copy_rows_s \1 rows\/s/p' \
        -e 's/^komek-tasksink: .* = \([0-9.]*\) msg\/s.*/bench: analytics.sink_msg_s \1 msg\/s/p' \
        -e 's/^raw COPY of the same task rows: .* = \([0-9.]*\) rows\/s.*/bench: analytics.sink_copy_rows_s \1 rows\/s/p' \
        -e 's/^komek-analytics, all four topics: .* = \([0-9.]*\) msg\/s.*/bench: analytics.all_msg_s \1 msg\/s/p' \
        -e 's/^komek-analytics, all four topics, 2 processes.* = \([0-9.]*\) msg\/s.*/bench: analytics.all_2proc_msg_s \1 msg\/s/p' \
        -e 's/^komek-report --format \([a-z]*\) .*: \([0-9]*\) ms$/bench: analytics.report_\1_ms \2 ms/p' \
        "$DIR/out.txt"
