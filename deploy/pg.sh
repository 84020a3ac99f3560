#!/usr/bin/env bash
# deploy/pg.sh — PostgreSQL for komek: use the machine's server when one
# answers, otherwise run a private cluster under .run/.
#
# Usage: bash deploy/pg.sh up|down|status
#
#   up      If a private cluster of this tree already runs, use it. Else, if
#           pg_isready answers on $KOMEK_PG_HOST:$KOMEK_PG_PORT (default
#           127.0.0.1:5432), use that server. Else initdb (once) and start a
#           private cluster on 127.0.0.1, on the first free port from 55432.
#           Then, idempotently, create role komek (LOGIN), the databases
#           komek and komek_test owned by it, and the NOLOGIN group roles
#           komek_intake, komek_router, komek_tasksink, komek_analytics and
#           komek_analyst, komek_web, komek_inbox, komek_directory
#           (deploy/sql/090_roles.sql
#           grants to them; komek is a member, so tests can SET ROLE), one
#           LOGIN role per program in its group (komek_router_app,
#           komek_tasksink_app, komek_analytics_app, komek_escalator_app,
#           komek_gateway_app, komek_intake_app, komek_web_app,
#           komek_report_app, komek_inbox_app, komek_directory_app:
#           deploy/komek.conf's
#           <prog>.pg_user), and write
#           .run/pg.env with
#           KOMEK_PG_CONNINFO and KOMEK_PG_TEST_CONNINFO.
#   down    Stop the private cluster if this script started one. Never
#           touches the machine's shared server.
#   status  Say which server is in use; exit 0 if it answers, 3 if none.
#
# Environment: KOMEK_PG_HOST, KOMEK_PG_PORT (the shared server to try),
# KOMEK_PG_SUPERUSER (default postgres; connected to with trust auth, or
# through the local socket as the postgres OS user when run as root).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd -P)

HOST=${KOMEK_PG_HOST:-127.0.0.1}
PORT=${KOMEK_PG_PORT:-5432}
SUPER=${KOMEK_PG_SUPERUSER:-postgres}
FIRST_PRIVATE_PORT=55432
START_TIMEOUT=60

STATE="$ROOT/.run/pg"       # our bookkeeping (root-owned is fine)
CLUSTER_REF="$STATE/cluster" # holds the path of the private cluster's home
ENVF="$ROOT/.run/pg.env"

say() { echo "pg: $*"; }
die() { echo "pg: $*" >&2; exit 1; }

pg_bindir() {
  local d
  # Newest installed major version first.
  for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -t/ -k5,5nr); do
    if [[ -x $d/initdb && -x $d/pg_ctl ]]; then
      echo "$d"
      return 0
    fi
  done
  if command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
    dirname "$(command -v pg_ctl)"
    return 0
  fi
  return 1
}

