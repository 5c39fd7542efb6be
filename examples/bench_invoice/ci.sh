#!/bin/sh
# ci.sh — the CI step of a C project that gates its allocations with
# heapscope: build the benchmarks against heapscope, run them, check budgets.
#   examples/bench_invoice/ci.sh            (in the heapscope tree, after `make bench`)
#   CFLAGS=-DINVOICE_PER_LINE_COPY examples/bench_invoice/ci.sh   (a regression: exits 1)
# In your own project use the installed copies instead (make install puts
# them in PREFIX/include, PREFIX/lib and PREFIX/bin): HEAPSCOPE_INCLUDE,
# HEAPSCOPE_LIB, HEAPSCOPE_CLI.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$root/$BUILD ;; esac
INC=${HEAPSCOPE_INCLUDE:-$root/include}
LIB=${HEAPSCOPE_LIB:-$BUILD}
CLI=${HEAPSCOPE_CLI:-$BUILD/heapscope}
OUT=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/bench_invoice.XXXXXX")}

# 1. Build the benchmark program against heapscope (statically linked here).
cc -std=c11 -O2 -Wall ${CFLAGS:-} -I"$INC" -o "$OUT/bench_invoice" \
  "$here/invoice.c" "$here/invoice_bench.c" \
  "$LIB/libheapscope_bench.a" "$LIB/libheapscope.a" -pthread -lm
# 2. Run it: Go's line format, B/op and allocs/op counted exactly.
"$OUT/bench_invoice" -count 5 -benchtime "${BENCHTIME:-200ms}" | tee "$OUT/bench.txt"
# 3. Gate: exit 1 with "alloc budget exceeded: ..." if a budget is broken.
"$CLI" budget check "$OUT/bench.txt" "$here/budgets.txt"
