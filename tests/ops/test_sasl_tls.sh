#!/usr/bin/env bash
# tests/ops/test_sasl_tls.sh - komek over Kafka SASL_SSL (SCRAM-SHA-512) and
# PostgreSQL sslmode=verify-full, configured only through komek.conf.
#
# Makes a throw-away test CA and server certificate (CN=localhost, SAN
# DNS:localhost, IP:127.0.0.1) with openssl, then starts
#   - a second, private Kafka 3.9.2 broker (KRaft, jars from .run/kafka/lib)
#     with a SASL_SSL listener; user komek is created at format time with
#     StorageTool --add-scram; the controller and inter-broker listeners are
#     PLAINTEXT on loopback;
#   - a private PostgreSQL cluster (initdb as the postgres user) with
#     ssl=on and pg_hba "hostssl ... scram-sha-256" only;
# and checks: komek-admin topics, a kcat round trip, komek-intake publishing,
# komek-admin migrate with verify-full; a wrong Kafka password, an untrusted
# broker CA and a wrong PostgreSQL root certificate each end quickly with a
# non-zero exit and one clear error line.  Everything it started is stopped
# by an EXIT trap, temporary files removed.  Prints "N passed, N failed".
set -uo pipefail

ROOT=${KOMEK_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)}
BIN=${KOMEK_BIN:-$ROOT/bin}
LIB=$ROOT/.run/kafka/lib
LOG4J=$ROOT/deploy/kafka/log4j.properties
# The programs must read only our komek.conf: drop the dev environment.
unset KOMEK_BROKERS KOMEK_PG_CONNINFO KOMEK_PG_TEST_CONNINFO KOMEK_CONFIG

passed=0 failed=0
ok() { echo "ok    $*"; passed=$((passed + 1)); }
bad() { echo "FAIL  $*"; failed=$((failed + 1)); }
finish() { echo "$passed passed, $failed failed"; [ "$failed" -eq 0 ]; exit $?; }

TMP=$(mktemp -d /tmp/komek-ops-sasl.XXXXXX)
PGHOME="" KAFKA_PID="" PG_STARTED=""
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5,5nr | head -1)

