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
status=0
for src in tests/fuzz/fuzz_*.c ${FUZZ_EXTRA:-}; do
        name=$(basename "$src" .c); name=${name#fuzz_}
        extra_var="FUZZ_SRCS_${name}"
        # shellcheck disable=SC2086
        $CC $CFLAGS -o "$OUT/fuzz_$name" "$src" $COMMON ${!extra_var:-} $LIBS
        corpus="$OUT/corpus_$name"
        mkdir -p "$corpus" "$OUT/$name"
        cp -n tests/fuzz/corpus/"$name"/* "$corpus"/ 2>/dev/null || true
        [ -d tests/hostile ] && find tests/hostile -type f -name '*.in' -exec cp -n {} "$corpus"/ \; 2>/dev/null || true
        echo "fuzz: $name for ${SECS}s"
        if ! (cd "$OUT/$name" && "../fuzz_$name" -max_total_time="$SECS" -max_len=70000 \
                -print_final_stats=1 "../corpus_$name" >"../$name.log" 2>&1); then
                echo "fuzz: $name FAILED, see $OUT/$name.log and $OUT/$name/crash-*"
                tail -30 "$OUT/$name.log"
                status=1
        else
                grep -E 'stat::number_of_executed_units|stat::peak_rss_mb' "$OUT/$name.log" | sed "s/^/fuzz: $name /"
        fi
done
exit $status