isready() { pg_isready -q -h "$1" -p "$2" -t 2 >/dev/null 2>&1; }

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Run a command as the postgres OS user when we are root (initdb and the
# server refuse to run as root); as ourselves otherwise.
as_pg() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# ---- private cluster --------------------------------------------------------
# Home layout: data/ (PGDATA), server.log, port.

private_home() { [[ -f $CLUSTER_REF ]] && cat "$CLUSTER_REF"; }

private_port() {
  local home=$1
  [[ -f $home/port ]] && cat "$home/port"
}

private_running() {
  local home
  home=$(private_home) || return 1
  [[ -n $home && -f $home/data/PG_VERSION ]] || return 1
  local bindir
  bindir=$(pg_bindir) || return 1
  as_pg "$bindir/pg_ctl" -D "$home/data" status >/dev/null 2>&1
}

# Choose where the cluster lives: .run/pg/cluster.d if the postgres user can
# reach and write it (after chown), else a directory under /tmp named after
# this tree (a clone under a private home directory, say).
choose_home() {
  local home="$STATE/cluster.d"
  mkdir -p "$home"
  if [[ $(id -u) -eq 0 ]]; then
    chown postgres: "$home"
    chmod 700 "$home"
    if ! runuser -u postgres -- test -w "$home" 2>/dev/null; then
      rmdir "$home" 2>/dev/null || true
      home="/tmp/komek-pg-$(printf '%s' "$ROOT" | cksum | cut -d' ' -f1)"
      mkdir -p "$home"
      chown postgres: "$home"
      chmod 700 "$home"
    fi
  fi
  echo "$home"
}

init_private() {
  local bindir=$1 home=$2
  [[ -f $home/initdb.done ]] && return 0
  # An interrupted earlier initdb leaves a half-made data directory.
  rm -rf "${home:?}/data"
  local locale=C out
  out=$(locale -a 2>/dev/null) || out=""
  if grep -qiE '^c\.utf-?8$' <<<"$out"; then
    locale=C.UTF-8
  fi
  say "initdb $home/data"
  if ! out=$(cd / && as_pg "$bindir/initdb" -D "$home/data" -U postgres -E UTF8 \
      --locale="$locale" --auth-local=trust --auth-host=trust 2>&1); then
    echo "$out" >&2
    die "initdb failed"
  fi
  as_pg tee -a "$home/data/postgresql.conf" >/dev/null <<'EOF'

# komek private development cluster (deploy/pg.sh); port is given on start.
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
max_connections = 100
logging_collector = off
log_min_messages = warning
log_line_prefix = '%m [%p] %q%u@%d '
# bench/e2e.sh: a task row's latency ends at its transaction's commit
# (pg_xact_commit_timestamp)
track_commit_timestamp = on
EOF
  as_pg tee "$home/data/pg_hba.conf" >/dev/null <<'EOF'
# komek private development cluster (deploy/pg.sh): loopback only, trust.
local   all   all                  trust
host    all   all   127.0.0.1/32   trust
host    all   all   ::1/128        trust
EOF
  as_pg touch "$home/initdb.done"
}

start_private() {
  local bindir home port tries=0
  bindir=$(pg_bindir) || die "no PostgreSQL server binaries found; run: bash deploy/deps.sh"
  home=$(private_home || true)
  if [[ -z $home || ! -d $home ]]; then
    home=$(choose_home)
    mkdir -p "$STATE"
    echo "$home" >"$CLUSTER_REF"
  fi
  init_private "$bindir" "$home"

  port=$(private_port "$home" || true)
  [[ -n $port ]] || port=$FIRST_PRIVATE_PORT
  while :; do
    while port_busy "$port" || isready 127.0.0.1 "$port"; do
      port=$((port + 1))
      ((port < FIRST_PRIVATE_PORT + 100)) || die "no free port in $FIRST_PRIVATE_PORT..$((FIRST_PRIVATE_PORT + 99))"
    done
    echo "$port" | as_pg tee "$home/port" >/dev/null
    say "starting private cluster on 127.0.0.1:$port"
    if (cd / && as_pg "$bindir/pg_ctl" -D "$home/data" -l "$home/server.log" -w -t "$START_TIMEOUT" \
        -o "-p $port" start >/dev/null 9>&-); then
      break
    fi
    # Lost a race for the port, or a real failure: look at the log.
    tries=$((tries + 1))
    if ((tries >= 3)) || ! tail -n 20 "$home/server.log" | grep -q 'could not bind'; then
      echo "---- last lines of $home/server.log ----" >&2
      tail -n 30 "$home/server.log" >&2
      die "private cluster did not start within ${START_TIMEOUT}s"
    fi
    port=$((port + 1))
  done
}

stop_private() {
  local bindir home
  bindir=$(pg_bindir) || die "no PostgreSQL server binaries found"
  home=$(private_home)
  (cd / && as_pg "$bindir/pg_ctl" -D "$home/data" -m fast -w -t "$START_TIMEOUT" stop >/dev/null) ||
    die "pg_ctl stop failed for $home/data"
}

# ---- roles and databases ----------------------------------------------------

# psql as a superuser on host:port: trust over TCP first, then (root, local
# server) the postgres OS user over the default Unix socket.
super_psql() {
  local host=$1 port=$2
  shift 2
  if psql -X -q -w -h "$host" -p "$port" -U "$SUPER" -d postgres -c 'select 1' >/dev/null 2>&1; then
    psql -X -q -w -v ON_ERROR_STOP=1 -h "$host" -p "$port" -U "$SUPER" -d postgres "$@"
  elif [[ $(id -u) -eq 0 && ($host == 127.0.0.1 || $host == localhost) ]] &&
      (cd / && runuser -u postgres -- psql -X -q -w -p "$port" -d postgres -c 'select 1') >/dev/null 2>&1; then
    (cd / && runuser -u postgres -- psql -X -q -w -v ON_ERROR_STOP=1 -p "$port" -d postgres "$@")
  else
    die "cannot connect to $host:$port as superuser $SUPER (trust auth, or peer auth as the postgres OS user, is needed; set KOMEK_PG_SUPERUSER)"
  fi
}

ensure_objects() {
  local host=$1 port=$2
  super_psql "$host" "$port" >/dev/null <<'EOF'
SELECT 'CREATE ROLE komek LOGIN'
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'komek') \gexec
SELECT 'CREATE DATABASE komek OWNER komek ENCODING ''UTF8'' TEMPLATE template0'
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'komek') \gexec
SELECT 'CREATE DATABASE komek_test OWNER komek ENCODING ''UTF8'' TEMPLATE template0'
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'komek_test') \gexec
-- Least-privilege group roles (deploy/sql/090_roles.sql grants to them).
-- komek, the owner that migrates, is a member so that tests can SET ROLE.
SELECT format('CREATE ROLE %I NOLOGIN', r)
  FROM unnest(ARRAY['komek_intake', 'komek_router', 'komek_tasksink',
                    'komek_analytics', 'komek_analyst', 'komek_web',
                    'komek_inbox', 'komek_directory',
                    'komek_notify']) AS r
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) \gexec
SELECT format('GRANT %I TO komek', r)
  FROM unnest(ARRAY['komek_intake', 'komek_router', 'komek_tasksink',
                    'komek_analytics', 'komek_analyst', 'komek_web',
                    'komek_inbox', 'komek_directory',
                    'komek_notify']) AS r
 WHERE NOT pg_has_role('komek', r, 'MEMBER') \gexec
