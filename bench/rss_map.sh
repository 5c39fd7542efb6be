#!/usr/bin/env bash
# rss_map.sh — where a program's resident pages are when it exits, under
# glibc and under heapscope (profiling on, and off), side by side: KiB per
# mapping kind, from /proc/self/smaps read by a preloaded destructor
# (bench/rss_map.c).  The "final RSS" rows of bench/run.sh read the same
# total from the program; this says what it is made of.
#   bash bench/rss_map.sh [SUITE-PROGRAM [ARGS...]]   (default: strcat)
# Needs $BUILD/libheapscope.so and $BUILD/bench-suite (make bench-suite).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
program=${1:-strcat}
[ $# -gt 0 ] && shift
bin=$BUILD/bench-suite/$program
[ -x "$bin" ] || { echo "rss_map.sh: $bin is missing (make bench-suite)" >&2; exit 1; }
mkdir -p "$BUILD/bench"
cc -std=c11 -O2 -Wall -shared -fPIC -o "$BUILD/bench/rss_map.so" bench/rss_map.c
shim=$(cd "$BUILD/bench" && pwd)/rss_map.so
lib=$(cd "$BUILD" && pwd)/libheapscope.so
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

RSS_MAP_OUT=$work/glibc LD_PRELOAD=$shim "$bin" "$@" >/dev/null
RSS_MAP_OUT=$work/heapscope LD_PRELOAD=$lib:$shim "$bin" "$@" >/dev/null
RSS_MAP_OUT=$work/heapscope_off HEAPSCOPE=sample_rate_bytes=0 LD_PRELOAD=$lib:$shim \
  "$bin" "$@" >/dev/null
echo "$program $*: resident KiB at exit, by mapping"
python3 - "$work" <<'PY'
import sys, os
columns = ["glibc", "heapscope", "heapscope_off"]
table = {}
for c in columns:
    for line in open(os.path.join(sys.argv[1], c)):
        kib, name = line.split(None, 1)
        table.setdefault(name.strip(), {})[c] = int(kib)
print("%-28s %10s %10s %14s" % ("mapping", *columns))
for name in sorted(table, key=lambda n: -max(table[n].values())):
    print("%-28s %10d %10d %14d" % (name, *(table[name].get(c, 0) for c in columns)))
print("%-28s %10d %10d %14d" % ("total", *(sum(r.get(c, 0) for r in table.values()) for c in columns)))
PY
