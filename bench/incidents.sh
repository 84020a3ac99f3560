#!/usr/bin/env bash
# bench/incidents.sh - what computing incidents from the stored tasks
# costs (docs/incidents.md; not a test).  A scratch schema of the test
# database with every migration, a generated directory (BENCH_KSKS KSKs
# of 20 buildings on 4 streets each) and BENCH_TASKS tasks over a year
# (one in 20 part of a street outage of 8 buildings in 90 minutes), then,
# alternating, BENCH_ROUNDS times each, the median of:
#   inbox      the web inbox's task page of the busiest KSK (baseline)
#   inbox+inc  its open incidents (incidents, org_id = ...)
#   city       every open task of the city counted (baseline: one scan)
#   city+inc   the dashboard's open incidents of the city
# usage: bench/incidents.sh   (after make up; the schema is dropped)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN="$ROOT/${1:-bin}"
export KOMEK_CONFIG="$ROOT/deploy/komek.conf"
# shellcheck disable=SC1091
. .run/pg.env
TASKS=${BENCH_TASKS:-200000}
KSKS=${BENCH_KSKS:-1400}
ROUNDS=${BENCH_ROUNDS:-7}
schema=bench_incidents_$$
cleanup() {
        [ -n "${BENCH_KEEP:-}" ] && { echo "kept schema $schema"; return; }
        psql -qX "$KOMEK_PG_TEST_CONNINFO" -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
}
trap cleanup EXIT
make --no-print-directory -s "$BIN/komek-admin" >/dev/null
psql -qX "$KOMEK_PG_TEST_CONNINFO" -c "CREATE SCHEMA $schema"
export KOMEK_PG_CONNINFO="$KOMEK_PG_TEST_CONNINFO options='-csearch_path=$schema'"
"$BIN/komek-admin" --log-level warn migrate
q() { psql -qAtX -v ON_ERROR_STOP=1 "$KOMEK_PG_CONNINFO" "$@"; }

t0=$(date +%s)
q <<SQL
SELECT setseed(0.109);
INSERT INTO organisations (id, kind, name)
SELECT 'ksk-' || k, 'ksk', 'КСК ' || k FROM generate_series(1, $KSKS) k;
INSERT INTO buildings (id, district, street, house, apartments, ksk_id, lat, long, street_key, house_key)
SELECT 'b-' || b, 'd' || ((b / 5) % 6), 'street ' || (b / 5), (b % 5)::text, 60,
       'ksk-' || (1 + b / 20), 43.2 + (b % 997) * 0.0005, 76.9 + (b / 997) * 0.0007,
       's' || (b / 5), (b % 5)::text
  FROM generate_series(0, $KSKS * 20 - 1) b;
-- background complaints, then outages: 8 buildings of one street (two
-- adjacent streets of a KSK), 90 minutes, one in 20 tasks
INSERT INTO tasks (complaint_id, attempt, org_id, org_kind, building_id, district, category,
                   route_reason, status, received_at, routed_at, due_at, description, updated_at, complaint)
SELECT gen_random_uuid(), 1, 'ksk-' || (1 + b / 20), 'ksk', 'b-' || b, 'd' || ((b / 5) % 6),
       (ARRAY['heating','water','electricity','lift','sewage','roof'])[1 + (random() * 5)::int],
       'building', CASE WHEN random() < 0.85 THEN 'resolved' ELSE 'open' END, at, at,
       at + interval '3 days', 'x', at, '{}'
  FROM (SELECT (random() * ($KSKS * 20 - 1))::int AS b,
               now() - random() * interval '365 days' AS at
          FROM generate_series(1, $TASKS * 19 / 20)) s;
INSERT INTO tasks (complaint_id, attempt, org_id, org_kind, building_id, district, category,
                   route_reason, status, received_at, routed_at, due_at, description, updated_at, complaint)
SELECT gen_random_uuid(), 1, 'ksk-' || (1 + b / 20), 'ksk', 'b-' || b, 'd' || ((b / 5) % 6), 'heating',
       'building', CASE WHEN o.at < now() - interval '7 days' THEN 'resolved' ELSE 'open' END,
       o.at + (random() * 90) * interval '1 minute', o.at, o.at + interval '1 day', 'x', o.at, '{}'
  FROM (SELECT (random() * ($KSKS * 20 / 10 - 1))::int * 10 AS b0,
               now() - random() * interval '365 days' AS at
          FROM generate_series(1, $TASKS / 20 / 8)) o,
       LATERAL (SELECT o.b0 + i AS b FROM generate_series(0, 9) i WHERE i < 8) x;
ANALYZE tasks; ANALYZE buildings;
SQL
echo "data: $(q -c 'SELECT count(*) FROM tasks') tasks, $(q -c 'SELECT count(*) FROM buildings') buildings in $(( $(date +%s) - t0 )) s"
org=$(q -c "SELECT org_id FROM tasks WHERE status = 'open' GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1")

# ms of one run of a statement, as the server measured it
ms() {
        q -c "EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) $1" |
                python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Execution Time"])'
}
declare -A Q
Q[inbox]="SELECT complaint_id, category, status, due_at FROM tasks WHERE org_id = '$org' AND status IN ('open', 'acknowledged', 'reopened') ORDER BY status = 'reopened' DESC, due_at, complaint_id LIMIT 50"
Q[inbox+inc]="SELECT * FROM incidents WHERE org_id = '$org' AND status = 'open'"
Q[city]="SELECT count(*) FROM tasks WHERE status IN ('open', 'acknowledged', 'reopened')"
Q[city+inc]="SELECT * FROM incidents WHERE status = 'open' ORDER BY open_tasks DESC, first_at LIMIT 200"
names=(inbox inbox+inc city city+inc)
declare -A runs
for _ in $(seq "$ROUNDS"); do
        for n in "${names[@]}"; do runs[$n]+="$(ms "${Q[$n]}") "; done
done
median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "open incidents: $(q -c "SELECT count(*) FROM incidents WHERE status = 'open'") (of $(q -c 'SELECT count(*) FROM incidents')); busiest KSK $org: $(q -c "SELECT count(*) FROM incidents WHERE org_id = '$org' AND status = 'open'") open"
printf '%-10s %10s %8s\n' query median_ms ratio
for pair in "inbox inbox+inc" "city city+inc"; do
        set -- $pair
        b=$(echo "${runs[$1]}" | median)
        c=$(echo "${runs[$2]}" | median)
        printf '%-10s %10.2f %8s\n' "$1" "$b" "1"
        printf '%-10s %10.2f %8.1f\n' "$2" "$c" "$(echo "$c / $b" | bc -l)"
done