cleanup() {
        if [ -n "$KAFKA_PID" ] && kill -0 "$KAFKA_PID" 2>/dev/null; then
                kill -TERM "$KAFKA_PID" 2>/dev/null
                for _ in $(seq 1 100); do
                        kill -0 "$KAFKA_PID" 2>/dev/null || break
                        sleep 0.2
                done
                kill -KILL "$KAFKA_PID" 2>/dev/null
                wait "$KAFKA_PID" 2>/dev/null
        fi
        if [ -n "$PG_STARTED" ]; then
                (cd / && runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGHOME/data" \
                        -m immediate -w -t 20 stop >/dev/null 2>&1)
        fi
        [ -n "$PGHOME" ] && rm -rf "$PGHOME"
        rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Four free ports: SASL_SSL, inter-broker, controller, PostgreSQL.
BASE=""
for b in $(seq 19192 10 19392); do
        if ! port_busy "$b" && ! port_busy $((b + 1)) && ! port_busy $((b + 2)) &&
                ! port_busy $((b + 3)); then
                BASE=$b
                break
        fi
done
[ -n "$BASE" ] || { bad "no four free ports in 19192..19395"; finish; }
KPORT=$BASE IPORT=$((BASE + 1)) CPORT=$((BASE + 2)) PGPORT=$((BASE + 3))
BROKER=127.0.0.1:$KPORT
SECRET="komek-scram-$$-$RANDOM"
T="komek-test-ops-$$-$(date +%s)" # topic prefix

for f in "$BIN/komek-admin" "$LIB/kafka_2.13-3.9.2.jar"; do
        [ -e "$f" ] || { bad "missing $f (make; bash deploy/deps.sh)"; finish; }
done

# ---- test CA and certificates ------------------------------------------------
mkcert() { # dir name: a CA in dir/name-ca.*, a server cert signed by it
        local d=$1 n=$2
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
                -keyout "$d/$n-ca.key" -out "$d/$n-ca.pem" -days 2 \
                -subj "/CN=komek $n test CA" \
                -addext "basicConstraints=critical,CA:TRUE" \
                -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null &&
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
                -keyout "$d/$n-server.key" -out "$d/$n-server.csr" \
                -subj "/CN=localhost" 2>/dev/null &&
        printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1" \
                "basicConstraints=CA:FALSE" \
                "keyUsage=digitalSignature,keyEncipherment" \
                "extendedKeyUsage=serverAuth" >"$d/$n-ext.cnf" &&
        openssl x509 -req -in "$d/$n-server.csr" -CA "$d/$n-ca.pem" \
                -CAkey "$d/$n-ca.key" -CAcreateserial -days 2 \
                -extfile "$d/$n-ext.cnf" -out "$d/$n-server.crt" 2>/dev/null
}
if mkcert "$TMP" test && mkcert "$TMP" other; then
        ok "test CA and broker certificate made with openssl"
else
        bad "openssl could not make the test CA"
        finish
fi
cat "$TMP/test-server.key" "$TMP/test-server.crt" >"$TMP/broker.pem"

# ---- private SASL_SSL broker -----------------------------------------------------
cat >"$TMP/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CPORT
listeners=SASL_SSL://127.0.0.1:$KPORT,INTERNAL://127.0.0.1:$IPORT,CONTROLLER://127.0.0.1:$CPORT
advertised.listeners=SASL_SSL://127.0.0.1:$KPORT,INTERNAL://127.0.0.1:$IPORT
inter.broker.listener.name=INTERNAL
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,INTERNAL:PLAINTEXT,SASL_SSL:SASL_SSL
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
ssl.keystore.type=PEM
ssl.keystore.location=$TMP/broker.pem
log.dirs=$TMP/kafka-data
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
group.initial.rebalance.delay.ms=0
EOF
JAVA=(java -Xmx256m -Xms64m -XX:+UseSerialGC -XX:TieredStopAtLevel=1
        -Djava.awt.headless=true -Dlog4j.configuration="file:$LOG4J" -cp "$LIB/*")
if "${JAVA[@]}" kafka.tools.StorageTool format -t "$("${JAVA[@]}" \
        kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1)" \
        -c "$TMP/server.properties" \
        --add-scram "SCRAM-SHA-512=[name=komek,password=$SECRET]" \
        >"$TMP/format.log" 2>&1; then
        ok "storage formatted with SCRAM-SHA-512 user komek"
else
        bad "StorageTool format failed: $(tail -3 "$TMP/format.log")"
        finish
fi
"${JAVA[@]}" kafka.Kafka "$TMP/server.properties" </dev/null >"$TMP/broker.log" 2>&1 &
KAFKA_PID=$!

cat >"$TMP/kcat.conf" <<EOF
security.protocol=SASL_SSL
sasl.mechanisms=SCRAM-SHA-512
sasl.username=komek
sasl.password=$SECRET
ssl.ca.location=$TMP/test-ca.pem
EOF
start=$SECONDS
until kcat -F "$TMP/kcat.conf" -b "$BROKER" -L -m 2 2>/dev/null |
        grep -q "broker 1 at 127.0.0.1:$KPORT"; do
        if ! kill -0 "$KAFKA_PID" 2>/dev/null || ((SECONDS - start > 60)); then
                bad "SASL_SSL broker did not come up: $(grep -E 'ERROR|Exception' "$TMP/broker.log" | tail -3)"
                finish
        fi
        sleep 0.3
done
ok "SASL_SSL broker answers on $BROKER after $((SECONDS - start)) s"

# ---- komek programs, configured only by komek.conf ------------------------------
cat >"$TMP/komek.conf" <<EOF
kafka = {
  bootstrap_servers = "$BROKER";
  security_protocol = "SASL_SSL";
  sasl_mechanisms = "SCRAM-SHA-512";
  sasl_username = "komek";
  sasl_password = "$SECRET";
  ssl_ca_location = "$TMP/test-ca.pem";
  ssl_endpoint_identification_algorithm = "https";
};
topics = {
  complaints = "$T-complaints"; complaints_partitions = 3;
  dlq = "$T-dlq"; dispatch = "$T-dispatch"; task_events = "$T-task-events";
  votes = "$T-votes"; escalations = "$T-escalations";
};
admin = { timeout_ms = 10000; };
EOF
C="$TMP/komek.conf"

# run_bounded SECS OUT CMD...: run with a time limit; sets rc and secs.
run_bounded() {
        local limit=$1 out=$2
        shift 2
        local t0=$SECONDS
        timeout -k 5 "$limit" "$@" >"$out" 2>&1
        rc=$? secs=$((SECONDS - t0))
}

run_bounded 60 "$TMP/topics.log" "$BIN/komek-admin" --config "$C" topics
md=$(kcat -F "$TMP/kcat.conf" -b "$BROKER" -L -t "$T-complaints" -m 5 2>/dev/null)
if [ "$rc" -eq 0 ] && grep -q "topic \"$T-complaints\" with 3 partitions" <<<"$md"; then
        ok "komek-admin topics over SASL_SSL created $T-complaints (3 partitions)"
else
        bad "komek-admin topics: exit $rc: $(tail -3 "$TMP/topics.log")"
fi

printf 'k1:one\nk2:two\nk3:три\n' |
        kcat -F "$TMP/kcat.conf" -b "$BROKER" -P -K: -t "$T-votes" 2>"$TMP/kcat-p.log"
got=$(kcat -F "$TMP/kcat.conf" -b "$BROKER" -C -t "$T-votes" -o beginning -e \
        -f '%k=%s\n' -m 20 2>/dev/null | sort | tr '\n' ' ')
if [ "$got" = "k1=one k2=two k3=три " ]; then
        ok "kcat produce/consume round trip over SASL_SSL"
else
        bad "kcat round trip: got '$got' ($(cat "$TMP/kcat-p.log"))"
fi

if [ -x "$BIN/komek-intake" ]; then
        for i in 1 2 3; do
                printf '{"source":"call109","external_id":"ops-%s","received_at":"2025-01-10T08:00:00Z","category":"heating","description":"Нет отопления","address":{"text":"ул. Кенесары 12"}}\n' "$i"
        done >"$TMP/in.jsonl"
        run_bounded 60 "$TMP/intake.log" "$BIN/komek-intake" --config "$C" "$TMP/in.jsonl"
        n=$(kcat -F "$TMP/kcat.conf" -b "$BROKER" -C -t "$T-complaints" -o beginning -e \
                -m 20 2>/dev/null | grep -c '"schema_version":1')
        if [ "$rc" -eq 0 ] && [ "$n" -eq 3 ]; then
                ok "komek-intake published 3 complaints over SASL_SSL"
        else
                bad "komek-intake: exit $rc, $n complaints on the topic: $(tail -3 "$TMP/intake.log")"
        fi
else
        bad "komek-intake not built (make all builds it)"
fi

# One clear error line: exactly one line at level error, naming the cause.
ERRLINE='^[^ ]+ komek-[a-z]+\[[0-9]+\] error: '
one_error_line() { # log pattern
        local n
        n=$(grep -cE "$ERRLINE" "$1")
        [ "$n" -eq 1 ] && grep -E "$ERRLINE" "$1" | grep -q "$2"
}

run_bounded 30 "$TMP/wrongpw.log" "$BIN/komek-admin" --config "$C" \
        -X sasl.password=wrong-password topics
if [ "$rc" -eq 1 ] && [ "$secs" -le 15 ] &&
        one_error_line "$TMP/wrongpw.log" "broker authentication failed: .*invalid credentials"; then
        ok "wrong password: exit 1 after ${secs}s with one error line"
else
        bad "wrong password: exit $rc after ${secs}s: $(cat "$TMP/wrongpw.log")"
fi

run_bounded 30 "$TMP/wrongca.log" "$BIN/komek-admin" --config "$C" \
        -X "ssl.ca.location=$TMP/other-ca.pem" topics
if [ "$rc" -eq 1 ] && [ "$secs" -le 15 ] &&
        one_error_line "$TMP/wrongca.log" "broker certificate not trusted: .*certificate verify failed"; then
        ok "untrusted broker CA: exit 1 after ${secs}s with one error line"
else
        bad "untrusted broker CA: exit $rc after ${secs}s: $(cat "$TMP/wrongca.log")"
fi

if [ -x "$BIN/komek-intake" ]; then
        # XXX komek-intake waits out its delivery timeout before it stops;
        # the bound here is that timeout, not the first error.
        run_bounded 40 "$TMP/intake-wrongpw.log" "$BIN/komek-intake" --config "$C" \
                -X sasl.password=wrong-password --set intake.delivery_timeout_ms=3000 \
                "$TMP/in.jsonl"
        if [ "$rc" -eq 1 ] && grep -qi "authentication failed" "$TMP/intake-wrongpw.log"; then
                ok "komek-intake with a wrong password: exit 1 after ${secs}s"
        else
                bad "komek-intake wrong password: exit $rc after ${secs}s: $(tail -3 "$TMP/intake-wrongpw.log")"
        fi
fi

# JSON logs stay JSON, librdkafka's lines included.
run_bounded 30 "$TMP/json.log" "$BIN/komek-admin" --config "$C" --log-json \
        -X sasl.password=wrong-password topics
if [ "$rc" -eq 1 ] && [ -s "$TMP/json.log" ] &&
        jq -e -s 'all(.[]; has("time") and has("level") and has("program") and has("event") and has("msg"))' \
                "$TMP/json.log" >/dev/null 2>&1 &&
        jq -e -s 'any(.[]; .event == "librdkafka")' "$TMP/json.log" >/dev/null 2>&1; then
        ok "log.json: every stderr line is a JSON object, librdkafka's too"
else
        bad "log.json: $(head -3 "$TMP/json.log")"
fi

# ---- PostgreSQL sslmode=verify-full -----------------------------------------------
if [ "$(id -u)" -ne 0 ] || [ -z "$PGBIN" ] || ! id postgres >/dev/null 2>&1; then
        echo "skip  PostgreSQL TLS: needs root and a postgres OS user to run initdb"
        finish
fi
PGHOME=$(mktemp -d /tmp/komek-ops-pg.XXXXXX)
cp "$TMP/test-server.key" "$TMP/test-server.crt" "$PGHOME/"
echo "pg-super-$$-$RANDOM" >"$PGHOME/pw"
chown -R postgres: "$PGHOME"
chmod 700 "$PGHOME"
chmod 600 "$PGHOME/test-server.key"
if ! (cd / && runuser -u postgres -- "$PGBIN/initdb" -D "$PGHOME/data" -U postgres \
        -E UTF8 --locale=C --auth-local=reject --auth-host=scram-sha-256 \
        --pwfile="$PGHOME/pw" >"$TMP/initdb.log" 2>&1); then
        bad "initdb: $(tail -3 "$TMP/initdb.log")"
        finish
fi
echo "hostssl all all 127.0.0.1/32 scram-sha-256" |
        runuser -u postgres -- tee "$PGHOME/data/pg_hba.conf" >/dev/null
if (cd / && runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGHOME/data" -l "$PGHOME/log" \
        -w -t 30 -o "-p $PGPORT -c listen_addresses=127.0.0.1 -c unix_socket_directories='' \
-c ssl=on -c ssl_cert_file=$PGHOME/test-server.crt -c ssl_key_file=$PGHOME/test-server.key \
-c fsync=off -c shared_buffers=16MB -c max_connections=20 -c log_connections=on" \
        start >"$TMP/pgctl.log" 2>&1); then
        PG_STARTED=1
        ok "private PostgreSQL with ssl=on, hostssl only, on 127.0.0.1:$PGPORT"
else
        bad "pg_ctl start: $(tail -3 "$PGHOME/log" 2>/dev/null)"
        finish
fi
SUPER="host=localhost hostaddr=127.0.0.1 port=$PGPORT dbname=postgres user=postgres sslmode=verify-full sslrootcert=$TMP/test-ca.pem"
PGPW="pg-komek-$$-$RANDOM"
PGPASSWORD=$(cat "$PGHOME/pw") psql -X -q -v ON_ERROR_STOP=1 "$SUPER" \
        -c "CREATE ROLE komek LOGIN PASSWORD '$PGPW'" \
        -c "CREATE DATABASE komek OWNER komek" >"$TMP/psql.log" 2>&1 ||
        bad "create role and database: $(cat "$TMP/psql.log")"

CONN="host=localhost hostaddr=127.0.0.1 port=$PGPORT dbname=komek user=komek password=$PGPW sslmode=verify-full sslrootcert=$TMP/test-ca.pem"
cat >"$TMP/pg.conf" <<EOF
pg = { conninfo = "$CONN"; connect_timeout_s = 20; };
admin = { sql_dir = "$ROOT/deploy/sql"; };
EOF
run_bounded 60 "$TMP/migrate.log" "$BIN/komek-admin" --config "$TMP/pg.conf" migrate
n=$(psql -X -At "$CONN" -c "SELECT count(*) FROM schema_migrations" 2>/dev/null)
nfiles=$(ls "$ROOT"/deploy/sql/[0-9][0-9][0-9]_*.sql | wc -l)
if [ "$rc" -eq 0 ] && [ "$n" = "$nfiles" ] &&
        grep -q 'user=komek database=komek application_name=komek-admin SSL enabled' "$PGHOME/log"; then
        ok "komek-admin migrate over verify-full TLS applied $n migrations"
else
        bad "migrate verify-full: exit $rc, $n of $nfiles migrations: $(tail -3 "$TMP/migrate.log")"
fi

if ! psql -X -At "${CONN/sslmode=verify-full/sslmode=disable}" -c 'select 1' >/dev/null 2>&1; then
        ok "a connection without TLS is refused (hostssl only)"
else
        bad "a connection without TLS was accepted"
fi

run_bounded 40 "$TMP/wrongroot.log" "$BIN/komek-admin" --config "$TMP/pg.conf" \
        --set "pg.conninfo=${CONN/test-ca.pem/other-ca.pem}" migrate
if [ "$rc" -eq 1 ] && [ "$secs" -le 5 ] &&
        one_error_line "$TMP/wrongroot.log" "certificate verify failed"; then
        ok "wrong sslrootcert: exit 1 after ${secs}s with one error line"
else
        bad "wrong sslrootcert: exit $rc after ${secs}s: $(cat "$TMP/wrongroot.log")"
fi

run_bounded 40 "$TMP/wrongpgpw.log" "$BIN/komek-admin" --config "$TMP/pg.conf" \
        --set "pg.conninfo=${CONN/password=$PGPW/password=wrong}" migrate
if [ "$rc" -eq 1 ] && [ "$secs" -le 5 ] &&
        one_error_line "$TMP/wrongpgpw.log" "password authentication failed"; then
        ok "wrong database password: exit 1 after ${secs}s with one error line"
else
        bad "wrong database password: exit $rc after ${secs}s: $(cat "$TMP/wrongpgpw.log")"
fi

finish
