#!/usr/bin/env bash
# tests/ops/test_scaleout.sh - komek across three "hosts" made of network
# namespaces joined by a bridge (10.77.0.0/24, reachable from nowhere else):
#   komek-sb-PID  10.77.0.1  a private Kafka 3.9.2 broker and a private
#                            PostgreSQL; the test drives everything from here
#   komek-s1-PID  10.77.0.2  two komek-router and two komek-analytics
#   komek-s2-PID  10.77.0.3  two komek-router and two komek-analytics
# Half of a generated complaint set is published, the eight workers share
# the partitions (routers: complaints; analytics: dispatch), then host 1's
# workers are SIGKILLed, the other half is published, and the test checks
# that host 2 owns every partition of both consumer groups (librdkafka's
# DescribeConsumerGroups, tests/ops/groups.c) and that nothing was lost or
# doubled: on the dispatch topic (read_committed) every complaint published
# once is exactly one message, a complaint published k times (the set's
# resubmissions) 1..k messages (the router drops a resubmission it has
# seen; one arriving while a killed host's partitions move may pass again:
# docs/routing.md), and the analytics facts are exactly one row per
# distinct complaint id.  Every worker's exit status is checked: no worker
# exits by itself, host 1's die of the SIGKILL (137), host 2's exit 0 on
# SIGTERM within 30 s.
# Needs root (ip netns, initdb as the postgres user).  An EXIT trap kills
# every process in the namespaces and deletes them.  ~35 s.
# Prints "N passed, N failed".
set -uo pipefail

ROOT=${KOMEK_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)}
BIN=${KOMEK_BIN:-$ROOT/bin}
LIB=$ROOT/.run/kafka/lib
LOG4J=$ROOT/deploy/kafka/log4j.properties
unset KOMEK_BROKERS KOMEK_PG_CONNINFO KOMEK_PG_TEST_CONNINFO KOMEK_CONFIG

passed=0 failed=0
ok() { echo "ok    $*"; passed=$((passed + 1)); }
bad() { echo "FAIL  $*"; failed=$((failed + 1)); }
finish() { echo "$passed passed, $failed failed"; [ "$failed" -eq 0 ]; exit $?; }

NSB=komek-sb-$$ NS1=komek-s1-$$ NS2=komek-s2-$$
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5,5nr | head -1)
TMP="" PGHOME=""

cleanup() {
        local ns
        for ns in "$NS1" "$NS2" "$NSB"; do
                ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
        done
        for ns in "$NS1" "$NS2" "$NSB"; do
                for _ in $(seq 1 50); do
                        [ -z "$(ip netns pids "$ns" 2>/dev/null)" ] && break
                        sleep 0.1
                done
                ip netns del "$ns" 2>/dev/null
        done
        [ -n "$PGHOME" ] && rm -rf "$PGHOME"
        if [ -n "$TMP" ] && [ -n "${KOMEK_OPS_KEEP:-}" ]; then
                echo "kept $TMP"
        elif [ -n "$TMP" ]; then
                rm -rf "$TMP"
        fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "$(id -u)" -ne 0 ] || ! command -v ip >/dev/null || [ -z "$PGBIN" ]; then
        bad "scale-out test cannot run here: needs root, iproute2 (deploy/deps.sh) and PostgreSQL server binaries"
        finish
fi
for p in admin router analytics directory gen intake; do
        [ -x "$BIN/komek-$p" ] || { bad "missing $BIN/komek-$p"; finish; }
done
GRPTOOL=$ROOT/build/tests/ops/komek-groups # a helper (tests/ops/groups.c)
[[ $BIN == */build-asan/bin ]] && GRPTOOL=$ROOT/build-asan/tests/ops/komek-groups
[ -x "$GRPTOOL" ] || { bad "missing $GRPTOOL (make all)"; finish; }
TMP=$(mktemp -d /tmp/komek-ops-scale.XXXXXX)
inb() { ip netns exec "$NSB" "$@"; } # run on the broker host

