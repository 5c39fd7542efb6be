#!/usr/bin/env python3
"""compare_top.py — checks that `heapscope top` and `go tool pprof -top`
list the same functions with the same flat and cum values, allowing only
the rounding of the displayed units (2 decimals).  Prints each compared row
and exits 1 on any difference.

  compare_top.py PPROF_OUTPUT HEAPSCOPE_OUTPUT
"""
import re
import sys

UNITS = {"": 1, "B": 1, "kB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3, "TB": 1024 ** 4,
         "KiB": 1024, "MiB": 1024 ** 2, "GiB": 1024 ** 3, "TiB": 1024 ** 4,
         "k": 1e3, "M": 1e6, "G": 1e9}
VALUE = re.compile(r"^(-?[0-9.]+)([A-Za-z]*)$")


def parse(text):
    """(value, size of the displayed unit)"""
    m = VALUE.match(text)
    if not m or m.group(2) not in UNITS:
        raise ValueError("cannot parse value %r" % text)
    return float(m.group(1)) * UNITS[m.group(2)], UNITS[m.group(2)]


def number(text):
    return parse(text)[0]


def rows(path):
    """{function: (flat, cum)} in listed order, and the total."""
    out, total, started = [], None, False
    with open(path) as f:
        for line in f:
            m = re.search(r"of (\S+) total", line)
            if m:
                total = parse(m.group(1))
            if re.match(r"^\s+flat\s+flat%", line):
                started = True
                continue
            if not started or not line.strip():
                continue
            parts = line.split()
            name = " ".join(parts[5:])
            name = re.sub(r" \((partial-)?inline\)$", "", name)
            out.append((name, parse(parts[0]), parse(parts[3])))
    if not started:
        raise ValueError("%s: no table found" % path)
    return out, total


def close(a, b):
    """a, b: (value, displayed unit size); each side is rounded to 2 decimals
    of its displayed unit, so they may differ by half a hundredth of each."""
    if not isinstance(a, tuple):
        a, b = (a, 1), (b, 1)
    return abs(a[0] - b[0]) <= 0.00501 * (a[1] + b[1]) + 1e-9


def main():
    pprof, pprof_total = rows(sys.argv[1])
    ours, our_total = rows(sys.argv[2])
    # pprof -nodefraction=0 also lists functions whose values are all zero
    pprof = [r for r in pprof if r[1][0] != 0 or r[2][0] != 0]
    failures = 0
    if pprof_total is None or our_total is None or not close(pprof_total, our_total):
        print("FAIL totals differ: pprof %s heapscope %s" % (pprof_total, our_total))
        failures += 1
    theirs = {r[0]: r for r in pprof}
    mine = {r[0]: r for r in ours}
    if set(theirs) != set(mine):
        print("FAIL function sets differ: only pprof %s; only heapscope %s"
              % (sorted(set(theirs) - set(mine)), sorted(set(mine) - set(theirs))))
        failures += 1
    for name in theirs:
        if name not in mine:
            continue
        _, pf, pc = theirs[name]
        _, hf, hc = mine[name]
        ok = close(pf, hf) and close(pc, hc)
        print("%s %-40s pprof flat=%g cum=%g  heapscope flat=%g cum=%g"
              % ("ok  " if ok else "FAIL", name, pf[0], pc[0], hf[0], hc[0]))
        failures += not ok
    # order: a row clearly bigger in flat must come first in both
    position = {r[0]: i for i, r in enumerate(ours)}
    for i, a in enumerate(pprof):
        for b in pprof[i + 1:]:
            if a[1][0] > b[1][0] * 1.02 + 1 and a[0] in position and b[0] in position \
                    and position[a[0]] > position[b[0]]:
                print("FAIL order: %s should come before %s" % (a[0], b[0]))
                failures += 1
    print("%d rows compared, %d failures" % (len(pprof), failures))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
