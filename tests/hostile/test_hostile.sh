#!/usr/bin/env bash
# tests/hostile/test_hostile.sh - the hostile-input corpus against the
# running pipeline: every case of tests/hostile/cases/ through the path(s)
# tests/hostile/expected.tsv names, each with its expected outcome.
#
# One private world per run: a fresh PostgreSQL schema (migrated), a small
# komek-gen city imported by komek-directory, unique topics, an API key;
# komek-router, komek-tasksink and komek-gateway running on them.  Then:
#   intake  each case is one line of one JSON Lines file given to
#           komek-intake, a valid "sentinel" complaint before each case and
#           after the last; dlq:<reason> = exactly one dead letter at that
#           file and line with that reason; task:<route_reason> = exactly
#           one task with that route reason and the case's text verbatim;
#           skip = nothing at all (a blank line)
#   csv     the case file is a whole CSV file, its own komek-intake run;
#           the outcomes of its records in order (exit1: komek-intake exits
#           1 and publishes nothing)
#   raw     the case file is one Kafka message written with kcat straight
#           to partition 0 of the complaints topic (no intake), a sentinel
#           before each; komek-router must dead-letter it with the reason
#           (origin: that offset) or route it; refused = the client or the
#           broker refuses it (it is larger than message.max.bytes).
#           Options: K:<key>, H:<name=value> (hex:.. for bytes), empty (a
#           zero-byte message), null (no payload at all)
#   form/json/xml
#           the case file is the body of POST /requests.json with that
#           Content-Type (options: ct=TYPE, chunked, nokey), a sentinel
#           POST before each; the HTTP status, "~text" that the error
#           description must contain, ":task:<route_reason>" for a 201
#           whose complaint must become that task with its text verbatim
#   slow    closed = a request whose head is sent and then nothing: the
#           gateway must close the connection (libmicrohttpd's 30 s idle
#           timeout); cut = 16 connections dripping a header a byte a
#           second while every other gateway case runs: the gateway's
#           request deadline (gateway.request_deadline_ms, which a byte
#           does not restart) closes every one, and every other client
#           is answered meanwhile
# Cases named *.sh are generators (large inputs), run once into the
# scratch directory.  Around the cases: every sentinel must arrive as a
# task, the totals must be exact (no extra task or dead letter; counted
# once drained: a marker on each complaints partition is a task and the
# task sink's stored offsets are past every dispatch partition's end), the
# workers must still be running and stop with exit 0 on SIGTERM, and the
# directory tables must be untouched.  Prints "N passed, N failed".
# KOMEK_HOSTILE_KEEP=1 keeps the scratch directory and schema.
set -uo pipefail

ROOT=${KOMEK_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)}
BIN=${KOMEK_BIN:-$ROOT/bin}
HERE=$ROOT/tests/hostile
cd "$ROOT" || exit 1
for f in .run/kafka.env .run/pg.env; do
        # shellcheck disable=SC1090
        [ -z "${KOMEK_PG_TEST_CONNINFO:-}" ] && [ -f "$f" ] && . "$f"
done
export KOMEK_CONFIG=${KOMEK_CONFIG:-$ROOT/deploy/komek.conf}
export LC_ALL=C.UTF-8

passed=0 failed=0
ok() { echo "ok    $*"; passed=$((passed + 1)); }
bad() { echo "FAIL  $*"; failed=$((failed + 1)); }
finish() { echo "$passed passed, $failed failed"; [ "$failed" -eq 0 ]; exit $?; }
phase() { echo "info  $(printf '%3d' "$SECONDS") s: $*"; }

