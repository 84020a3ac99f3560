#!/usr/bin/env bash
# bench/web.sh - figures for komek-web (not a test): pages per second and
# latency of the staff inbox and the analysts' dashboard under wrk at
# concurrency 32 (target p99 < 50 ms), on city-scale generated data:
# komek-gen's default city (30,000 buildings, 1,400 KSKs, 17,000
# complaints over a year) published by komek-intake, routed by komek-router
# and komek-tasksink into a scratch schema, analytics facts from
# tests/web/fixture.sql.  Also: one dashboard with the figures cache
# disabled (the cost the cache saves), and a sign-in (PBKDF2 200,000).
# usage: bench/web.sh [BIN_DIR]   (after make up; the shared broker, fresh
# topics, a scratch schema of the test database dropped at the end)
# BENCH_SECONDS (20 per run), WEB_COMPLAINTS (17000; not BENCH_COMPLAINTS,
# which is bench/run.sh's 300,000 for the router: with it this bench
# measured another city than its figures say), BENCH_KEEP=1 keeps the
# schema (its name is printed), BENCH_SCHEMA=name runs on a kept one.
# Latencies are printed in ms whatever wrk's unit (bench/run.sh reads only
# "ms"), with wrk's socket errors and timeouts when there were any.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN="$ROOT/${1:-bin}"
export KOMEK_CONFIG="$ROOT/deploy/komek.conf"
# shellcheck disable=SC1091
. .run/kafka.env
# shellcheck disable=SC1091
. .run/pg.env
SECS=${BENCH_SECONDS:-20}
N=${WEB_COMPLAINTS:-17000}
command -v wrk >/dev/null || { echo "web bench: wrk missing (bash deploy/deps.sh)" >&2; exit 1; }
make --no-print-directory -s "$BIN/komek-gen" "$BIN/komek-intake" "$BIN/komek-admin" \
        "$BIN/komek-directory" "$BIN/komek-router" "$BIN/komek-tasksink" "$BIN/komek-web" >/dev/null
work=$(mktemp -d)
schema=${BENCH_SCHEMA:-bench_web_$$}
pids=()
cleanup() {
        for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
        wait 2>/dev/null || true
        [ -n "${BENCH_KEEP:-}${BENCH_SCHEMA:-}" ] ||
                psql -q "$KOMEK_PG_TEST_CONNINFO" -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
        rm -rf "$work"
}
trap cleanup EXIT
q() { psql -qAtX -v ON_ERROR_STOP=1 "$KOMEK_PG_CONNINFO" "$@"; }

export KOMEK_PG_CONNINFO="$KOMEK_PG_TEST_CONNINFO options='-csearch_path=$schema'"
make_data() {
        psql -q "$KOMEK_PG_TEST_CONNINFO" -c "CREATE SCHEMA $schema"
        "$BIN/komek-admin" --log-level warn migrate
        "$BIN/komek-gen" --out "$work/gen" --seed 109 --complaints "$N" \
                --from "$(date -u -d "today - 364 days" +%Y-%m-%d)" --days 364 2>/dev/null
        "$BIN/komek-directory" --log-level warn import "$work/gen" >/dev/null
        tag="komek-bench-web-$$-$(date +%s)"
        topics=(--set "topics.complaints=$tag-cpl" --set "topics.dlq=$tag-dlq"
                --set "topics.dispatch=$tag-dsp" --set "topics.task_events=$tag-evt")
        "$BIN/komek-admin" --log-level warn "${topics[@]}" topics
        "$BIN/komek-intake" --log-level warn --progress=false "${topics[@]}" "$work/gen/complaints.jsonl"

        # routing: the router exits when idle; the task sink when the count settles
        "$BIN/komek-tasksink" --log-level warn "${topics[@]}" --set "tasksink.group=$tag-sink" &
        sink=$!
        pids+=("$sink")
        "$BIN/komek-router" --log-level warn "${topics[@]}" --set "router.group=$tag-router" \
                --set "router.transactional_id=$tag-rt" --set router.exit_idle_ms=3000 --set router.reload_ms=0
        last=-1 same=0
        while [ "$same" -lt 3 ]; do
                n=$(q -c "SELECT count(*) FROM tasks")
                if [ "$n" = "$last" ]; then same=$((same + 1)); else same=0; last=$n; fi
                sleep 1 # polling the tasks table until the count settles
        done
        kill -TERM "$sink"
        wait "$sink" || true
        q -f tests/web/fixture.sql >/dev/null
        # statistics of the just-loaded tables, as after any bulk load (else
        # the first minute's plans depend on when autovacuum gets to them)
        q -c "DO \$\$ DECLARE r record; BEGIN FOR r IN SELECT tablename FROM pg_tables
                WHERE schemaname = current_schema() LOOP EXECUTE format('ANALYZE %I', r.tablename);
                END LOOP; END \$\$" >/dev/null
}
[ -n "${BENCH_SCHEMA:-}" ] || make_data
[ -z "${BENCH_KEEP:-}" ] || echo "web bench: schema $schema kept (BENCH_SCHEMA=$schema reuses it)"
org=$(q -c "SELECT org_id FROM tasks WHERE org_kind = 'ksk' AND status IN ('open', 'acknowledged') GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1")
echo "web bench: $(q -c "SELECT count(*) FROM tasks") tasks, $(q -c "SELECT count(*) FROM organisations WHERE kind = 'ksk'") KSKs," \
        "$(q -c "SELECT count(*) FROM buildings") buildings; inbox of $org: $(q -c "SELECT count(*) FROM tasks WHERE org_id = '$org' AND status IN ('open', 'acknowledged')") open tasks;" \
        "$(nproc) cores, wrk -t2 -c32 -d${SECS}s"