# ---- the three hosts -----------------------------------------------------------
if ! (
        for ns in "$NSB" "$NS1" "$NS2"; do
                ip netns add "$ns" && ip -n "$ns" link set lo up || exit 1
        done
        ip -n "$NSB" link add kbr0 type bridge &&
                ip -n "$NSB" addr add 10.77.0.1/24 dev kbr0 &&
                ip -n "$NSB" link set kbr0 up || exit 1
        for i in 1 2; do
                ns=$NS1
                [ "$i" = 2 ] && ns=$NS2
                ip link add "kv$i-$$" type veth peer name "kp$i-$$" &&
                        ip link set "kv$i-$$" netns "$ns" &&
                        ip link set "kp$i-$$" netns "$NSB" &&
                        ip -n "$NSB" link set "kp$i-$$" master kbr0 up &&
                        ip -n "$ns" addr add "10.77.0.$((i + 1))/24" dev "kv$i-$$" &&
                        ip -n "$ns" link set "kv$i-$$" up || exit 1
        done
) >"$TMP/net.log" 2>&1; then
        bad "network namespaces: $(cat "$TMP/net.log")"
        finish
fi
# ---- broker and database on host b ------------------------------------------------
cat >"$TMP/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@10.77.0.1:9093
listeners=PLAINTEXT://10.77.0.1:9092,CONTROLLER://10.77.0.1:9093
advertised.listeners=PLAINTEXT://10.77.0.1:9092
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$TMP/kafka-data
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
group.initial.rebalance.delay.ms=0
# a dead router's open transaction is aborted soon after its timeout
transaction.abort.timed.out.transaction.cleanup.interval.ms=1000
EOF
JAVA=(java -Xmx256m -Xms64m -XX:+UseSerialGC -XX:TieredStopAtLevel=1
        -Djava.awt.headless=true -Dlog4j.configuration="file:$LOG4J" -cp "$LIB/*")
"${JAVA[@]}" kafka.tools.StorageTool format -t "$("${JAVA[@]}" kafka.tools.StorageTool \
        random-uuid 2>/dev/null | tail -1)" -c "$TMP/server.properties" \
        >"$TMP/format.log" 2>&1 || { bad "format: $(tail -3 "$TMP/format.log")"; finish; }
inb "${JAVA[@]}" kafka.Kafka "$TMP/server.properties" </dev/null >"$TMP/broker.log" 2>&1 &
disown $!

PGHOME=$(mktemp -d /tmp/komek-ops-scalepg.XXXXXX)
chown postgres: "$PGHOME"
chmod 700 "$PGHOME"
(cd / && runuser -u postgres -- "$PGBIN/initdb" -D "$PGHOME/data" -U postgres -E UTF8 \
        --locale=C --auth-local=reject --auth-host=trust >"$TMP/initdb.log" 2>&1) ||
        { bad "initdb: $(tail -3 "$TMP/initdb.log")"; finish; }