-- One LOGIN role per program, a member of its group role(s) only (issue
-- 19): what it may do is its group's grants, nothing of the owner's.  No
-- password: the private cluster trusts 127.0.0.1; in production the DBA
-- sets passwords (docs/operations.md).
SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE', l)
  FROM unnest(ARRAY['komek_router_app', 'komek_tasksink_app',
                    'komek_analytics_app', 'komek_escalator_app',
                    'komek_gateway_app', 'komek_intake_app', 'komek_web_app',
                    'komek_report_app', 'komek_inbox_app',
                    'komek_directory_app', 'komek_notify_app']) AS l
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = l) \gexec
SELECT format('GRANT %I TO %I', g, l)
  FROM (VALUES ('komek_router_app', 'komek_router'),
               ('komek_tasksink_app', 'komek_tasksink'),
               ('komek_analytics_app', 'komek_analytics'),
               ('komek_escalator_app', 'komek_analytics'),
               ('komek_gateway_app', 'komek_intake'),
               ('komek_intake_app', 'komek_intake'),
               ('komek_web_app', 'komek_web'),
               ('komek_web_app', 'komek_analyst'),
               ('komek_report_app', 'komek_analyst'),
               ('komek_inbox_app', 'komek_inbox'),
               ('komek_directory_app', 'komek_directory'),
               ('komek_notify_app', 'komek_notify')) AS m (l, g)
 WHERE NOT pg_has_role(l, g, 'MEMBER') \gexec
-- The owner is a member of each login (never the reverse), so that the
-- tests, connected as komek, may end a program's sessions
-- (pg_terminate_backend) to inject faults.
SELECT format('GRANT %I TO komek', l)
  FROM unnest(ARRAY['komek_router_app', 'komek_tasksink_app',
                    'komek_analytics_app', 'komek_escalator_app',
                    'komek_gateway_app', 'komek_intake_app', 'komek_web_app',
                    'komek_report_app', 'komek_inbox_app',
                    'komek_directory_app', 'komek_notify_app']) AS l
 WHERE NOT pg_has_role('komek', l, 'MEMBER') \gexec
