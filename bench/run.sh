#!/usr/bin/env bash
# bench/run.sh - `make bench`: run every bench script and print ONE table
# in which each figure stands next to the baseline measured in the same
# invocation, and the ratio of the two:
#   komek-intake            vs kcat -P of the same lines         (intake.sh)
#   komek-router, 1 process vs a kcat -C | kcat -P copy          (routing.sh)
#   komek-router, 2 procs   vs 1 process                         (routing.sh)
#   komek-analytics         vs its naive writer, vs raw COPY     (analytics.sh)
#   gateway POST /requests  vs GET /services (the HTTP stack)    (gateway.sh)
#   intake -> task row p50/p99 at a fixed rate vs kcat -P -> kcat -C at the
#   same rate (Kafka alone), and the rate reached vs the rate asked (e2e.sh)
#   peak RSS per program (GNU time), km_metrics costs (ops.sh)
# Each script prints lines "bench: <key> <value> <unit>"; their whole
# output goes to .run/bench/<timestamp>/, the table to stdout and, as
# JSON, to bench/results/<timestamp>.json.  A script that fails leaves its
# rows empty ("n/a") and makes the exit status 1.  web.sh runs too when it
# exists.  Sized for a few minutes on 2 cores; the sizes below scale it.
# usage: bench/run.sh [BIN_DIR]   (make bench: after make up)
#        BENCH_FROM=.run/bench/<timestamp> bench/run.sh: the table again
#        from that run's logs, nothing run
#        BENCH_ONLY="analytics e2e" bench/run.sh: only those scripts
set -uo pipefail
cd "$(dirname "$0")/.."
BINARG=${1:-bin}
export BENCH_LINES=${BENCH_LINES:-2000000}       # intake: >= 5 s of kcat -P (400k msg/s)
export BENCH_ROUNDS=${BENCH_ROUNDS:-3}           # intake, routing: ABAB.. rounds
export BENCH_POSTS=${BENCH_POSTS:-2000}          # gateway POSTs
export BENCH_COMPLAINTS=${BENCH_COMPLAINTS:-300000} # routing: >= 300,000 routed
export AN_COMPLAINTS=${AN_COMPLAINTS:-30000}     # analytics
export AN_NAIVE=${AN_NAIVE:-2000}                # analytics' naive writer
export E2E_RATE=${E2E_RATE:-5000} E2E_SECONDS=${E2E_SECONDS:-4}   # the target rate
export E2E_LOW_RATE=${E2E_LOW_RATE:-500} E2E_LOW_SECONDS=${E2E_LOW_SECONDS:-10}
TS=$(date -u +%Y%m%dT%H%M%SZ)
LOG=.run/bench/$TS
status=0
declare -A SECS RC
if [ -n "${BENCH_FROM:-}" ]; then # only the table, from an earlier run's logs
        LOG=$BENCH_FROM
        TS=$(basename "$LOG")
fi
mkdir -p "$LOG" bench/results
for s in intake gateway routing analytics ops web e2e; do
        [ -z "${BENCH_FROM:-}" ] || break
        [ -f "bench/$s.sh" ] || continue
        [ -z "${BENCH_ONLY:-}" ] || [[ " $BENCH_ONLY " == *" $s "* ]] || continue
        echo "bench: running bench/$s.sh (log $LOG/$s.log)" >&2
        t0=$SECONDS
        bash "bench/$s.sh" "$BINARG" >"$LOG/$s.log" 2>&1
        RC[$s]=$?
        SECS[$s]=$((SECONDS - t0))
        if [ "${RC[$s]}" -ne 0 ]; then
                echo "bench: bench/$s.sh failed (exit ${RC[$s]}): $(tail -3 "$LOG/$s.log")" >&2
                status=1
        fi
        echo "script $s ${RC[$s]} ${SECS[$s]}" >>"$LOG/scripts.txt"
done
if [ -z "${BENCH_FROM:-}" ]; then # as they were at the end of the run
        cut -d' ' -f1-3 /proc/loadavg >"$LOG/load.txt"
        git rev-parse --short HEAD >"$LOG/commit.txt" 2>/dev/null || true
fi
cat "$LOG"/*.log | grep -h '^bench: ' >"$LOG/figures.txt"
# web.sh (another area's) prints "  <page>  N pages/s  p50 Xms  p99 Yms": taken as is
if [ -f "$LOG/web.log" ]; then
        sed -n 's/^  \(.*[^ ]\)  *\([0-9.]*\) pages\/s .*p99  *\([0-9.]*\)ms.*/\1|\2|\3/p' "$LOG/web.log" |
                while IFS='|' read -r page rps p99; do
                        k=$(tr -c 'A-Za-z0-9\n' '_' <<<"$page" | tr -s '_' | sed 's/_$//')
                        echo "bench: web.$k.pages_s $rps pages/s"
                        echo "bench: web.$k.p99_ms $p99 ms"
                done >>"$LOG/figures.txt"
