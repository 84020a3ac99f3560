#!/usr/bin/env python3
"""tests/style/check_names.py - the naming rule of STYLE.md, checked
(make format-check runs it).

Every function a .c file exports (defined without `static`) starts with
its owner's prefix: `km_` in common/, the program's directory name and an
underscore elsewhere (producers/gateway/*.c: `gateway_`, web/*.c: `web_`,
tools/report/*.c: `report_`), `main` excepted.  Tests, bench and fuzz
programs are not checked.  Prints each offender as file:line: name and
exits 1 if there is one.  A definition is recognised by its shape at the
start of a line (the house style puts the return type on the same line):
`type name(args)` followed by `{` on that line or the next.
"""
import glob
import os
import re
import sys

os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
DEF = re.compile(r"^(?!static\b)(?!extern\b)[A-Za-z_][A-Za-z0-9_ \*]*?\b"
                 r"([a-z_][a-z0-9_]*)\(([^;{]*?)\)\s*\{", re.M)
owners = [("common/", "km_")]
for d in sorted(glob.glob("producers/*/") + glob.glob("workers/*/") +
                glob.glob("tools/*/") + ["web/"]):
    owners.append((d, os.path.basename(d.rstrip("/")) + "_"))
bad = n = 0
for d, prefix in owners:
    for f in sorted(glob.glob(d + "*.c")):
        src = open(f, encoding="utf-8").read()
        for m in DEF.finditer(src):
            name = m.group(1)
            if name == "main":
                continue
            n += 1
            if not name.startswith(prefix):
                line = src.count("\n", 0, m.start()) + 1
                print(f"{f}:{line}: {name} does not start with {prefix}")
                bad += 1
print(f"names: {n} exported functions, {bad} without their owner's prefix")
sys.exit(1 if bad else 0)
