#!/usr/bin/env bash
# 20-routing.sh - demo stage: import the directory from $DEMO_DIR, run
# komek-router and komek-tasksink until every complaint on `complaints`
# is a task (polled against a deadline), stop them with SIGTERM, print
# the routing summary and a sample inbox of the busiest KSK.
# Assumes stage 10 (intake) published $DEMO_DIR/complaints.jsonl.
set -euo pipefail
: "${KOMEK_BIN:?}" "${DEMO_DIR:?}"
DEADLINE_S=${DEMO_ROUTING_DEADLINE_S:-300}
logs="$DEMO_DIR/logs"
mkdir -p "$logs"
pids=()
stop_all() {
        local rc=0 st
        for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
        for p in "${pids[@]}"; do
                st=0
                wait "$p" || st=$?
                [ "$st" -eq 0 ] || { echo "   process $p exited $st" >&2; rc=1; }
        done
        pids=()
        return $rc
}
trap 'stop_all || true' EXIT
q() { psql -qAtX -v ON_ERROR_STOP=1 "$KOMEK_PG_CONNINFO" "$@"; }

echo "-- directory: $DEMO_DIR/organisations.csv, buildings.csv"
"$KOMEK_BIN/komek-directory" --log-level warn import "$DEMO_DIR" | sed 's/^/   /'

# The complaint ids on the topic (canonical form: schema_version, id
# first); the stage is done when each of them is a task.
ids="$DEMO_DIR/.complaint-ids"
topic=$("$KOMEK_BIN/komek-router" --dump-config | sed -n 's/^topics.complaints = "\(.*\)"$/\1/p')
kcat -C -b "$KOMEK_BROKERS" -t "$topic" -e -q -o beginning -f '%s\n' |
        sed -n 's/^{"schema_version":1,"id":"\([0-9a-f-]\{36\}\)".*/\1/p' | sort -u >"$ids"
want=$(wc -l <"$ids")
echo "-- routing $want complaints (router and task sink, exactly once)"

"$KOMEK_BIN/komek-tasksink" 2>>"$logs/tasksink.log" &
pids+=($!)
"$KOMEK_BIN/komek-router" --instance 0 2>>"$logs/router-0.log" &
pids+=($!)
"$KOMEK_BIN/komek-router" --instance 1 2>>"$logs/router-1.log" &
pids+=($!)

count_tasks() {
        q <<EOF
CREATE TEMP TABLE demo_ids (id uuid);
\copy demo_ids FROM '$ids'
SELECT count(*) FROM demo_ids d JOIN tasks t ON t.complaint_id = d.id;
EOF
}
start=$(date +%s)
while :; do
        have=$(count_tasks)
        [ "$have" -ge "$want" ] && break
        if [ $(($(date +%s) - start)) -ge "$DEADLINE_S" ]; then
                echo "   only $have of $want complaints became tasks in ${DEADLINE_S}s" >&2
                exit 1
        fi
        # polling the tasks table against the deadline
        sleep 1
done
echo "   $have of $want complaints are tasks after $(($(date +%s) - start))s"
stop_all
grep -h "throughput:\|stopped:" "$logs"/router-*.log "$logs"/tasksink.log | tail -5 |
        sed 's/^[^ ]* /   /' | cut -c1-160

echo "-- tasks by route"
q -F ' ' -c "SELECT lpad(count(*)::text, 7), route_reason FROM tasks GROUP BY 2 ORDER BY 1 DESC" |
        sed 's/^/  /'
echo "-- tasks by organisation kind"
q -F ' ' -c "SELECT lpad(count(*)::text, 7), org_kind FROM tasks GROUP BY 2 ORDER BY 1 DESC" |
        sed 's/^/  /'

org=$(q -c "SELECT org_id FROM tasks WHERE org_kind = 'ksk' AND status IN ('open', 'acknowledged') GROUP BY org_id ORDER BY count(*) DESC, org_id LIMIT 1")
name=$(q -v org="$org" <<<"SELECT name FROM organisations WHERE id = :'org'")
echo "-- sample inbox: $org $name (komek-inbox --org $org list --limit 10)"
"$KOMEK_BIN/komek-inbox" --org "$org" --limit 10 list | sed 's/^/   /'
