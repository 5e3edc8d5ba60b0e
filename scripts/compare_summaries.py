#!/usr/bin/env python3
"""Compare the summaries of two `lqf reproduce` output directories.

Usage: compare_summaries.py DIR_BEFORE DIR_AFTER

For every <DIR>/<experiment>/summary.json of either directory, compares the
summary's numbers and text: Values (key by key, exactly), Header, Rows and
Finding. Run records, timings (the report's seconds and the Values keys
that start with "seconds/", the compute times fig5 reports), host names and
figure paths are ignored.
Prints one line per experiment, "same" or what differs, and exits 1 on any
difference (or on an experiment present in one directory only).
"""

import json
import os
import sys


def load(directory):
    out = {}
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name, "summary.json")
        if os.path.isfile(path):
            with open(path) as f:
                out[name] = json.load(f)
    return out


# TIMING_PREFIX starts the Values keys that are compute times, not results.
TIMING_PREFIX = "seconds/"


def differences(before, after):
    a, b = before.get("summary") or {}, after.get("summary") or {}
    diffs = []
    va, vb = a.get("values") or {}, b.get("values") or {}
    for key in sorted(set(va) | set(vb)):
        if key.startswith(TIMING_PREFIX):
            continue
        if key not in va:
            diffs.append("values[%s] only after" % key)
        elif key not in vb:
            diffs.append("values[%s] only before" % key)
        elif va[key] != vb[key]:
            diffs.append("values[%s] %r -> %r" % (key, va[key], vb[key]))
    for field in ("header", "rows", "finding"):
        if a.get(field) != b.get(field):
            diffs.append(field)
    return diffs


def main(argv):
    if len(argv) != 3:
        sys.stderr.write(__doc__.split("\n\n")[1] + "\n")
        return 2
    before, after = load(argv[1]), load(argv[2])
    differ = False
    for name in sorted(set(before) | set(after)):
        if name not in after:
            print("%s: only in %s" % (name, argv[1]))
            differ = True
        elif name not in before:
            print("%s: only in %s" % (name, argv[2]))
            differ = True
        else:
            d = differences(before[name], after[name])
            print("%s: %s" % (name, "same" if not d else "differs: " + "; ".join(d)))
            differ = differ or bool(d)
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
