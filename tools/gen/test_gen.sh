#!/usr/bin/env bash
# test_gen.sh - checks komek-gen: determinism (same seed => same sha256 of
# every file, another seed => different files), truth.csv has one row per
# complaint line, and every line truth.csv marks valid is JSON with the
# required fields. Prints "N passed, N failed"; exits 1 on any failure.
#
# Usage: tools/gen/test_gen.sh [path/to/komek-gen]
# Without an argument it uses $KOMEK_GEN or bin/komek-gen (built by make;
# its absence is a failure).
set -u
if [ $# -gt 0 ]; then # resolve before the cd below
	KOMEK_GEN=$(realpath "$1") || exit 2
fi
cd "$(dirname "$0")/../.." || exit 2

pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   - $*"; }
bad() { fail=$((fail + 1)); echo "FAIL - $*"; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

gen=${1:-${KOMEK_GEN:-${KOMEK_BIN:-bin}/komek-gen}}
if [ ! -x "$gen" ]; then
	# built by make like every program (it links common/'s library)
	echo "FAIL  $gen missing: run make first"
	echo "0 passed, 1 failed"
	exit 1
fi

files="organisations.csv buildings.csv complaints.jsonl votes.jsonl truth.csv systemic.csv"

run() { # run DIR ARGS...: komek-gen with defaults into DIR, timed
	local dir=$1 start end
	shift
	start=$(date +%s%N)
	if "$gen" --out "$dir" "$@" 2>"$dir.err"; then
		end=$(date +%s%N)
		ok "komek-gen --out $dir $* ($(((end - start) / 1000000)) ms)"
	else
		bad "komek-gen --out $dir $* exited $?: $(tail -1 "$dir.err")"
	fi
}

run "$tmp/a" --seed 42
run "$tmp/b" --seed 42
run "$tmp/c" --seed 43

for f in $files; do
	if [ ! -s "$tmp/a/$f" ]; then
		bad "$f: missing or empty"
		continue
	fi
	ha=$(sha256sum <"$tmp/a/$f" | cut -d' ' -f1)
	hb=$(sha256sum <"$tmp/b/$f" 2>/dev/null | cut -d' ' -f1)
	hc=$(sha256sum <"$tmp/c/$f" 2>/dev/null | cut -d' ' -f1)
	if [ "$ha" = "$hb" ]; then
		ok "$f: same seed, same sha256"
	else
		bad "$f: same seed, sha256 differs: $ha vs $hb"
	fi
	if [ "$ha" != "$hc" ]; then
		ok "$f: another seed, another sha256"
	else
		bad "$f: another seed gave the same file"
	fi
done

if [ ! -d "$tmp/a" ] || [ -n "$(ls "$tmp/a" | grep '\.tmp$')" ]; then
	bad "no output directory, or leftover .tmp files in it"
else
	ok "no leftover .tmp files"
fi

nc=$(wc -l <"$tmp/a/complaints.jsonl")
nt=$(($(wc -l <"$tmp/a/truth.csv") - 1))
if [ "$nc" -eq 17000 ] && [ "$nc" -eq "$nt" ]; then
	ok "complaints.jsonl $nc lines, truth.csv $nt rows"
else
	bad "complaints.jsonl $nc lines (want 17000), truth.csv $nt rows"
fi

# Every line marked valid: JSON with the required fields; also the
# malformed lines are malformed the way truth.csv says.
python3 - "$tmp/a" <<'EOF'
import csv, json, sys
d = sys.argv[1]
truth = list(csv.DictReader(open(f"{d}/truth.csv", encoding="utf-8")))
lines = open(f"{d}/complaints.jsonl", "rb").read().split(b"\n")[:-1]
req = ("external_id", "source", "received_at", "category", "description",
       "address")
cats = {"water_supply", "heating", "electricity", "sanitation", "lift",
        "roof", "common_areas", "gas", "other"}
nvalid = nbad = 0
errors = []
for t, raw in zip(truth, lines):
    n = t["line"]
    try:
        o = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        if t["valid"] == "1":
            errors.append(f"line {n}: marked valid, does not parse: {e}")
        elif t["reason"] not in ("invalid_json", "invalid_utf8"):
            errors.append(f"line {n}: {t['reason']}, but does not parse")
        nbad += t["valid"] == "0"
        continue
    if t["valid"] == "0":
        if t["reason"] in ("invalid_json", "invalid_utf8"):
            errors.append(f"line {n}: {t['reason']}, but parses")
        nbad += 1
        continue
    nvalid += 1
    miss = [k for k in req if k not in o]
    if miss:
        errors.append(f"line {n}: missing {miss}")
    elif (o["external_id"] != t["external_id"] or o["source"] != t["source"]
          or o["category"] != t["category"] or o["category"] not in cats
          or not isinstance(o["description"], str)
          or not 1 <= len(o["description"]) <= 4000
          or not isinstance(o["address"], dict) or not o["address"]
          or "id" in o or "schema_version" in o):
        errors.append(f"line {n}: does not agree with truth.csv or schema")
for e in errors[:10]:
    print("   ", e)
print(f"{nvalid} valid lines checked, {nbad} malformed, {len(errors)} errors")
sys.exit(1 if errors or nvalid == 0 or nbad == 0 else 0)
EOF
if [ $? -eq 0 ]; then
	ok "valid lines parse as JSON with the required fields"
else
	bad "valid lines parse as JSON with the required fields"
fi

# CSV mode: one truth row per record, 17 fields in every well-formed row.
run "$tmp/v" --seed 42 --format csv --complaints 2000 --buildings 3000 \
	--ksks 140 --votes 100
python3 - "$tmp/v" <<'EOF'
import csv, io, sys
d = sys.argv[1]
truth = list(csv.DictReader(open(f"{d}/truth.csv", encoding="utf-8")))
rows = list(csv.reader(io.StringIO(
    open(f"{d}/complaints.csv", "rb").read().decode("latin-1"), newline="")))
ok = len(rows) - 1 == len(truth) == 2000 and len(rows[0]) == 17
for t, r in zip(truth, rows[1:]):
    if t["reason"] != "invalid_csv" and len(r) != 17:
        ok = False
print(f"{len(rows) - 1} CSV records, {len(truth)} truth rows")
sys.exit(0 if ok else 1)
EOF
if [ $? -eq 0 ]; then
	ok "CSV: one truth row per record, 17 fields each"
else
	bad "CSV: one truth row per record, 17 fields each"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
