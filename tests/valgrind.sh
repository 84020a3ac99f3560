#!/usr/bin/env bash
# tests/valgrind.sh - `make test-valgrind`: the unit tests and the
# foundation's integration tests (real broker and database) under valgrind
# memcheck; any invalid access or definite leak fails the test.  Programs
# the tests spawn run natively (their memory is checked by make test-asan).
# Prints "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
. .run/kafka.env
. .run/pg.env
export KOMEK_BIN=$PWD/bin KOMEK_ROOT=$PWD KOMEK_CONFIG=$PWD/deploy/komek.conf
passed=0 failed=0
mkdir -p .run/test-logs
for t in test_conf test_complaint test_id test_metrics test_kafka test_pg; do
        log=.run/test-logs/valgrind-$t.log
        if valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite \
                --show-leak-kinds=definite --error-exitcode=99 \
                "build/tests/$t" >"$log" 2>&1; then
                echo "ok    $t (valgrind)"; passed=$((passed + 1))
        else
                echo "FAIL  $t (valgrind), see $log"; tail -30 "$log"
                failed=$((failed + 1))
        fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