fi
python3 - "$LOG/figures.txt" "$LOG/scripts.txt" "bench/results/$TS.json" "$TS" <<'EOF'
import json, os, sys

fig = {}
units = {}
for line in open(sys.argv[1]):
    p = line.split()
    if len(p) >= 3:
        try:
            fig[p[1]] = float(p[2])
            units[p[1]] = " ".join(p[3:])
        except ValueError:
            pass
scripts = {}
for line in open(sys.argv[2]):
    _, name, rc, secs = line.split()
    scripts[name] = {"exit": int(rc), "seconds": int(secs)}

def g(k):
    return fig.get(k)

rows = []
def row(name, key, base_name, base_key, target=None, better="higher", unit=None):
    v, b = g(key), g(base_key) if base_key else None
    r = v / b if (v is not None and b) else None
    met = None
    if target is not None:
        x = r if base_key and target[0] == "ratio" else v
        if x is not None:
            met = x >= target[1] if target[2] == ">=" else x <= target[1]
    rows.append({"figure": name, "key": key, "value": v,
                 "unit": unit or units.get(key, ""), "baseline": base_name,
                 "baseline_key": base_key, "baseline_value": b, "ratio": r,
                 "target": None if target is None else
                 "%s %s %g" % ("ratio" if target[0] == "ratio" else "value",
                               target[2], target[1]),
                 "met": met})

row("komek-intake publish", "intake.intake_msg_s", "kcat -P, same lines", "intake.kcat_msg_s", ("ratio", 0.8, ">="))
row("komek-router, 1 process", "routing.router1_msg_s", "kcat -C | kcat -P copy", "routing.copy_msg_s", ("ratio", 0.5, ">="))
row("komek-router, 2 processes", "routing.router2_msg_s", "komek-router, 1 process", "routing.router1_msg_s", ("ratio", 1.6, ">="))
row("komek-intake / kcat -P, median of the rounds", "intake.ratio_median", None, None, ("value", 0.8, ">="))
row("komek-router / copy, median of the rounds", "routing.ratio_median", None, None, ("value", 0.5, ">="))
row("2 routers / 1, median of the rounds", "routing.ratio2_median", None, None)
for k in sorted(k for k in fig if k.startswith("cpu.")):
    row("CPU per message " + k[4:], k, None, None)
row("komek-analytics (complaints)", "analytics.complaints_msg_s", "naive writer (INSERT+COMMIT each)", "analytics.naive_msg_s", ("ratio", 20, ">="))
row("komek-analytics (complaints)", "analytics.complaints_msg_s", "raw COPY of the same facts", "analytics.copy_rows_s", ("ratio", 0.5, ">="))
row("komek-tasksink (dispatch)", "analytics.sink_msg_s", "raw COPY of the same task rows", "analytics.sink_copy_rows_s", ("ratio", 0.5, ">="))
for k in sorted(k for k in fig if k.startswith("analytics.") and "_cpu_us_" in k):
    row("  CPU " + k[10:].replace("_", " "), k, None, None)
row("komek-analytics (all four topics)", "analytics.all_msg_s", "komek-analytics (complaints)", "analytics.complaints_msg_s")
row("gateway POST /requests.json (c=32)", "gateway.post_req_s", "GET /services.json (c=32)", "gateway.services_req_s", ("ratio", 0.25, ">="))
row("gateway POST / GET, median of the rounds", "gateway.ratio_median", None, None, ("value", 0.25, ">="))
row("gateway POST /requests.json p99 (c=32)", "gateway.post_p99_ms", None, None, ("value", 50, "<="), "lower", "ms")
for lab in ("target", "low"):
    rate = g("e2e.%s.rate_target" % lab) or 0
    row("e2e: complaints written @%d/s" % rate, "e2e.%s.rate_reached" % lab, "rate asked",
        "e2e.%s.rate_target" % lab, ("ratio", 0.95, ">="))
    row("e2e: tasks @%d/s" % rate, "e2e.%s.tasks" % lab, "complaints written",
        "e2e.%s.tasks_expected" % lab, ("ratio", 1, ">="))
    row("e2e: intake -> task row p50 @%d/s" % rate, "e2e.%s.p50_ms" % lab,
        "kcat -P -> kcat -C p50", "e2e.%s.kcat_p50_ms" % lab, ("value", 500, "<="), "ms")
    row("e2e: intake -> task row p99 @%d/s" % rate, "e2e.%s.p99_ms" % lab,
        "kcat -P -> kcat -C p99", "e2e.%s.kcat_p99_ms" % lab,
        ("value", 300 if lab == "low" else 500, "<="), "ms")
    for st, stn in (("s1_intake", "received -> on complaints"),
                    ("s2_router", "-> routed (txn committed)"),
                    ("s2a_produce", "  of which -> dispatch produced"),
                    ("s2b_commit", "  of which -> its txn committed"),
                    ("s3_sink", "-> task row committed")):
        for q in ("p50", "p99"):
            row("e2e: %s %s @%d/s" % (stn, q, rate), "e2e.%s.%s_%s_ms" % (lab, st, q), None, None, unit="ms")