EOF
  local db
  for db in komek komek_test; do
    psql -X -q -w "host=$host port=$port dbname=$db user=komek" -c 'select 1' >/dev/null 2>&1 ||
      die "role komek cannot log in to $db on $host:$port (check pg_hba.conf: trust for 127.0.0.1 is expected)"
  done
}

write_env() {
  local host=$1 port=$2 mode=$3
  cat >"$ENVF" <<EOF
# Written by deploy/pg.sh up ($mode server)
export KOMEK_PG_CONNINFO='host=$host port=$port dbname=komek user=komek'
export KOMEK_PG_TEST_CONNINFO='host=$host port=$port dbname=komek_test user=komek'
EOF
  mkdir -p "$STATE"
  echo "$mode $host $port" >"$STATE/in-use"
}

# ---- commands ---------------------------------------------------------------

cmd_up() {
  if ! command -v psql >/dev/null || ! command -v pg_isready >/dev/null; then
    die "PostgreSQL client tools missing; run: bash deploy/deps.sh"
  fi
  local home port
  if private_running; then
    home=$(private_home)
    port=$(private_port "$home")
    ensure_objects 127.0.0.1 "$port"
    write_env 127.0.0.1 "$port" private
    say "already running: private cluster on 127.0.0.1:$port ($home)"
    return 0
  fi
  if isready "$HOST" "$PORT"; then
    ensure_objects "$HOST" "$PORT"
    local was=""
    [[ -f $STATE/in-use ]] && was=$(<"$STATE/in-use")
    write_env "$HOST" "$PORT" shared
    if [[ $was == "shared $HOST $PORT" ]]; then
      say "already up: using the machine's server on $HOST:$PORT"
    else
      say "using the machine's server on $HOST:$PORT"
    fi
    return 0
  fi
  say "nothing answers on $HOST:$PORT; using a private cluster"
  start_private
  home=$(private_home)
  port=$(private_port "$home")
  # pg_ctl -w has returned, but poll anyway in case the socket lags.
  local deadline=$((SECONDS + START_TIMEOUT))
  until isready 127.0.0.1 "$port"; do
    ((SECONDS < deadline)) || die "private cluster on port $port does not answer"
    sleep 0.2
  done
  ensure_objects 127.0.0.1 "$port"
  write_env 127.0.0.1 "$port" private
  say "up: private cluster on 127.0.0.1:$port ($home)"
}

cmd_down() {
  if private_running; then
    stop_private
    rm -f "$ENVF" "$STATE/in-use"
    say "stopped the private cluster ($(private_home))"
    return 0
  fi
  if [[ -f $STATE/in-use ]] && [[ $(<"$STATE/in-use") == shared* ]]; then
    rm -f "$ENVF" "$STATE/in-use"
    say "the machine's shared server is in use; leaving it running"
    return 0
  fi
  rm -f "$ENVF" "$STATE/in-use"
  say "not running"
}

cmd_status() {
  local home port mode host
  if private_running; then
    home=$(private_home)
    port=$(private_port "$home")
    if isready 127.0.0.1 "$port"; then
      say "private cluster on 127.0.0.1:$port ($home), answering"
      return 0
    fi
    say "private cluster on 127.0.0.1:$port ($home) runs but does not answer"
    return 1
  fi
  if [[ -f $STATE/in-use ]]; then
    read -r mode host port <"$STATE/in-use"
    if [[ $mode == shared ]]; then
      if isready "$host" "$port"; then
        say "machine's shared server on $host:$port, answering"
        return 0
      fi
      say "machine's shared server on $host:$port is in use but does not answer"
      return 1
    fi
  fi
  say "none in use (run: bash deploy/pg.sh up)"
  return 3
}

case ${1:-} in
  up|down|status)
    mkdir -p "$STATE"
    exec 9>"$STATE/.lock"
    flock -w 150 9 || die "another pg.sh holds $STATE/.lock"
    ;;
esac
case ${1:-} in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
