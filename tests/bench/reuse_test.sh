#!/usr/bin/env bash
# reuse_test.sh — object pools and arenas stop the allocations they are for,
# by the harness's exact counts (build/bench/reuse_bench): 17 allocs/op with
# malloc, 16 with the record from a pool, 0 with the strings in an arena
# too.  The first iterations (a pool's or arena's first objects) are
# amortised over 20,000 operations, so they round away.
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
PROG=$BUILD/bench/reuse_bench
[ -x "$PROG" ] || { echo "FAIL reuse_test: $PROG not built (make bench)"; exit 1; }
out=$("$PROG" -benchtime 20000x -counters thread) || { echo "FAIL reuse_test: $PROG exited $?"; exit 1; }
echo "$out"
failed=0
# allocs NAME: the allocs/op figure of BenchmarkNAME
allocs() { awk -v n="Benchmark$1" '$1 ~ "^"n"(-[0-9]+)?$" { for (i = 1; i < NF; i++) if ($(i + 1) == "allocs/op") print $i }' <<<"$out"; }
for want in RequestMalloc:17 RequestPool:16 RequestPoolArena:0; do
  name=${want%:*}
  got=$(allocs "$name")
  [ "$got" = "${want#*:}" ] || { echo "FAIL reuse_test: $name: ${got:-no line} allocs/op, want ${want#*:}"; failed=$((failed + 1)); }
done
[ $failed -eq 0 ] && echo "PASS reuse_test"
