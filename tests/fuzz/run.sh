#!/usr/bin/env bash
# tests/fuzz/run.sh - `make fuzz`: build each libFuzzer target with clang
# (ASan+UBSan) and run it for FUZZ_SECONDS (default 30) on its corpus
# (tests/fuzz/corpus/<target>/, seeded from tests/hostile/ where present).
# A crash leaves its input in .run/fuzz/<target>/crash-*; fix the bug and
# add the input to tests/hostile/ as a regression case.
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${FUZZ_SECONDS:-30}
CC=${FUZZ_CC:-clang}
PKGS="rdkafka jansson libconfig libpq libmicrohttpd uuid libcrypto"
OUT=.run/fuzz
mkdir -p "$OUT"
CFLAGS="-std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -Icommon $(pkg-config --cflags $PKGS)"
LIBS="$(pkg-config --libs $PKGS) -lm -lpthread"
COMMON=$(ls common/km_*.c)
# Program sources a target needs besides common/ (FUZZ_SRCS_<name>; the
# environment may override).  fuzz_gateway.c includes gateway_post.c.
: "${FUZZ_SRCS_csv=producers/intake/intake_csv.c producers/intake/intake_input.c}"
: "${FUZZ_SRCS_gateway=$(ls producers/gateway/gateway_*.c | grep -v gateway_post.c)}"
: "${FUZZ_SRCS_tasksink_parse=workers/tasksink/tasksink_parse.c}"
export FUZZ_SRCS_csv FUZZ_SRCS_gateway FUZZ_SRCS_tasksink_parse
# Largest input per target (FUZZ_MAXLEN_<name>, default 70000): addresses
# are at most 256 characters in the model, so 1 kB keeps the addr target
# fast; the CSV target checks each record against the input (memmem).
: "${FUZZ_MAXLEN_addr=1024}" "${FUZZ_MAXLEN_csv=16384}"
# FUZZ_TARGETS="csv addr" runs only those (default: every tests/fuzz/fuzz_*.c)
status=0
for src in tests/fuzz/fuzz_*.c ${FUZZ_EXTRA:-}; do
        name=$(basename "$src" .c); name=${name#fuzz_}
        if [ -n "${FUZZ_TARGETS:-}" ] && [[ " $FUZZ_TARGETS " != *" $name "* ]]; then
                continue
        fi
        extra_var="FUZZ_SRCS_${name}"
        maxlen_var="FUZZ_MAXLEN_${name}"
        maxlen=${!maxlen_var:-70000}
        # shellcheck disable=SC2086
        $CC $CFLAGS -o "$OUT/fuzz_$name" "$src" $COMMON ${!extra_var:-} $LIBS
        corpus="$OUT/corpus_$name"
        mkdir -p "$corpus" "$OUT/$name"
        cp -n tests/fuzz/corpus/"$name"/* "$corpus"/ 2>/dev/null || true
        [ -d tests/hostile ] && find tests/hostile -type f -name '*.in' -exec cp -n {} "$corpus"/ \; 2>/dev/null || true
        echo "fuzz: $name for ${SECS}s"
        if ! (cd "$OUT/$name" && "../fuzz_$name" -max_total_time="$SECS" -max_len="$maxlen" \
                -print_final_stats=1 "../corpus_$name" >"../$name.log" 2>&1); then
                echo "fuzz: $name FAILED, see $OUT/$name.log and $OUT/$name/crash-*"
                tail -30 "$OUT/$name.log"
                status=1
        else
                grep -E 'stat::number_of_executed_units|stat::peak_rss_mb' "$OUT/$name.log" | sed "s/^/fuzz: $name /"
        fi
done
exit $status
