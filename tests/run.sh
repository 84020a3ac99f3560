#!/usr/bin/env bash
# tests/run.sh - run every test program and script, add up their results,
# print one closing line "N passed, N failed, N skipped" and exit non-zero
# on any failure.
#
# usage: tests/run.sh BIN_DIR TEST...
#   BIN_DIR  where the komek-* programs are (exported as KOMEK_BIN)
#   TEST     a cmocka test binary or a shell script printing
#            "N passed, N failed" as its last such line.
# Environment: .run/kafka.env and .run/pg.env (written by make up) are
# sourced; KOMEK_SAN=1 marks a sanitizer run.
#   KOMEK_TEST_TIMEOUT  seconds one test may run (default 600; 0: no
#                       limit).  A test still running then gets SIGTERM
#                       to its whole process group, SIGKILL 10 s later,
#                       and counts as "FAIL (timeout after N s)".
#   KOMEK_TEST_NO_SKIP  1: a skipped test fails the run (default: skips
#                       are counted, named, and do not fail the run).
#
# Skips: cmocka's "[  SKIPPED ] N test(s)" and a shell test's lines
# starting "skip  " are counted as skipped, never as passed.  A skip is for
# what this machine cannot offer (root, network namespaces); a tool the
# tests need is installed by deploy/deps.sh and its absence is a failure.
#
# Each test runs in its own process group (setsid); whatever it leaves
# running when it ends is killed with the group and named in the log.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN_DIR=$1; shift
export KOMEK_BIN="$ROOT/$BIN_DIR" KOMEK_ROOT="$ROOT"
export KOMEK_CONFIG="$ROOT/deploy/komek.conf"
for f in .run/kafka.env .run/pg.env; do
        # shellcheck disable=SC1090
        [ -f "$f" ] && . "$f"
done
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$ROOT/tests/lsan.supp:print_suppressions=0}
TIMEOUT=${KOMEK_TEST_TIMEOUT:-600}
NO_SKIP=${KOMEK_TEST_NO_SKIP:-0}
[[ $TIMEOUT =~ ^[0-9]+$ ]] || { echo "run.sh: KOMEK_TEST_TIMEOUT must be seconds, not '$TIMEOUT'" >&2; exit 2; }
KILL_GRACE=10

LOGDIR=.run/test-logs
mkdir -p "$LOGDIR"
passed=0 failed=0 skipped=0
failures=() skips=()

# group_alive PGID: does any process of the group still exist?
group_alive() { kill -0 -- "-$1" 2>/dev/null; }

# run_one TEST LOG: run it in a new session, bounded by TIMEOUT; sets rc,
# timed_out.
run_one() {
        local t=$1 log=$2 pid deadline
        timed_out=0
        if [[ $t == *.sh ]]; then
                setsid bash "$t" >"$log" 2>&1 </dev/null &
        else
                setsid "$t" >"$log" 2>&1 </dev/null &
        fi
        pid=$! # setsid does not fork here (a background job is no group leader): pid = pgid
        deadline=$((SECONDS + TIMEOUT))
        while kill -0 "$pid" 2>/dev/null; do
                if [ "$TIMEOUT" -gt 0 ] && [ "$SECONDS" -ge "$deadline" ]; then
                        timed_out=1
                        echo "run.sh: timeout after ${TIMEOUT}s: SIGTERM to process group $pid" >>"$log"
                        kill -TERM -- "-$pid" 2>/dev/null
                        local d=$((SECONDS + KILL_GRACE))
                        while group_alive "$pid" && [ "$SECONDS" -lt "$d" ]; do sleep 0.2; done
                        if group_alive "$pid"; then
                                echo "run.sh: still running ${KILL_GRACE}s later: SIGKILL" >>"$log"
                                kill -KILL -- "-$pid" 2>/dev/null
                        fi
                        break
                fi
                sleep 0.2
        done
        wait "$pid"
        rc=$?
        if group_alive "$pid"; then # the test ended, something it started did not
                {
                        echo "run.sh: left running by the test (killed):"
                        ps -o pid=,args= -g "$pid" 2>/dev/null | sed 's/^/    /'
                } >>"$log"
                kill -KILL -- "-$pid" 2>/dev/null
        fi
}

for t in "$@"; do
        name=$(basename "$t")
        log="$LOGDIR/$name.log"
        start=$(date +%s)
        run_one "$t" "$log"
        secs=$(( $(date +%s) - start ))
        p=0 f=0 s=0
        if [[ $t == *.sh ]]; then
                line=$(grep -E '^([A-Za-z]+: )?[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
                if [ -n "$line" ]; then
                        p=$(sed -E 's/^([A-Za-z]+: )?([0-9]+) passed.*/\2/' <<<"$line")
                        f=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")
                fi
                s=$(grep -cE '^skip  ' "$log")
        else
                # every group of the binary counts, not only the last
                p=$(sed -nE 's/^\[  PASSED  \] ([0-9]+) test.*/\1/p' "$log" | awk '{n+=$1} END {print n+0}')
                f=$(sed -nE 's/^\[  FAILED  \] ([0-9]+) test.*/\1/p' "$log" | awk '{n+=$1} END {print n+0}')
                s=$(sed -nE 's/^\[  SKIPPED \] ([0-9]+) test\(s\), listed below.*/\1/p' "$log" | awk '{n+=$1} END {print n+0}')
        fi
        why=""
        if [ "$timed_out" -eq 1 ]; then
                f=$((f + 1)) why="timeout after ${TIMEOUT} s"
        elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
                f=1 why="exit $rc" # a crash or a non-zero exit without counted failures
        elif [ "$p" -eq 0 ] && [ "$f" -eq 0 ] && [ "$s" -eq 0 ]; then
                f=1 why="ran nothing" # a test program that ran nothing is a failure
        fi
        if [ "$NO_SKIP" = 1 ] && [ "$s" -gt 0 ]; then
                f=$((f + s)) why=${why:-"$s skipped (KOMEK_TEST_NO_SKIP=1)"}
        fi
        passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
        [ "$s" -gt 0 ] && skips+=("$name")
        if [ "$f" -gt 0 ]; then
                failures+=("$name")
                if [ "$timed_out" -eq 1 ]; then
                        echo "FAIL  $name (timeout after ${TIMEOUT} s): $p passed, $f failed, $s skipped"
                else
                        echo "FAIL  $name: $p passed, $f failed, $s skipped (${secs}s, exit $rc${why:+, $why})"
                fi
                # every failed check of the log (not only those in its
                # tail: a test's last lines are often its cleanup), then
                # the tail itself
                echo "----- failed checks in $log"
                grep -E '^(FAIL|not ok|\[  (FAILED|ERROR) +\])' "$log" | head -30 | sed 's/^/    /'
                echo "----- last lines of $log"
                tail -40 "$log" | sed 's/^/    /'
                echo "-----"
        elif [ "$s" -gt 0 ]; then
                echo "ok    $name: $p passed, $s SKIPPED (${secs}s)"
                { grep -E '^skip  ' "$log"; grep -E '^\[  SKIPPED \] [a-z_]' "$log" | sort -u; } | sed 's/^/    /'
        else
                echo "ok    $name: $p passed (${secs}s)"
        fi
done
if [ ${#skips[@]} -gt 0 ]; then
        echo "skipped in: ${skips[*]}"
fi
if [ ${#failures[@]} -gt 0 ]; then
        echo "failed: ${failures[*]}"
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
