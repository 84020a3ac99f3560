#!/usr/bin/env bash
# deploy/demo.d/40-web.sh - demo stage 40 (after routing 20 and analytics
# 30): the browser side.  Makes two logins with `komek-web users` (a KSK
# user for the KSK with the most open tasks, and an analyst; made again
# with the same passwords when they exist), starts komek-web on
# 127.0.0.1:$DEMO_WEB_PORT (http on loopback: cookies without Secure),
# checks it by signing in as each with curl (the inbox lists tasks, the
# dashboard shows the week), stops it with SIGTERM (the demo ends), and
# prints the URL, the logins and the command that starts it again.
#
# Environment (deploy/demo.sh): KOMEK_BIN KOMEK_ROOT KOMEK_CONFIG DEMO_DIR
# KOMEK_PG_CONNINFO; DEMO_WEB_PORT (default 8380).
set -euo pipefail
cd "$KOMEK_ROOT"
BIN=$KOMEK_BIN
CONF=(--config "$KOMEK_CONFIG")
DEMO_DIR=${DEMO_DIR:-$KOMEK_ROOT/.run/demo}
PORT=${DEMO_WEB_PORT:-8380}
KSK_LOGIN=ksk.demo KSK_PASSWORD=demo-ksk-password
AN_LOGIN=analyst.demo AN_PASSWORD=demo-analyst-password
LOG=$DEMO_DIR/web.log
mkdir -p "$DEMO_DIR"
q() { psql -qAtX -v ON_ERROR_STOP=1 "$KOMEK_PG_CONNINFO" "$@"; }

user() { # login password --org ORG | --analyst
        local l=$1 p=$2; shift 2
        echo "$p" | "$BIN/komek-web" "${CONF[@]}" --log-level error users add "$l" "$@" \
                --password-stdin >/dev/null 2>&1 ||
                echo "$p" | "$BIN/komek-web" "${CONF[@]}" --log-level warn users passwd "$l" \
                        --password-stdin >/dev/null
}
org=$(q -c "SELECT org_id FROM tasks WHERE org_kind = 'ksk' AND status IN ('open', 'acknowledged') GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1")
[ -n "$org" ] || { echo "   no open KSK tasks: run the routing stage first" >&2; exit 1; }
name=$(q -v org="$org" <<<"SELECT name FROM organisations WHERE id = :'org'")
user "$KSK_LOGIN" "$KSK_PASSWORD" --org "$org"
user "$AN_LOGIN" "$AN_PASSWORD" --analyst
echo "-- logins (komek-web users list)"
"$BIN/komek-web" "${CONF[@]}" --log-level warn users list | sed 's/^/   /'

# start, check, stop
cmd=("$BIN/komek-web" "${CONF[@]}" --listen 127.0.0.1 --port "$PORT" --set web.cookie_secure=false)
"${cmd[@]}" </dev/null >/dev/null 2>>"$LOG" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null || true' EXIT
url="http://127.0.0.1:$PORT"
for _ in $(seq 1 100); do # polling for the listening server (10 s)
        curl -s -o /dev/null "$url/login" && break
        kill -0 "$pid" 2>/dev/null || { echo "   komek-web did not start (port $PORT busy? see $LOG)" >&2; exit 1; }
        sleep 0.1
done
sign_in() { # jar login password
        local tok
        tok=$(curl -s -c "$1" "$url/login" | sed -n 's/.*name="csrf" value="\([0-9a-f]*\)".*/\1/p')
        curl -s -o /dev/null -w '%{http_code}' -b "$1" -c "$1" \
                --data-urlencode "csrf=$tok" --data-urlencode "login=$2" \
                --data-urlencode "password=$3" "$url/login"
}
jar=$(mktemp)
[ "$(sign_in "$jar" "$KSK_LOGIN" "$KSK_PASSWORD")" = 303 ] || { echo "   KSK sign-in failed" >&2; exit 1; }
page=$(curl -s -b "$jar" "$url/inbox")
open=$(sed -n 's/.*id="open-count">\([0-9]*\)<.*/\1/p' <<<"$page")
overdue=$(sed -n 's/.*id="overdue-count">\([0-9]*\)<.*/\1/p' <<<"$page")
echo "-- self-check: $KSK_LOGIN ($org $name) sees $open open task(s), $overdue overdue, in /inbox"
[ "$(sign_in "$jar" "$AN_LOGIN" "$AN_PASSWORD")" = 303 ] || { echo "   analyst sign-in failed" >&2; exit 1; }
page=$(curl -s -b "$jar" "$url/dashboard")
week=$(sed -n 's/.*id="week-label">\([^<]*\)<.*/\1/p' <<<"$page")
n=$(sed -n 's/.*id="week-count">\([0-9]*\)<.*/\1/p' <<<"$page")
ytd=$(sed -n 's/.*id="ytd-count">\([0-9]*\)<.*/\1/p' <<<"$page")
echo "-- self-check: $AN_LOGIN sees week $week: $n complaint(s), $ytd since 1 January, in /dashboard"
rm -f "$jar"
[ -n "$open" ] && [ -n "$n" ] || { echo "   self-check failed (see $LOG)" >&2; exit 1; }
kill -TERM "$pid"
wait "$pid"
trap - EXIT

cat <<EOF
-- komek-web: the KSK staff inbox and the analysts' dashboard (stopped again: the demo ends)
   start it:   ${cmd[*]}
   open:       $url/
   KSK user:   $KSK_LOGIN / $KSK_PASSWORD   ($org $name)
   analyst:    $AN_LOGIN / $AN_PASSWORD
   (http on loopback only: web.cookie_secure=false; in production keep it true behind TLS)
EOF