user() { # login, password, --org ORG | --analyst
        local l=$1 p=$2; shift 2
        echo "$p" | "$BIN/komek-web" --log-level error users add "$l" "$@" --password-stdin >/dev/null 2>&1 ||
                echo "$p" | "$BIN/komek-web" --log-level warn users passwd "$l" --password-stdin >/dev/null
}
user bench.ksk "bench staff password" --org "$org"
user bench.analyst "bench analyst password" --analyst

start_web() { # sets $port; --set args follow
        local pf="$work/port"
        rm -f "$pf"
        "$BIN/komek-web" --log-level warn --port 0 --set "web.port_file=$pf" \
                --set web.cookie_secure=false --set web.pg_pool=16 "$@" \
                </dev/null >/dev/null 2>>"$work/web.log" &
        pids+=($!)
        for _ in $(seq 1 200); do [ -s "$pf" ] && break; sleep 0.05; done # polling for the port file
        port=$(cat "$pf")
}
# sign in with curl; prints the session cookie
sign_in() { # $1 port, $2 login, $3 password
        local jar="$work/jar-$2" tok
        rm -f "$jar"
        tok=$(curl -s -c "$jar" "http://127.0.0.1:$1/login" | sed -n 's/.*name="csrf" value="\([0-9a-f]*\)".*/\1/p')
        curl -s -o /dev/null -b "$jar" -c "$jar" --data "csrf=$tok&login=$2&password=$3" "http://127.0.0.1:$1/login"
        awk '$6 == "km_session" { print $7 }' "$jar"
}
run_wrk() { # $1 name, $2 url, $3 cookie
        local out
        curl -s -o /dev/null -H "Cookie: km_session=$3" "$2" # the first fills the cache
        out=$(wrk -t2 -c32 -d"${SECS}s" --latency -H "Cookie: km_session=$3" "$2")
        awk -v name="$1" '
                function ms(v) { # wrk: 850.00us, 12.34ms, 1.99s, 1.20m
                        if (v ~ /us$/) return v / 1000
                        if (v ~ /ms$/) return v + 0
                        if (v ~ /m$/) return v * 60000
                        return v * 1000
                }
                /Requests\/sec/ { rps = $2 }
                /^ +50%/ { p50 = ms($2) } /^ +99%/ { p99 = ms($2) }
                /Non-2xx/ { bad = $NF }
                /Socket errors/ { sock = $0; sub(/^ *Socket errors: */, "", sock) }
                END { printf "  %-34s %9.0f pages/s   p50 %8.2fms   p99 %8.2fms%s%s\n", name, rps, p50, p99,
                        bad ? "   NON-2xx: " bad : "", sock ? "   socket errors: " sock : "" }' <<<"$out"
}

start_web
staff=$(sign_in "$port" bench.ksk "bench+staff+password")
analyst=$(sign_in "$port" bench.analyst "bench+analyst+password")
[ -n "$staff" ] && [ -n "$analyst" ] || { echo "web bench: sign-in failed" >&2; exit 1; }
t=$(curl -s -o /dev/null -w '%{time_total}' -H "Cookie: km_session=$analyst" "http://127.0.0.1:$port/dashboard")
echo "  dashboard, first (cold cache):     ${t}s"
t=$(curl -s -o /dev/null -w '%{time_total}' -H "Cookie: km_session=$analyst" "http://127.0.0.1:$port/dashboard")
echo "  dashboard, cached figures:         ${t}s; size $(curl -s -H "Cookie: km_session=$analyst" "http://127.0.0.1:$port/dashboard" | wc -c) bytes"
echo "  inbox page size:                   $(curl -s -H "Cookie: km_session=$staff" "http://127.0.0.1:$port/inbox" | wc -c) bytes"
t=$( { time -p sign_in "$port" bench.ksk "bench+staff+password" >/dev/null; } 2>&1 | awk '/real/ { print $2 }')
echo "  sign-in (GET + POST, PBKDF2):      ${t}s"
run_wrk "GET /inbox (staff)" "http://127.0.0.1:$port/inbox" "$staff"
run_wrk "GET /dashboard (analyst)" "http://127.0.0.1:$port/dashboard" "$analyst"
# a district filter: another cache entry, same cost after the first
dist=$(q -c "SELECT district FROM buildings GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")
enc=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$dist")
run_wrk "GET /dashboard?district= (analyst)" "http://127.0.0.1:$port/dashboard?district=$enc" "$analyst"
run_wrk "GET /dashboard/rating.csv" "http://127.0.0.1:$port/dashboard/rating.csv" "$analyst"
errs=$(grep -c "error" "$work/web.log" || true)
echo "  komek-web errors in its log: $errs"
