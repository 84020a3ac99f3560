#!/usr/bin/env bash
# tests/run.sh - run every test program and script, add up their results,
# print one closing line "N passed, N failed" and exit non-zero on any
# failure.
#
# usage: tests/run.sh BIN_DIR TEST... 
#   BIN_DIR  where the komek-* programs are (exported as KOMEK_BIN)
#   TEST     a cmocka test binary or a shell script printing
#            "N passed, N failed" as its last such line.
# Environment: .run/kafka.env and .run/pg.env (written by make up) are
# sourced; KOMEK_SAN=1 marks a sanitizer run.
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

LOGDIR=.run/test-logs
mkdir -p "$LOGDIR"
passed=0 failed=0
failures=()
for t in "$@"; do
        name=$(basename "$t")
        log="$LOGDIR/$name.log"
        start=$(date +%s)
        if [[ $t == *.sh ]]; then
                bash "$t" >"$log" 2>&1
        else
                "$t" >"$log" 2>&1
        fi
        rc=$?
        secs=$(( $(date +%s) - start ))
        p=0 f=0
        if [[ $t == *.sh ]]; then
                line=$(grep -E '^([A-Za-z]+: )?[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
                if [ -n "$line" ]; then
                        p=$(sed -E 's/^([A-Za-z]+: )?([0-9]+) passed.*/\2/' <<<"$line")
                        f=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")
                fi
        else
                p=$(sed -nE 's/^\[  PASSED  \] ([0-9]+) test.*/\1/p' "$log" | tail -1)
                f=$(sed -nE 's/^\[  FAILED  \] ([0-9]+) test.*/\1/p' "$log" | tail -1)
                p=${p:-0} f=${f:-0}
        fi
        # A crash or a non-zero exit without counted failures is a failure.
        if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
                f=1
        fi
        if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
                f=1 # a test program that ran nothing is a failure
        fi
        passed=$((passed + p)); failed=$((failed + f))
        if [ "$f" -gt 0 ]; then
                failures+=("$name")
                echo "FAIL  $name: $p passed, $f failed (${secs}s, exit $rc)"
                echo "----- last lines of $log"
                tail -40 "$log" | sed 's/^/    /'
                echo "-----"
        else
                echo "ok    $name: $p passed (${secs}s)"
        fi
done
if [ ${#failures[@]} -gt 0 ]; then
        echo "failed: ${failures[*]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