echo "host all all 10.77.0.0/24 trust" | runuser -u postgres -- tee "$PGHOME/data/pg_hba.conf" >/dev/null
(cd / && inb runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGHOME/data" -l "$PGHOME/log" -w -t 30 \
        -o "-p 5432 -c listen_addresses=10.77.0.1 -c unix_socket_directories='' -c fsync=off \
-c shared_buffers=32MB -c max_connections=40" start >"$TMP/pgctl.log" 2>&1) ||
        { bad "pg_ctl: $(tail -3 "$PGHOME/log")"; finish; }
inb psql -X -q -v ON_ERROR_STOP=1 "host=10.77.0.1 port=5432 user=postgres dbname=postgres" \
        -c "CREATE ROLE komek LOGIN" -c "CREATE DATABASE komek OWNER komek" >"$TMP/psql.log" 2>&1 ||
        { bad "create database: $(cat "$TMP/psql.log")"; finish; }
# the group roles and one login per program, as `make up` makes them: deploy/pg.sh's
# own SQL (tests/faults/faults.py reads it), so the two cannot drift
FAULTS_PY=(python3 -c 'import sys; sys.path.insert(0, sys.argv[1]); import faults; sys.stdout.write(
    faults.pg_sh_roles_sql() if sys.argv[2] == "sql" else "".join(
        "%s = { pg_user = \"%s\"; };\n" % kv for kv in sorted(faults.pg_users().items())))' "$ROOT/tests/faults")
"${FAULTS_PY[@]}" sql | inb psql -X -q -v ON_ERROR_STOP=1 "host=10.77.0.1 port=5432 user=postgres dbname=postgres" \
        >"$TMP/roles.log" 2>&1 || { bad "roles: $(tail -3 "$TMP/roles.log")"; finish; }
PSQL=(inb psql -X -At "host=10.77.0.1 port=5432 dbname=komek user=komek")

start=$SECONDS
until inb kcat -b 10.77.0.1:9092 -L -m 2 2>/dev/null | grep -q "broker 1 at 10.77.0.1:9092"; do
        if ((SECONDS - start > 60)); then
                bad "broker did not come up: $(grep -E 'ERROR|Exception' "$TMP/broker.log" | tail -3)"
                finish
        fi
        sleep 0.3
done
ok "broker and PostgreSQL up on host b after $((SECONDS - start)) s"
if ip netns exec "$NS1" kcat -b 10.77.0.1:9092 -L -m 5 2>/dev/null | grep -q "broker 1 at" &&
        ip netns exec "$NS2" kcat -b 10.77.0.1:9092 -L -m 5 2>/dev/null | grep -q "broker 1 at"; then
        ok "hosts 1 and 2 reach the broker at 10.77.0.1 over the bridge"
else
        bad "hosts 1 and 2 cannot reach 10.77.0.1"
        finish
fi

cat >"$TMP/komek.conf" <<EOF
kafka = { bootstrap_servers = "10.77.0.1:9092"; };
pg = { conninfo = "host=10.77.0.1 port=5432 dbname=komek user=komek"; };
admin = { sql_dir = "$ROOT/deploy/sql"; };
intake = { progress = false; };
EOF
# each program logs in as its own role, as deploy/komek.conf says (<prog>.pg_user)
"${FAULTS_PY[@]}" conf >>"$TMP/komek.conf"
C=(--config "$TMP/komek.conf")
inb "$BIN/komek-admin" "${C[@]}" --log-level warn all >"$TMP/admin.log" 2>&1 &&
        inb "$BIN/komek-gen" --out "$TMP/data" --seed 11 --buildings 300 --ksks 20 \
                --complaints 3000 --days 300 --bad-rate 0 >"$TMP/gen.log" 2>&1 &&
        inb "$BIN/komek-directory" "${C[@]}" --prune import "$TMP/data" >"$TMP/dir.log" 2>&1 ||
        { bad "setup: $(tail -3 "$TMP"/admin.log "$TMP"/gen.log "$TMP"/dir.log)"; finish; }
total=$(wc -l <"$TMP/data/complaints.jsonl")
head -n $((total / 2)) "$TMP/data/complaints.jsonl" >"$TMP/part1.jsonl"
tail -n +$((total / 2 + 1)) "$TMP/data/complaints.jsonl" >"$TMP/part2.jsonl"
inb "$BIN/komek-intake" "${C[@]}" "$TMP/part1.jsonl" >"$TMP/intake1.log" 2>&1 ||
        { bad "intake part 1: $(tail -3 "$TMP/intake1.log")"; finish; }

# ---- the workers: two routers and two analytics per host ----------------------
worker() { # ns name prog args...: its exit status lands in $TMP/name.rc
        local ns=$1 name=$2
        shift 2
        (
                ip netns exec "$ns" "$BIN/komek-$1" "${C[@]}" "${@:2}" -X session.timeout.ms=6000 \
                        >"$TMP/$name.log" 2>&1
                echo $? >"$TMP/$name.rc"
        ) 2>/dev/null & # the subshell's own "Killed" notice: the kill is the test
        disown $!
}
WORKERS=()
exited() { # names of the given workers that have exited (with status)
        local w
        for w in "$@"; do
                [ -f "$TMP/$w.rc" ] && echo "$w=$(cat "$TMP/$w.rc")"
        done
}
wait_rc() { # seconds workers...: wait until each has exited
        local limit=$((SECONDS + $1)) w
        shift
        for w in "$@"; do
                while [ ! -f "$TMP/$w.rc" ] && ((SECONDS < limit)); do sleep 0.2; done
        done
}
for h in 1 2; do
        ns=$NS1
        [ "$h" = 2 ] && ns=$NS2
        for n in 1 2; do
                worker "$ns" "router-$h$n" router --set "router.transactional_id=scale-rt-$h$n" \
                        --set router.batch_size=100 --set router.batch_ms=100 \
                        -X transaction.timeout.ms=10000
                worker "$ns" "analytics-$h$n" analytics --set analytics.batch_ms=100
                WORKERS+=("router-$h$n" "analytics-$h$n")
        done
done

describe() { # group topic -> "count host" for members holding partitions of topic
        inb "$GRPTOOL" 10.77.0.1:9092 "$1" "$2" 2>>"$TMP/describe.log" |
                awk '{c[$1] += $2} END {for (h in c) if (c[h] > 0) print c[h], h}' | sort
}
dispatched() { # committed dispatch messages
        inb kcat -b 10.77.0.1:9092 -C -t dispatch -o beginning -e -q \
                -X isolation.level=read_committed -f '%s\n' 2>/dev/null | grep -c .
}

deadline=$((SECONDS + 60))
while :; do
        r=$(describe komek-router complaints) a=$(describe komek-analytics dispatch)
        if grep -q 10.77.0.2 <<<"$r" && grep -q 10.77.0.3 <<<"$r" &&
                grep -q 10.77.0.2 <<<"$a" && grep -q 10.77.0.3 <<<"$a" &&
                [ "$(dispatched)" -gt 0 ]; then
                break
        fi
        if ((SECONDS > deadline)); then
                bad "workers on both hosts never shared the partitions: router [$r] analytics [$a]"
                finish
        fi
        sleep 1
done
ok "both hosts work: routers [$(echo $r)], analytics [$(echo $a)]"
logins=$("${PSQL[@]}" -F ' ' -c "SELECT application_name, usename, count(*) FROM pg_stat_activity
        WHERE application_name LIKE 'komek-%' GROUP BY 1, 2 ORDER BY 1, 2")
if [ "$(awk '$1 ~ /^komek-router/ && $2 == "komek_router_app" {n += $3} END {print n + 0}' <<<"$logins")" -ge 4 ] &&
        [ "$(awk '$1 ~ /^komek-analytics/ && $2 == "komek_analytics_app" {n += $3} END {print n + 0}' <<<"$logins")" -ge 4 ] &&
        ! awk '$2 !~ /_app$/ {bad = 1} END {exit !bad}' <<<"$logins"; then
        ok "the workers log in as their own roles: $(echo $logins)"
else
        bad "the workers' logins (want komek_router_app, komek_analytics_app; none as the owner): $(echo $logins)"
fi
gone=$(exited "${WORKERS[@]}")
[ -z "$gone" ] || bad "workers exited by themselves before the kill: $(echo $gone)"

# ---- host 1 dies while the second half is being routed ---------------------------
inb "$BIN/komek-intake" "${C[@]}" "$TMP/part2.jsonl" >"$TMP/intake2.log" 2>&1 ||
        { bad "intake part 2: $(tail -3 "$TMP/intake2.log")"; finish; }
gone=$(exited "${WORKERS[@]}")
[ -z "$gone" ] || bad "workers exited by themselves before the kill: $(echo $gone)"
ip netns pids "$NS1" | xargs -r kill -KILL
at_kill=$(dispatched)
echo "info  host 1 killed with $at_kill of $total complaints dispatched"
published=$(inb kcat -b 10.77.0.1:9092 -C -t complaints -o beginning -e -q -f '%s\n' 2>/dev/null |
        tee "$TMP/complaints.out" | grep -c .)
distinct=$(jq -r .id "$TMP/complaints.out" | sort -u | wc -l)
[ "$published" -eq "$total" ] || bad "published $published of $total complaints"

deadline=$((SECONDS + 90))
while :; do
        d=$(dispatched)
        f=$("${PSQL[@]}" -c "SELECT count(*) FROM an_complaints" 2>/dev/null)
        [ "$d" -ge "$distinct" ] && [ "${f:-0}" -ge "$distinct" ] && break
        if ((SECONDS > deadline)); then
                break
        fi
        sleep 1
done
# the groups settle after the rebalance (a describe in the middle of one
# shows no assignment): polled against a deadline
deadline=$((SECONDS + 60))
while :; do
        r=$(describe komek-router complaints) a=$(describe komek-analytics dispatch)
        [ "$(echo $r)" = "6 /10.77.0.3" ] && [ "$(echo $a)" = "6 /10.77.0.3" ] && break
        ((SECONDS > deadline)) && break
        sleep 1
done
if [ "$(echo $r)" = "6 /10.77.0.3" ] && [ "$(echo $a)" = "6 /10.77.0.3" ]; then
        ok "host 2 took over every partition of complaints (routers and analytics)"
else
        bad "after the kill: router [$(echo $r)], analytics [$(echo $a)]"
fi

inb kcat -b 10.77.0.1:9092 -C -t dispatch -o beginning -e -q \
        -X isolation.level=read_committed -f '%s\n' 2>/dev/null >"$TMP/dispatch.out"
d=$(grep -c . "$TMP/dispatch.out")
dd=$(jq -r .complaint_id "$TMP/dispatch.out" | sort -u | wc -l)
# Complaint by complaint: published k times, dispatched 1..k times, and a
# complaint published once exactly once (docs/routing.md, Resubmissions:
# only a resubmission arriving while a killed host's partitions move may
# be dispatched again; the sink and analytics deduplicate on the id).
jq -r .id "$TMP/complaints.out" | sort | uniq -c | awk '{print $2, $1}' >"$TMP/pub.cnt"
jq -r .complaint_id "$TMP/dispatch.out" | sort | uniq -c | awk '{print $2, $1}' >"$TMP/disp.cnt"
read -r lost once_twice resub_over stray < <(awk '
        FNR == NR { pub[$1] = $2; next }
        { disp[$1] = $2 }
        END {
                for (id in pub) {
                        n = (id in disp) ? disp[id] : 0
                        if (n == 0) lost++
                        else if (pub[id] == 1 && n > 1) once++
                        else if (n > pub[id]) over++
                }
                for (id in disp) if (!(id in pub)) stray++
                print lost + 0, once + 0, over + 0, stray + 0
        }' "$TMP/pub.cnt" "$TMP/disp.cnt")
resub=$(awk '$2 > 1' "$TMP/pub.cnt" | wc -l)
if [ "$dd" -eq "$distinct" ] && [ "$lost" -eq 0 ] && [ "$once_twice" -eq 0 ] &&
        [ "$resub_over" -eq 0 ] && [ "$stray" -eq 0 ]; then
        ok "dispatch: $d messages for $published published ($distinct distinct, $resub resubmitted): each complaint published once dispatched exactly once, each resubmitted one 1..k times"
else
        bad "dispatch: $d messages ($dd distinct of $distinct): lost $lost, published once but dispatched twice $once_twice, more often than published $resub_over, not published $stray"
fi
u=$(inb kcat -b 10.77.0.1:9092 -C -t dispatch -o beginning -e -q \
        -X isolation.level=read_uncommitted -f '%s\n' 2>/dev/null | grep -c .)
echo "info  $((u - d)) dispatch message(s) of cut transactions in the log, never visible to read_committed"
f=$("${PSQL[@]}" -c "SELECT count(*) FROM an_complaints")
if [ "$f" -eq "$distinct" ]; then
        ok "analytics: $f complaint facts for $distinct distinct complaints"
else
        bad "analytics: $f complaint facts, want $distinct"
fi

# host 1's workers died of the SIGKILL, not before it
H1=(router-11 router-12 analytics-11 analytics-12)
H2=(router-21 router-22 analytics-21 analytics-22)
wait_rc 30 "${H1[@]}"
rc1=$(exited "${H1[@]}")
if [ "$(grep -c '=137$' <<<"$rc1")" -eq 4 ]; then
        ok "host 1's four workers died of the SIGKILL (exit 137)"
else
        bad "host 1's workers: $(echo $rc1) (want each =137)"
fi
gone=$(exited "${H2[@]}")
[ -z "$gone" ] || bad "host 2's workers exited by themselves: $(echo $gone)"

# host 2 stops cleanly on SIGTERM
pids=$(ip netns pids "$NS2")
kill -TERM $pids 2>/dev/null
wait_rc 30 "${H2[@]}"
rc2=$(exited "${H2[@]}")
ERR=' error: |ERROR: [A-Za-z]*Sanitizer|runtime error'
if [ "$(grep -c '=0$' <<<"$rc2")" -eq 4 ] && [ -z "$(ip netns pids "$NS2")" ] &&
        ! grep -qE "$ERR" "$TMP"/router-2?.log "$TMP"/analytics-2?.log; then
        ok "host 2's workers exited 0 on SIGTERM within 30 s without an error line"
else
        bad "host 2 on SIGTERM: exits [$(echo $rc2)] (want each =0); $(grep -hE "$ERR" "$TMP"/*-2?.log | head -3)"
fi
finish
