#!/usr/bin/env bash
# deploy/demo.sh - `make demo`: with Kafka and PostgreSQL up (make up), make
# a generated city-scale data set and run the pipeline stages on it, ending
# with the report.  Each stage is a script in deploy/demo.d/ (NN-name.sh),
# run in order with:
#   KOMEK_BIN   the programs          DEMO_DIR  generated data (.run/demo)
#   KOMEK_CONFIG deploy/komek.conf     KOMEK_BROKERS, KOMEK_PG_CONNINFO
# The demo uses the default topics and the komek database.  Ids are derived
# from (source, external_id), so running it again publishes the same
# complaints and changes no count: exactly-once, visibly.
#
# usage: deploy/demo.sh BIN_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export KOMEK_BIN="$ROOT/${1:-bin}" KOMEK_ROOT="$ROOT"
export KOMEK_CONFIG="$ROOT/deploy/komek.conf"
export DEMO_DIR="$ROOT/.run/demo"
# shellcheck disable=SC1091
. .run/kafka.env
# shellcheck disable=SC1091
. .run/pg.env
mkdir -p "$DEMO_DIR"

# A year of complaints ending yesterday, so "last complete week" has data.
DEMO_FROM=$(date -u -d "today - 364 days" +%Y-%m-%d)
export DEMO_FROM
if [ ! -s "$DEMO_DIR/complaints.jsonl" ] || [ ! -s "$DEMO_DIR/activity.jsonl" ] || [ ! -s "$DEMO_DIR/systemic.csv" ] || [ "$(cat "$DEMO_DIR/.from" 2>/dev/null)" != "$DEMO_FROM" ]; then
        echo "== demo: generating a year of complaints from $DEMO_FROM (komek-gen, seed 109)"
        "$KOMEK_BIN/komek-gen" --out "$DEMO_DIR" --seed 109 --from "$DEMO_FROM" --days 364
        echo "$DEMO_FROM" >"$DEMO_DIR/.from"
fi

stages=(deploy/demo.d/*.sh)
if [ ! -e "${stages[0]}" ]; then
        # Foundation only: a smoke pipeline, a few complaints produced and consumed.
        echo "== demo: smoke pipeline (later stages not built yet)"
        head -5 "$DEMO_DIR/complaints.jsonl" | kcat -P -b "$KOMEK_BROKERS" -t complaints
        kcat -C -b "$KOMEK_BROKERS" -t complaints -o -5 -e -q | head -5
        exit 0
fi
for s in "${stages[@]}"; do
        echo "== demo: $(basename "$s" .sh)"
        bash "$s"
done