for k in sorted(k for k in fig if k.startswith("rss.")):
    fig[k] = fig[k] / 1024.0
    tgt = ("value", 64, "<=")  # issue 12: peak RSS per worker <= 64 MB
    row("peak RSS " + k[4:], k, None, None, tgt, unit="MB")
for k in sorted(k for k in fig if k.startswith("web.") and k.endswith(".pages_s")):
    page = k[4:-8].replace("_", " ")
    row("komek-web " + page, k, None, None)
    row("komek-web " + page + " p99", k[:-8] + ".p99_ms", None, None)
row("km_metrics counter add", "ops.counter_ns", None, None, unit="ns")
row("km_metrics histogram observe", "ops.histogram_ns", None, None, unit="ns")
row("GET /metrics scrape (~1,000 series)", "ops.scrape_ms", None, None, unit="ms")

def fmt(x, unit=""):
    if x is None:
        return "n/a"
    s = "%.0f" % x if abs(x) >= 100 else "%.1f" % x if abs(x) >= 10 else "%.2f" % x
    return s + (" " + unit if unit else "")

hdr = ("figure", "value", "baseline (same run)", "baseline value", "ratio", "target", "met")
lines = []
for r in rows:
    lines.append((r["figure"], fmt(r["value"], r["unit"]), r["baseline"] or "-",
                  fmt(r["baseline_value"], units.get(r["baseline_key"] or "", "")) if r["baseline"] else "-",
                  (fmt(r["ratio"]) + "x") if r["ratio"] is not None else "-",
                  r["target"] or "-",
                  "-" if r["met"] is None else ("yes" if r["met"] else "NO")))
w = [max(len(x[i]) for x in lines + [hdr]) for i in range(len(hdr))]
sep = "+-" + "-+-".join("-" * n for n in w) + "-+"
print(sep)
print("| " + " | ".join(h.ljust(w[i]) for i, h in enumerate(hdr)) + " |")
print(sep)
for x in lines:
    print("| " + " | ".join(c.ljust(w[i]) if i in (0, 2, 5) else c.rjust(w[i])
                            for i, c in enumerate(x)) + " |")
print(sep)
logdir = os.path.dirname(sys.argv[1])
def saved(name, default):
    try:
        return open(os.path.join(logdir, name)).read().split()
    except OSError:
        return default
commit = " ".join(saved("commit.txt", [""]))
load = saved("load.txt", ["?"])
print("%s, commit %s, %d cores, load %s; sizes: intake %s lines, routing %s, "
      "analytics %s (naive %s), e2e %s/s for %s s and %s/s for %s s; script seconds: %s" % (
          sys.argv[4], commit, os.cpu_count(), " ".join(load),
          os.environ.get("BENCH_LINES"), os.environ.get("BENCH_COMPLAINTS"),
          os.environ.get("AN_COMPLAINTS"), os.environ.get("AN_NAIVE"),
          os.environ.get("E2E_RATE"), os.environ.get("E2E_SECONDS"),
          os.environ.get("E2E_LOW_RATE"), os.environ.get("E2E_LOW_SECONDS"),
          ", ".join("%s %d%s" % (k, v["seconds"], "" if v["exit"] == 0 else " (FAILED)")
                    for k, v in scripts.items())))
json.dump({"timestamp": sys.argv[4], "commit": commit, "cores": os.cpu_count(),
           "load": load, "scripts": scripts,
           "sizes": {k: os.environ.get(k) for k in ("BENCH_LINES", "BENCH_ROUNDS", "BENCH_POSTS",
                     "BENCH_COMPLAINTS", "AN_COMPLAINTS", "AN_NAIVE", "E2E_RATE",
                     "E2E_SECONDS", "E2E_LOW_RATE", "E2E_LOW_SECONDS")},
           "rows": rows, "figures": fig},
          open(sys.argv[3], "w"), indent=1, ensure_ascii=False)
print("written: %s" % sys.argv[3])
EOF
exit $status
