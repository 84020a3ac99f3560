#!/usr/bin/env bash
# deploy/demo.d/30-analytics.sh - demo stage 30 (after intake 10 and
# routing 20): run komek-analytics until it has consumed everything on the
# default topics (its offsets in PostgreSQL against the topics' high
# watermarks, `komek-analytics --lag`, against a deadline), stop it with
# SIGTERM, run komek-escalator once, then print the weekly report for the
# last complete ISO week in Russian and English and write the HTML report
# to .run/demo/report.html.
#
# Environment (deploy/demo.sh): KOMEK_BIN KOMEK_ROOT KOMEK_CONFIG DEMO_DIR
# KOMEK_BROKERS KOMEK_PG_CONNINFO; DEMO_ANALYTICS_TIMEOUT (s, default 600).
set -euo pipefail
cd "$KOMEK_ROOT"
BIN=$KOMEK_BIN
CONF=(--config "$KOMEK_CONFIG")
DEMO_DIR=${DEMO_DIR:-$KOMEK_ROOT/.run/demo}
LOG=$DEMO_DIR/analytics.log
mkdir -p "$DEMO_DIR"

lag() {
        "$BIN/komek-analytics" "${CONF[@]}" --log-level warn --lag |
                awk '$1 == "total" { print $2 }'
}

# The generated city has ~1,400 KSKs and ~17,000 complaints and ~20,000
# votes a year: about one complaint and one vote per KSK and month, so
# with komek.conf's minimums (5 and 5) every KSK would be unrated.  The
# demo rates with lower minimums, and says so.
DEMO_MIN_COMPLAINTS=${DEMO_RATING_MIN_COMPLAINTS:-2}
DEMO_MIN_VOTES=${DEMO_RATING_MIN_VOTES:-2}
echo "analytics: consuming complaints, dispatch, task-events, votes (log: $LOG)"
echo "analytics: demo rating minimums: $DEMO_MIN_COMPLAINTS complaints and $DEMO_MIN_VOTES votes a month (komek.conf: 5 and 5)"
"$BIN/komek-analytics" "${CONF[@]}" \
        --set analytics.rating_min_complaints="$DEMO_MIN_COMPLAINTS" \
        --set analytics.rating_min_votes="$DEMO_MIN_VOTES" >>"$LOG" 2>&1 &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null || true' EXIT
deadline=$((SECONDS + ${DEMO_ANALYTICS_TIMEOUT:-600}))
while :; do
        n=$(lag || echo "?")
        if [ "$n" = 0 ]; then
                break
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
                echo "analytics: komek-analytics exited early; see $LOG" >&2
                exit 1
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
                echo "analytics: still $n message(s) behind after the deadline; going on" >&2
                break
        fi
        sleep 1 # polling the stored offsets against the deadline
done
kill -TERM "$pid"
wait "$pid" || { echo "analytics: komek-analytics failed; see $LOG" >&2; exit 1; }
trap - EXIT
grep -E 'consumed [0-9]+' "$LOG" | tail -1 | sed 's/^.*info: /analytics: /'

echo "analytics: komek-escalator, one pass"
"$BIN/komek-escalator" "${CONF[@]}" --once >>"$LOG" 2>&1 ||
        { echo "analytics: komek-escalator failed; see $LOG" >&2; exit 1; }
grep -E 'passes [0-9]+' "$LOG" | tail -1 | sed 's/^.*info: /escalator: /'

echo
"$BIN/komek-report" "${CONF[@]}" --format text --lang both
"$BIN/komek-report" "${CONF[@]}" --format html --lang both \
        --out "$DEMO_DIR/report.html"
echo
echo "HTML report (charts, rating): $DEMO_DIR/report.html"
