#!/usr/bin/env bash
# tests/notify/test_notify.sh - komek-notify against a real HTTPS webhook
# receiver and a real SMTP server (aiosmtpd, STARTTLS + AUTH) on loopback,
# the real broker and PostgreSQL (tests/notify/notify_test.py says what is
# checked).  Debian's python3 (/usr/bin/python3) has python3-aiosmtpd
# (deploy/deps.sh).  Prints "N passed, N failed".
set -uo pipefail
ROOT=${KOMEK_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)}
export KOMEK_ROOT=$ROOT KOMEK_BIN=${KOMEK_BIN:-$ROOT/bin}
for f in "$ROOT/.run/kafka.env" "$ROOT/.run/pg.env"; do
        # shellcheck disable=SC1090
        [ -f "$f" ] && . "$f"
done
if ! /usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null; then
        echo "FAIL  /usr/bin/python3 has no aiosmtpd (run deploy/deps.sh)"
        echo "0 passed, 1 failed"
        exit 1
fi
exec /usr/bin/python3 "$ROOT/tests/notify/notify_test.py"
