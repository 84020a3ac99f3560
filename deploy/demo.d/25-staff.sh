#!/usr/bin/env bash
# 25-staff.sh - demo stage: the organisations' staff work their tasks.
# komek-gen wrote what each one does (activity.jsonl: acknowledge, resolve
# with a note, reject as not theirs, or nothing, with delays drawn from the
# organisation's profile in staff.csv: good, average, or failing for the
# KSKs it made fail); `komek-inbox play` replays it through the inbox's own
# checked changes at the recorded times (a simulation: inbox.simulation is
# set for this command only), then komek-tasksink writes the re-routes.
# Assumes stage 20 made the tasks.
set -euo pipefail
: "${KOMEK_BIN:?}" "${DEMO_DIR:?}"
DEADLINE_S=${DEMO_STAFF_DEADLINE_S:-120}
logs="$DEMO_DIR/logs"
mkdir -p "$logs"
q() { psql -qAtX -v ON_ERROR_STOP=1 "$KOMEK_PG_CONNINFO" "$@"; }

n=$(wc -l <"$DEMO_DIR/activity.jsonl")
echo "-- staff at work: $n actions (komek-inbox play $DEMO_DIR/activity.jsonl)"
start=$(date +%s)
"$KOMEK_BIN/komek-inbox" --set inbox.simulation=true play "$DEMO_DIR/activity.jsonl" \
        2>>"$logs/inbox-play.log" | sed 's/^/   /'
echo "   in $(($(date +%s) - start))s (future: after the demo's today; elsewhere: the router sent the task to another inbox)"

# re-routes (rejected tasks) are dispatch messages now: write them
want=$(q -c "SELECT count(DISTINCT complaint_id) FROM task_outbox WHERE topic = 'dispatch'")
if [ "$want" -gt 0 ]; then
        "$KOMEK_BIN/komek-tasksink" 2>>"$logs/tasksink.log" &
        sink=$!
        trap 'kill -TERM $sink 2>/dev/null || true' EXIT
        start=$(date +%s)
        until [ "$(q -c "SELECT count(*) FROM tasks WHERE attempt > 1")" -ge "$want" ]; do
                if [ $(($(date +%s) - start)) -ge "$DEADLINE_S" ]; then
                        echo "   the re-routes did not reach the task table in ${DEADLINE_S}s" >&2
                        exit 1
                fi
                sleep 1 # polling the tasks table against the deadline
        done
        kill -TERM "$sink"
        wait "$sink" || { echo "   komek-tasksink failed (see $logs/tasksink.log)" >&2; exit 1; }
        trap - EXIT
        echo "   $want rejected task(s) re-routed (to triage: not theirs)"
fi
echo "-- tasks by status"
q -F ' ' -c "SELECT lpad(count(*)::text, 7), status FROM tasks GROUP BY 2 ORDER BY 1 DESC" |
        sed 's/^/  /'
