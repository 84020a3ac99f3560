#!/usr/bin/env bash
# bench/gateway.sh - figures for the gateway (not a test): komek-gateway's
# POST /requests.json (form bodies, unique external ids, 201 only after the
# broker's acknowledgement) against GET /services.json on the same server
# (the HTTP stack alone), both at concurrency BENCH_CONCURRENCY (32) with
# komek-httpload (tests/intake/httpload.c, one keep-alive connection per
# client); POST and GET alternate BENCH_ROUNDS times (3) and the median
# ratio and the median POST p99 are printed.  Beside each rate, CPU
# microseconds per request (user + system from /proc/PID/stat) of the
# gateway, the broker and the PostgreSQL server (every process of the
# cluster), and the load average before and after.
#     Targets: POST >= 0.25x GET /services, POST p99 <= 50 ms.
# usage: bench/gateway.sh [BIN_DIR]   (after make up; uses the shared broker
# and a scratch schema of the test database, dropped at the end)
#        BENCH_GW_ARGS="-X linger.ms=5": more flags for komek-gateway
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN="$ROOT/${1:-bin}"
BUILD=build
[[ ${1:-bin} == build-asan/* ]] && BUILD=build-asan
export KOMEK_CONFIG="$ROOT/deploy/komek.conf"
# shellcheck disable=SC1091
. .run/kafka.env
# shellcheck disable=SC1091
. .run/pg.env
ROUNDS=${BENCH_ROUNDS:-3}
CONC=${BENCH_CONCURRENCY:-32}
POSTS=${BENCH_POSTS:-2000}
make --no-print-directory -s "$BIN/komek-gateway" "$BIN/komek-keys" "$BIN/komek-admin" \
        "$BUILD/bench/komek-httpload" >/dev/null 2>&1 ||
        make --no-print-directory -s "$BUILD/bench/komek-httpload"
work=$(mktemp -d)
schema="bench_gateway_$$"
gw_pid=
cleanup() {
        if [ -n "$gw_pid" ]; then kill -TERM "$gw_pid" 2>/dev/null || true; wait "$gw_pid" 2>/dev/null || true; fi
        psql -q "$KOMEK_PG_TEST_CONNINFO" -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
        rm -rf "$work"
}
trap cleanup EXIT
HZ=$(getconf CLK_TCK)
broker=$(cat .run/kafka/kafka.pid 2>/dev/null || pgrep -f "kafka.Kafka.*$ROOT" | head -1 || true)
# the PostgreSQL server's processes: the postmaster and its children.
# The postmaster is a backend's parent, read while that backend lives (a
# session kept open a second; psql -c's backend is gone when it returns).
{ echo "SELECT pg_backend_pid();"; sleep 1; } | psql -Atq "$KOMEK_PG_TEST_CONNINFO" >"$work/backend" &
for _ in $(seq 100); do [ -s "$work/backend" ] && break; sleep 0.02; done
pg_main=$(awk '{ print $4 }' "/proc/$(cat "$work/backend")/stat" 2>/dev/null || echo 0)
wait $!
[ "$pg_main" != 0 ] || echo "gateway bench: PostgreSQL's processes not found: its CPU reads 0" >&2
# CPU ticks (user + system) of processes, live ones only; children that
# have exited (earlier backends) count in their parent's cutime/cstime
ticks() {
        local t=0 p
        for p in "$@"; do
                [ -r "/proc/$p/stat" ] || continue
                t=$((t + $(sed 's/^.*) //' "/proc/$p/stat" | awk '{ print $12 + $13 + $14 + $15 }')))
        done
        echo "$t"
}
pg_procs() { echo "$pg_main $(pgrep -P "$pg_main" | tr '\n' ' ')"; }
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
field() { sed -n "s/.* $1 \\([0-9.]*\\).*/\\1/p" <<<"$2"; }

load0=$(cut -d' ' -f1-3 /proc/loadavg)
tag="komek-bench-$$-$(date +%s)"
psql -q "$KOMEK_PG_TEST_CONNINFO" -c "CREATE SCHEMA $schema"
export KOMEK_PG_CONNINFO="$KOMEK_PG_TEST_CONNINFO options='-csearch_path=$schema'"
"$BIN/komek-admin" --log-level warn migrate
key=$("$BIN/komek-keys" --log-level warn add --source bench --rate 1000000)
"$BIN/komek-admin" --log-level warn --set "topics.complaints=$tag-gateway" topics
# shellcheck disable=SC2086 # BENCH_GW_ARGS: words
"$BIN/komek-gateway" ${BENCH_GW_ARGS:-} --log-level warn --port 0 --port-file "$work/port" \
        --set "topics.complaints=$tag-gateway" 2>"$work/gateway.log" &
gw_pid=$!
for _ in $(seq 200); do [ -s "$work/port" ] && break; sleep 0.1; done
port=$(cat "$work/port")
echo "gateway bench: concurrency $CONC, $POSTS POSTs and $((POSTS * 2)) GETs a round, $ROUNDS rounds, $(nproc) cores, load before $load0"
"$BUILD/bench/komek-httpload" "$port" "$CONC" "$CONC" "$key" >/dev/null # warm-up
# one window: $1 = post | get; prints komek-httpload's line, then
# "gateway_us broker_us pg_us" per request
window() {
        local g0 b0 p0 out n
        g0=$(ticks "$gw_pid") b0=$(ticks "$broker") p0=$(ticks $(pg_procs))
        if [ "$1" = post ]; then
                n=$POSTS
                out=$("$BUILD/bench/komek-httpload" "$port" "$CONC" "$n" "$key")
        else
                n=$((POSTS * 2))
                out=$("$BUILD/bench/komek-httpload" "$port" "$CONC" "$n" - /services.json)
        fi
        echo "$out"
        awk -v g="$(($(ticks "$gw_pid") - g0))" -v b="$(($(ticks "$broker") - b0))" \
                -v p="$(($(ticks $(pg_procs)) - p0))" -v n="$n" -v hz="$HZ" \
                'BEGIN { printf "%.1f %.1f %.1f\n", g * 1e6 / hz / n, b * 1e6 / hz / n, p * 1e6 / hz / n }'
}
for k in $(seq "$ROUNDS"); do
        for who in post get; do
                { read -r out; read -r gus bus pus; } < <(window "$who")
                printf "  round %d %-4s %s; CPU per request: gateway %s us, broker %s us, postgres %s us\n" \
                        "$k" "$who" "$out" "$gus" "$bus" "$pus"
                field rps "$out" >>"$work/rps.$who"
                field p50_ms "$out" >>"$work/p50.$who"
                field p99_ms "$out" >>"$work/p99.$who"
                if [ "$(field errors "$out")" != 0 ]; then
                        echo "gateway bench: $who round $k had errors: $out" >&2
                fi
                echo "$gus" >>"$work/gus.$who"
                echo "$bus" >>"$work/bus.$who"
                echo "$pus" >>"$work/pus.$who"
        done
        awk -v a="$(tail -1 "$work/rps.post")" -v b="$(tail -1 "$work/rps.get")" 'BEGIN { print a / b }' >>"$work/ratio"
done
load1=$(cut -d' ' -f1-3 /proc/loadavg)
echo "gateway GET /requests.json (1000 newest), concurrency $CONC: $("$BUILD/bench/komek-httpload" "$port" "$CONC" $((CONC * 4)) - /requests.json)"
gw_rss=$(awk '/^VmHWM/ {print $2}' "/proc/$gw_pid/status") # peak RSS
kill -TERM "$gw_pid"
wait "$gw_pid"
gw_pid=
r=$(median <"$work/ratio")
printf "gateway POST vs GET /services, concurrency %d: medians POST %s req/s (p50 %s ms, p99 %s ms; CPU gateway %s, broker %s, postgres %s us/req), GET %s req/s (p99 %s ms; gateway %s us/req); ratios %s-> median %s (target 0.25, POST p99 <= 50 ms)\n" \
        "$CONC" "$(median <"$work/rps.post")" "$(median <"$work/p50.post")" "$(median <"$work/p99.post")" \
        "$(median <"$work/gus.post")" "$(median <"$work/bus.post")" "$(median <"$work/pus.post")" \
        "$(median <"$work/rps.get")" "$(median <"$work/p99.get")" "$(median <"$work/gus.get")" \
        "$(tr '\n' ' ' <"$work/ratio")" "$r"
# machine-readable (bench/run.sh)
echo "bench: gateway.post_req_s $(median <"$work/rps.post") req/s"
echo "bench: gateway.post_p99_ms $(median <"$work/p99.post") ms"
echo "bench: gateway.services_req_s $(median <"$work/rps.get") req/s"
echo "bench: gateway.ratio_median $r x"
echo "bench: cpu.gateway.post.komek-gateway $(median <"$work/gus.post") us/req"
echo "bench: cpu.gateway.post.postgres $(median <"$work/pus.post") us/req"
echo "bench: cpu.gateway.post.broker $(median <"$work/bus.post") us/req"
echo "bench: cpu.gateway.services.komek-gateway $(median <"$work/gus.get") us/req"
echo "bench: rss.komek-gateway $gw_rss kB"
echo "load average: before $load0, after $load1 (2 cores shared with the broker and PostgreSQL)"
