#!/usr/bin/env python3
"""bench/pace.py - write complaints at a fixed rate, for bench/e2e.sh.

usage: pace.py RATE COUNT TAG < complaints.jsonl > stream

Reads komek-gen JSON Lines (cycling when COUNT is larger), and writes COUNT
of them to stdout at RATE lines per second (in 2 ms ticks), each with a
unique external_id (TAG-n) and its send time in microseconds at the start
of its description ("t=<us>|..."), so the time it took to become a task
row is measurable from the row alone.  Prints the achieved rate on stderr.
"""
import json
import sys
import time


def main():
    rate, count, tag = float(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    src = [l for l in sys.stdin.read().splitlines() if l.strip()]
    objs = []
    for l in src:
        try:
            o = json.loads(l)
        except ValueError:
            continue
        if isinstance(o, dict) and "description" in o:
            objs.append(o)
    out = sys.stdout
    t0 = time.time()
    i = 0
    while i < count:
        due = min(count, int((time.time() - t0) * rate) + 1)
        buf = []
        while i < due:
            o = dict(objs[i % len(objs)])
            o["external_id"] = "%s-%d" % (tag, i)
            o["description"] = ("t=%d|" % int(time.time() * 1e6) +
                                o["description"])[:3900]
            buf.append(json.dumps(o, ensure_ascii=False))
            i += 1
        if buf:
            out.write("\n".join(buf) + "\n")
            out.flush()
        time.sleep(0.002)
    secs = time.time() - t0
    print("pace: %d lines in %.2f s = %.0f/s" % (count, secs, count / secs),
          file=sys.stderr)


if __name__ == "__main__":
    main()