TAG="hostile-$$-$(date +%s)"
T="komek-test-$TAG"
SCHEMA="hostile_$$_$RANDOM"
TMP=$(mktemp -d /tmp/komek-hostile.XXXXXX)
PIDS=() SLOWPIDS=()
cleanup() {
        local p
        for p in "${SLOWPIDS[@]}"; do kill "$p" 2>/dev/null; done
        for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
        for p in "${PIDS[@]}" "${SLOWPIDS[@]}"; do wait "$p" 2>/dev/null; done
        if [ -n "${KOMEK_HOSTILE_KEEP:-}" ]; then
                echo "kept $TMP and schema $SCHEMA"
                return
        fi
        psql -X -q "$KOMEK_PG_TEST_CONNINFO" -c "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" \
                >/dev/null 2>&1
        rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for p in admin gen directory keys intake router tasksink gateway; do
        [ -x "$BIN/komek-$p" ] || { bad "missing $BIN/komek-$p"; finish; }
done
for t in kcat jq curl psql perl; do
        command -v "$t" >/dev/null || { bad "missing tool $t"; finish; }
done

# ---- a private world --------------------------------------------------------------
export KOMEK_PG_CONNINFO="$KOMEK_PG_TEST_CONNINFO options='-csearch_path=$SCHEMA'"
TOPICS=(--set "topics.complaints=$T-complaints" --set topics.complaints_partitions=2
        --set "topics.dlq=$T-dlq" --set "topics.dispatch=$T-dispatch"
        --set topics.dispatch_partitions=2 --set "topics.task_events=$T-events"
        --set "topics.votes=$T-votes" --set "topics.escalations=$T-esc")
PSQL=(psql -X -At -v ON_ERROR_STOP=1 "$KOMEK_PG_CONNINFO")
if ! { psql -X -q -v ON_ERROR_STOP=1 "$KOMEK_PG_TEST_CONNINFO" -c "CREATE SCHEMA $SCHEMA" &&
        "$BIN/komek-admin" --log-level warn "${TOPICS[@]}" all &&
        "$BIN/komek-gen" --out "$TMP/city" --seed 5 --buildings 200 --ksks 10 \
                --complaints 10 --days 30 &&
        "$BIN/komek-directory" --log-level warn import "$TMP/city" &&
        KEY=$("$BIN/komek-keys" --log-level warn add --source hostile --rate 1000000); } \
        >"$TMP/setup.log" 2>&1; then
        bad "setup: $(tail -5 "$TMP/setup.log")"
        finish
fi
orgs_before=$("${PSQL[@]}" -c "SELECT count(*) || '/' || (SELECT count(*) FROM buildings) FROM organisations")

start() { # name prog args...
        local name=$1
        shift
        "$BIN/komek-$1" "${TOPICS[@]}" "${@:2}" >"$TMP/$name.log" 2>&1 &
        PIDS+=($!)
        eval "PID_$name=$!"
}
start router router --set "router.group=$T-router" --set "router.transactional_id=$T-router" \
        --set router.batch_ms=100 --set router.reload_ms=0
start tasksink tasksink --set "tasksink.group=$T-sink" --set tasksink.batch_ms=100
start gateway gateway --port 0 --port-file "$TMP/port"
deadline=$((SECONDS + 20))
until [ -s "$TMP/port" ]; do
        ((SECONDS > deadline)) && { bad "gateway did not start: $(tail -3 "$TMP/gateway.log")"; finish; }
        sleep 0.1
done
PORT=$(cat "$TMP/port")
URL="http://127.0.0.1:$PORT"

# ---- the manifest -------------------------------------------------------------------
ROWS=()
while IFS= read -r line; do
        [[ -z $line || $line == \#* ]] && continue
        ROWS+=("$line")
done <"$HERE/expected.tsv"
ncases=$(cut -f1 <<<"$(printf '%s\n' "${ROWS[@]}")" | sort -u | wc -l)
echo "info  ${#ROWS[@]} rows, $ncases cases, broker $KOMEK_BROKERS, schema $SCHEMA, gateway :$PORT"

mkdir -p "$TMP/in"
case_file() { # name -> path of its bytes (generators run once)
        local n=$1
        if [ -f "$HERE/cases/$n.in" ]; then
                echo "$HERE/cases/$n.in"
        elif [ -f "$HERE/cases/$n.sh" ]; then
                [ -f "$TMP/in/$n.in" ] || bash "$HERE/cases/$n.sh" >"$TMP/in/$n.in"
                echo "$TMP/in/$n.in"
        else
                echo "/nonexistent/$n"
        fi
}
uuid() { cat /proc/sys/kernel/random/uuid; }
sentinel_json() { # strict valid complaint: id ext
        printf '{"schema_version":1,"id":"%s","source":"hostile","external_id":null,"received_at":"2025-06-01T08:00:00Z","category":"water_supply","description":"sentinel %s","address":{"text":"ул. Хостиле, 1"},"building_id":"b-000001"}' "$1" "$2"
}
# The task lookup key of a valid case: id when it has one, else external_id.
lookup_key() {
        jq -r 'if (.id | type) == "string" then "id:" + .id else "ext:" + .external_id end' "$1" 2>/dev/null
}

phase "slow connections"
# ---- slow requests first: they run while everything else happens -------------------
SLOW_SILENT_FD="" SLOW_T0=$SECONDS
for row in "${ROWS[@]}"; do
        IFS=$'\t' read -r name path expect _ <<<"$row"
        [ "$path" = slow ] || continue
        f=$(case_file "$name")
        if [ "$expect" = closed ]; then
                exec {SLOW_SILENT_FD}<>"/dev/tcp/127.0.0.1/$PORT"
                cat "$f" >&"$SLOW_SILENT_FD"
                SLOW_SILENT_NAME=$name
        else
                SLOW_DRIP_NAME=$name
                for i in $(seq 16); do
                        (
                                exec 3<>"/dev/tcp/127.0.0.1/$PORT" || exit 2
                                s=$(cat "$f")
                                for ((k = 0; k < ${#s}; k++)); do
                                        printf '%s' "${s:k:1}" >&3 || exit 3
                                        [ -e "$TMP/slow.stop" ] && exit 0
                                        sleep 1
                                done
                                exit 4 # sent it all: not slow enough
                        ) &
                        SLOWPIDS+=($!)
                done
        fi
done

phase "intake"
# ---- intake: one JSON Lines file, a sentinel around each case ---------------------------
declare -A LINE GOT STATUS BODY REQID OFFSET
IN=$TMP/intake.jsonl
lineno=0 nsent_i=0
: >"$IN"
for row in "${ROWS[@]}"; do
        IFS=$'\t' read -r name path expect _ <<<"$row"
        [ "$path" = intake ] || continue
        nsent_i=$((nsent_i + 1))
        printf '{"source":"hostile","external_id":"sentinel-i-%d","received_at":"2025-06-01T08:00:00Z","category":"heating","description":"sentinel","address":{"text":"x"},"building_id":"b-000001"}\n' \
                "$nsent_i" >>"$IN"
        f=$(case_file "$name")
        if [ "$(head -c -1 "$f" | tr -cd '\n' | wc -c)" -ne 0 ]; then
                bad "$name: an intake case must be one line"
                continue
        fi
        head -c -1 "$f" >>"$IN"
        tail -c 1 "$f" | tr -d '\n' >>"$IN"
        printf '\n' >>"$IN"
        lineno=$((lineno + 2))
        LINE[$name]=$lineno
done
nsent_i=$((nsent_i + 1))
printf '{"source":"hostile","external_id":"sentinel-i-%d","received_at":"2025-06-01T08:00:00Z","category":"heating","description":"sentinel","address":{"text":"x"},"building_id":"b-000001"}\n' \
        "$nsent_i" >>"$IN"
"$BIN/komek-intake" --progress=false "${TOPICS[@]}" "$IN" >"$TMP/intake.log" 2>&1
rc=$?
if [ "$rc" -eq 0 ]; then
        ok "komek-intake read the hostile JSON Lines file and exited 0: $(grep -o 'read [0-9]*, published [0-9]*, dead-lettered [0-9]*' "$TMP/intake.log")"
else
        bad "komek-intake exit $rc: $(tail -3 "$TMP/intake.log")"
fi

phase "csv"
# ---- csv: each case its own file and run (in parallel) ---------------------------------
mkdir -p "$TMP/csv"
declare -A CSVPID CSVRC
for row in "${ROWS[@]}"; do
        IFS=$'\t' read -r name path expect _ <<<"$row"
        [ "$path" = csv ] || continue
        cp "$(case_file "$name")" "$TMP/csv/$name.csv"
        "$BIN/komek-intake" --progress=false "${TOPICS[@]}" "$TMP/csv/$name.csv" \
                >"$TMP/csv/$name.log" 2>&1 &
        CSVPID[$name]=$!
done

phase "raw"
# ---- raw: kcat straight to partition 0, a sentinel before each case -----------------------
RAWSENT=()
raw_sentinel() {
        local id
        id=$(uuid)
        RAWSENT+=("$id")
        sentinel_json "$id" "raw-${#RAWSENT[@]}" >"$TMP/sentinel.in"
        kcat -P -b "$KOMEK_BROKERS" -t "$T-complaints" -p 0 -H "x-hostile-case=sentinel" \
                "$TMP/sentinel.in" 2>>"$TMP/kcat.log"
}
unhex() { # hex:0102 -> bytes, else as is
        if [[ $1 == hex:* ]]; then
                local h=${1#hex:} out="" i
                for ((i = 0; i < ${#h}; i += 2)); do out+="\\x${h:i:2}"; done
                printf '%b' "$out"
        else
                printf '%s' "$1"
        fi
}
for row in "${ROWS[@]}"; do
        IFS=$'\t' read -r name path expect opts <<<"$row"
        [ "$path" = raw ] || continue
        raw_sentinel
        f=$(case_file "$name")
        args=(-P -b "$KOMEK_BROKERS" -t "$T-complaints" -p 0 -H "x-hostile-case=$name")
        mode=file key=""
        for o in $opts; do
                case $o in
                K:*) key=$(unhex "${o#K:}"); args+=(-k "$key") ;;
                H:*) args+=(-H "$(unhex "${o#H:}")") ;;
                empty | null) mode=$o ;;
                esac
        done
        case $mode in
        file) kcat "${args[@]}" "$f" 2>>"$TMP/kcat.log" ;;
        empty) printf 'k\x1f\n' | kcat "${args[@]}" -K $'\x1f' 2>>"$TMP/kcat.log" ;;
        null) printf 'k\x1f\n' | kcat "${args[@]}" -Z -K $'\x1f' 2>>"$TMP/kcat.log" ;;
        esac
        GOT[$name/raw]=$?
done
raw_sentinel

phase "gateway"
# ---- the gateway: a sentinel POST before each case ----------------------------------------
GWSENT=() GWSENT_BAD=0
gw_sentinel() {
        local n=$((${#GWSENT[@]} + 1)) out code
        out=$(curl -s -m 20 -w '\n%{http_code}' "$URL/requests.json?api_key=$KEY" \
                -d service_code=electricity -d "description=sentinel gateway $n" \
                -d address_id=b-000001 -d "external_id=sentinel-g-$n-$TAG")
        code=${out##*$'\n'}
        if [ "$code" = 201 ]; then
                GWSENT+=("$(jq -r '.[0].service_request_id' <<<"${out%$'\n'*}")")
        else
                GWSENT+=("failed-$code")
                GWSENT_BAD=$((GWSENT_BAD + 1))
        fi
}
for row in "${ROWS[@]}"; do
        IFS=$'\t' read -r name path expect opts <<<"$row"
        case $path in form | json | xml) ;; *) continue ;; esac
        gw_sentinel
        f=$(case_file "$name")
        case $path in
        form) ct=application/x-www-form-urlencoded ;;
        json) ct=application/json ;;
        xml) ct=text/xml ;;
        esac
        q="?api_key=$KEY" extra=()
        for o in $opts; do
                case $o in
                ct=*) ct=${o#ct=} ;;
                nokey) q="" ;;
                chunked) extra+=(-H "Transfer-Encoding: chunked") ;;
                esac
        done
        k="$name/$path/$opts"
        out=$(curl -s -m 20 -w '\n%{http_code}' -H "Content-Type: $ct" "${extra[@]}" \
                --data-binary @"$f" "$URL/requests.json$q")
        STATUS[$k]=${out##*$'\n'}
        BODY[$k]=${out%$'\n'*}
done
gw_sentinel
# answered while the 16 drips are open: well before their 10 s deadline
# frees anything (5 s: an availability bound, not a speed one; speed is
# bench/gateway.sh's)
t0=$(date +%s%N)
svc=$(curl -s -m 10 -o /dev/null -w '%{http_code}' "$URL/services.json")
svc_ms=$((($(date +%s%N) - t0) / 1000000))

phase "collect"
# ---- collect ------------------------------------------------------------------------------
for name in "${!CSVPID[@]}"; do
        wait "${CSVPID[$name]}"
        CSVRC[$name]=$?
done
# expected totals: one task per distinct complaint (a file sent both ways is one)
declare -A WANTKEY
want_tasks=$((nsent_i + ${#RAWSENT[@]} + ${#GWSENT[@]} - GWSENT_BAD))
want_dlq=0
for row in "${ROWS[@]}"; do
        IFS=$'\t' read -r name path expect _ <<<"$row"
        case $path in
        intake | raw)
                [[ $expect == task:* ]] && WANTKEY[$(lookup_key "$(case_file "$name")")]=1
                [[ $expect == dlq:* ]] && want_dlq=$((want_dlq + 1))
                ;;
        csv)
                IFS=, read -ra outs <<<"$expect"
                for o in "${outs[@]}"; do
                        [[ $o == task:* ]] && want_tasks=$((want_tasks + 1))
                        [[ $o == dlq:* ]] && want_dlq=$((want_dlq + 1))
                done
                ;;
        form | json | xml) [[ $expect == 201* ]] && want_tasks=$((want_tasks + 1)) ;;
        esac
done
want_tasks=$((want_tasks + ${#WANTKEY[@]}))
dump_dlq() {
        kcat -C -b "$KOMEK_BROKERS" -t "$T-dlq" -o beginning -e -q \
                -X isolation.level=read_committed -f '%s\n' 2>/dev/null >"$TMP/dlq.jsonl"
        grep -c . "$TMP/dlq.jsonl"
}
# Drained, proved rather than waited for (as tests/faults/faults.py does):
# every input is on complaints by now (komek-intake and the CSV runs have
# exited, kcat returned, every POST was answered), so a marker behind it on
# each partition becomes a task only after komek-router committed all
# before it there (dead letters in the same transactions); then the task
# sink's stored offsets past the last message of every dispatch partition
# mean it has written or dead-lettered all of it.  Nothing more can come.
ncp=$(kcat -L -b "$KOMEK_BROKERS" -t "$T-complaints" -J 2>/dev/null |
        jq '.topics[0].partitions | length')
MARKERS=()
for ((p = 0; p < ${ncp:-0}; p++)); do
        id=$(uuid)
        MARKERS+=("'$id'")
        sentinel_json "$id" "marker-$p" >"$TMP/marker.in"
        kcat -P -b "$KOMEK_BROKERS" -t "$T-complaints" -p "$p" -H "x-hostile-case=marker" \
                "$TMP/marker.in" 2>>"$TMP/kcat.log"
done
want_tasks=$((want_tasks + ${#MARKERS[@]}))
deadline=$((SECONDS + 60))
while :; do
        ntasks=$("${PSQL[@]}" -c "SELECT count(*) FROM tasks" 2>/dev/null)
        nmark=$("${PSQL[@]}" -c "SELECT count(*) FROM tasks WHERE complaint_id IN \
                ($(IFS=,; echo "${MARKERS[*]:-NULL}"))" 2>/dev/null)
        ndlq=$(dump_dlq)
        [ "${ntasks:-0}" -ge "$want_tasks" ] && [ "${ndlq:-0}" -ge "$want_dlq" ] &&
                [ "${nmark:-0}" -eq "${#MARKERS[@]}" ] && break
        ((SECONDS > deadline)) && break
        sleep 0.3
done
ends=$(kcat -C -b "$KOMEK_BROKERS" -t "$T-dispatch" -o beginning -e -q \
        -X isolation.level=read_committed -f '%p %o\n' 2>/dev/null |
        awk '$2 >= last[$1] { last[$1] = $2 + 0 } END { for (p in last) printf "(%d,%d),", p, last[p] }')
behind="not checked (markers missing or no dispatch message)"
while [ -n "$ends" ] && [ "${nmark:-0}" -eq "${#MARKERS[@]}" ]; do
        behind=$("${PSQL[@]}" -c "SELECT string_agg(e.p || ':' || coalesce(c.next_offset, 0) ||
                '<=' || e.last, ' ') FROM (VALUES ${ends%,}) e(p, last) LEFT JOIN consumer_offsets c
                ON c.consumer = '$T-sink' AND c.topic = '$T-dispatch' AND c.partition = e.p
                WHERE coalesce(c.next_offset, 0) <= e.last" 2>&1)
        [ -z "$behind" ] && break
        ((SECONDS > deadline)) && break
        sleep 0.3
done
[ "${ncp:-0}" -gt 0 ] && [ "${nmark:-0}" -eq "${#MARKERS[@]}" ] && [ -z "$behind" ] &&
        ok "drained: a marker on each of the $ncp complaints partitions became a task, the sink's offsets are past every dispatch partition's end" ||
        bad "not drained: ${nmark:-0} of ${ncp:-0} markers are tasks; sink behind on dispatch: ${behind:-nothing}"
ntasks=$("${PSQL[@]}" -c "SELECT count(*) FROM tasks")
ndlq=$(dump_dlq)
"${PSQL[@]}" -c "SELECT row_to_json(t) FROM (SELECT complaint_id, org_id, route_reason,
        description, complaint FROM tasks) t" >"$TMP/tasks.jsonl"
kcat -C -b "$KOMEK_BROKERS" -t "$T-complaints" -p 0 -o beginning -e -q \
        -f '%o\t%h\n' 2>/dev/null | sed -n 's/^\([0-9]*\)\tx-hostile-case=\([^,]*\).*/\2 \1/p' \
        >"$TMP/offsets.txt"
while read -r n o; do OFFSET[$n]=$o; done <"$TMP/offsets.txt"
# indexes: dead letters by origin, tasks by id and by external id
declare -A DLQF DLQO TID TEXT TEXTN
while IFS=$'\t' read -r kind a b reason; do
        if [ "$kind" = F ]; then DLQF[$a:$b]+="$reason "; else DLQO[$a:$b]+="$reason "; fi
done < <(jq -r 'if .origin.file then "F\t\(.origin.file)\t\(.origin.line)\t\(.reason)"
        else "O\t\(.origin.partition)\t\(.origin.offset)\t\(.reason)" end' "$TMP/dlq.jsonl")
while IFS=$'\x1f' read -r id ext route org; do
        TID[$id]="$route $org"
        if [ -n "$ext" ]; then
                TEXT[$ext]="$route $org"
                TEXTN[$ext]=$((${TEXTN[$ext]:-0} + 1))
        fi
done < <(jq -r '[.complaint_id, (.complaint.external_id // "" | gsub("[\n\u001f]"; " ")),
        .route_reason, .org_id] | join("\u001f")' "$TMP/tasks.jsonl")

phase "check"
# ---- check ---------------------------------------------------------------------------------
task_of() { # id:UUID | ext:TEXT -> "route org" ("" none, "many" doubled)
        local k=$1
        if [[ $k == id:* ]]; then
                printf '%s' "${TID[${k#id:}]:-}"
        elif [ "${TEXTN[${k#ext:}]:-0}" -gt 1 ]; then
                printf many
        else
                printf '%s' "${TEXT[${k#ext:}]:-}"
        fi
}
VERB='{description, external_id, address, contact} | with_entries(select(.value != null))'
check_task() { # label want_route lookup case_file -> ok/bad
        local label=$1 want=$2 k=$3 f=$4 t a b
        t=$(task_of "$k")
        if [ -z "$t" ] || [ "$t" = many ]; then
                bad "$label: ${t:-no} task for $k, want one"
                return
        fi
        if [ "${t%% *}" != "$want" ]; then
                bad "$label: route_reason ${t%% *}, want $want"
                return
        fi
        if [ -n "$f" ]; then
                a=$(jq -cS "$VERB" "$f")
                if [[ $k == id:* ]]; then
                        b=$(jq -cS --arg v "${k#id:}" "select(.complaint_id == \$v) | .complaint | $VERB" "$TMP/tasks.jsonl")
                else
                        b=$(jq -cS --arg v "${k#ext:}" "select(.complaint.external_id == \$v) | .complaint | $VERB" "$TMP/tasks.jsonl")
                fi
                if [ "$a" != "$b" ]; then
                        bad "$label: stored text differs: $(head -c 300 <<<"$b")"
                        return
                fi
        fi
        ok "$label: one task, ${t#* }${f:+, text verbatim}"
}

for row in "${ROWS[@]}"; do
        IFS=$'\t' read -r name path expect opts <<<"$row"
        f=$(case_file "$name")
        label="$name [$path${opts:+ $opts}] -> $expect"
        case $path in
        intake)
                l=${LINE[$name]:-0}
                r=${DLQF[$IN:$l]:-}
                if [[ $expect == dlq:* ]]; then
                        [ "$r" = "${expect#dlq:} " ] && ok "$label" || bad "$label: dead letters at line $l: [$r]"
                elif [[ $expect == task:* ]]; then
                        [ -n "$r" ] && { bad "$label: dead-lettered [$r]"; continue; }
                        check_task "$label" "${expect#task:}" "$(lookup_key "$f")" "$f"
                else # skip
                        [ -z "$r" ] && grep -q "blank [1-9]" "$TMP/intake.log" &&
                                ok "$label" || bad "$label: [$r] $(tail -1 "$TMP/intake.log")"
                fi
                ;;
        raw)
                o=${OFFSET[$name]:-}
                if [ "$expect" = refused ]; then
                        [ "${GOT[$name/raw]}" -ne 0 ] && [ -z "$o" ] &&
                                ok "$label: kcat: $(grep -o 'Message size too large' "$TMP/kcat.log" | head -1)" ||
                                bad "$label: kcat exit ${GOT[$name/raw]}, offset '$o'"
                        continue
                fi
                [ -z "$o" ] && { bad "$label: not on the topic (kcat exit ${GOT[$name/raw]})"; continue; }
                r=${DLQO[0:$o]:-}
                if [[ $expect == dlq:* ]]; then
                        [ "$r" = "${expect#dlq:} " ] && ok "$label (offset $o)" ||
                                bad "$label: dead letters at offset $o: [$r]"
                else
                        [ -n "$r" ] && { bad "$label: dead-lettered [$r]"; continue; }
                        check_task "$label" "${expect#task:}" "$(lookup_key "$f")" "$f"
                fi
                ;;
        csv)
                rc=${CSVRC[$name]}
                num=${name%%-*}
                nt=""
                for e in "${!TEXT[@]}"; do
                        [[ $e == h-csv-$num* ]] && nt+="${TEXT[$e]%% *}"$'\n'
                done
                nt=$(printf '%s' "$nt" | sort | tr '\n' ' ')
                r=""
                for k in "${!DLQF[@]}"; do
                        [[ $k == "$TMP/csv/$name.csv:"* ]] && r+="${k##*:} ${DLQF[$k]}"$'\n'
                done
                r=$(printf '%s' "$r" | sort -n | cut -d' ' -f2- | tr -s '\n ' ' ')
                if [ "$expect" = exit1 ]; then
                        [ "$rc" -eq 1 ] && [ -z "$nt" ] && [ -z "$r" ] &&
                                ok "$label: $(grep -o 'error: .*' "$TMP/csv/$name.log" | head -1)" ||
                                bad "$label: exit $rc, tasks [$nt], dead letters [$r]"
                        continue
                fi
                IFS=, read -ra outs <<<"$expect"
                wt="" wd=""
                for x in "${outs[@]}"; do
                        [[ $x == task:* ]] && wt+="${x#task:}"$'\n'
                        [[ $x == dlq:* ]] && wd+="${x#dlq:} "
                done
                wt=$(printf '%s' "$wt" | sort | tr '\n' ' ')
                if [ "$rc" -eq 0 ] && [ "$nt" = "$wt" ] && [ "$r" = "$wd" ]; then
                        ok "$label"
                else
                        bad "$label: exit $rc, tasks [$nt] want [$wt], dead letters [$r] want [$wd]"
                fi
                ;;
        form | json | xml)
                k="$name/$path/$opts"
                st=${STATUS[$k]:-none} body=${BODY[$k]:-}
                want=${expect%%[:~]*}
                if [ "$st" != "$want" ]; then
                        bad "$label: HTTP $st: $(head -c 200 <<<"$body")"
                        continue
                fi
                if [[ $expect == *~* ]]; then
                        sub=${expect#*~}
                        d=$(jq -r '.[0].description' <<<"$body" 2>/dev/null)
                        [[ $d == *"$sub"* ]] && ok "$label: $d" || bad "$label: description '$d'"
                elif [[ $expect == 201:task:* ]]; then
                        id=$(jq -r '.[0].service_request_id' <<<"$body")
                        # the description as sent (form-decoded, or the JSON's)
                        if [ "$path" = json ]; then
                                sent=$(jq -r .description "$f")
                        else
                                sent=$(tr '&' '\n' <"$f" | sed -n 's/^description=//p' |
                                        perl -pe 's/\+/ /g; s/%([0-9A-Fa-f]{2})/chr(hex($1))/ge')
                        fi
                        stored=$(jq -r --arg v "$id" 'select(.complaint_id == $v) | .description' "$TMP/tasks.jsonl")
                        if [ "$sent" != "$stored" ]; then
                                bad "$label: description stored as '$stored', sent '$sent'"
                        else
                                check_task "$label (description verbatim)" "${expect#201:task:}" "id:$id" ""
                        fi
                else
                        ok "$label"
                fi
                ;;
        slow)
                if [ "$expect" = closed ]; then
                        # the server closes it: read sees EOF (status 1), not a timeout (>128)
                        closed=""
                        while :; do
                                IFS= read -r -t 1 -u "$SLOW_SILENT_FD" _
                                st=$?
                                if [ "$st" -gt 0 ] && [ "$st" -lt 128 ]; then
                                        closed=$((SECONDS - SLOW_T0))
                                        break
                                fi
                                ((SECONDS - SLOW_T0 >= 45)) && break
                        done
                        [ -n "$closed" ] && ok "$label: the gateway closed it (seen ${closed} s after it was opened)" ||
                                bad "$label: still open after 45 s"
                        exec {SLOW_SILENT_FD}<&-
                else
                        # a dripper sees the close only at its next write or
                        # the one after (the first may still go into the
                        # socket's buffer), a second or two after the
                        # gateway closed it: poll for them to end, bounded
                        while :; do
                                alive=0
                                for p in "${SLOWPIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=$((alive + 1)); done
                                [ "$alive" -eq 0 ] && break
                                ((SECONDS - SLOW_T0 >= 45)) && break
                                sleep 0.2
                        done
                        # the deadline closed them all (a write then fails: exit 3 or
                        # SIGPIPE); exit 4 = the whole header went out: proves nothing
                        cut=0
                        if [ "$alive" -eq 0 ]; then
                                for p in "${SLOWPIDS[@]}"; do
                                        wait "$p"
                                        st=$?
                                        { [ "$st" -eq 3 ] || [ "$st" -eq 141 ]; } && cut=$((cut + 1))
                                done
                        fi
                        if [ "$cut" -eq 16 ] && [ "$GWSENT_BAD" -eq 0 ] && [ "$svc" = 200 ] &&
                                [ "$svc_ms" -lt 5000 ]; then
                                ok "$label: 16 dripping connections cut by the request deadline, ${#GWSENT[@]} sentinel POSTs all 201, GET /services in $svc_ms ms"
                        else
                                bad "$label: $alive of 16 drips still open after $((SECONDS - SLOW_T0)) s, $GWSENT_BAD sentinel POSTs failed, GET /services $svc in $svc_ms ms"
                        fi
                        touch "$TMP/slow.stop"
                fi
                ;;
        *) bad "$name: unknown path $path" ;;
        esac
done

phase "totals"
# ---- nothing else disturbed ------------------------------------------------------------------
n=0
for i in $(seq "$nsent_i"); do [ -n "$(task_of "ext:sentinel-i-$i")" ] && n=$((n + 1)); done
[ "$n" -eq "$nsent_i" ] && ok "intake: all $n sentinels around the cases became tasks" ||
        bad "intake: $n of $nsent_i sentinels became tasks"
n=0
for id in "${RAWSENT[@]}"; do [ -n "$(task_of "id:$id")" ] && n=$((n + 1)); done
[ "$n" -eq "${#RAWSENT[@]}" ] && ok "raw: all $n sentinels between the raw messages became tasks" ||
        bad "raw: $n of ${#RAWSENT[@]} sentinels became tasks"
n=0
for id in "${GWSENT[@]}"; do [ -n "$(task_of "id:$id")" ] && n=$((n + 1)); done
[ "$n" -eq "${#GWSENT[@]}" ] && ok "gateway: all $n sentinel POSTs answered 201 and became tasks" ||
        bad "gateway: $n of ${#GWSENT[@]} sentinel POSTs became tasks ($GWSENT_BAD not 201)"
[ "$ntasks" -eq "$want_tasks" ] && ok "exactly $ntasks tasks in all (no extra, none doubled)" ||
        bad "$ntasks tasks, want $want_tasks"
[ "$ndlq" -eq "$want_dlq" ] && ok "exactly $ndlq dead letters in all" ||
        bad "$ndlq dead letters, want $want_dlq"
orgs_after=$("${PSQL[@]}" -c "SELECT count(*) || '/' || (SELECT count(*) FROM buildings) FROM organisations")
[ "$orgs_after" = "$orgs_before" ] && ok "directory untouched: organisations/buildings $orgs_after" ||
        bad "directory changed: $orgs_before -> $orgs_after"
for p in router tasksink gateway; do
        eval "pid=\$PID_$p"
        if ! kill -0 "$pid" 2>/dev/null; then
                bad "komek-$p died: $(tail -3 "$TMP/$p.log")"
                continue
        fi
        kill -TERM "$pid"
        wait "$pid"
        rc=$?
        errs=$(grep -E ' error: |runtime error|Sanitizer' "$TMP/$p.log" | head -3)
        [ "$rc" -eq 0 ] && [ -z "$errs" ] && ok "komek-$p ran through every case and stopped with exit 0" ||
                bad "komek-$p: exit $rc ${errs}"
done
PIDS=()
phase "done"
finish
