#!/usr/bin/env bash
# compare_test.sh — `heapscope bench-compare OLD NEW`: exact B/op and
# allocs/op deltas on real gate_bench output (zero for the same code,
# +100.00% allocs/op when GATE_EXTRA_ALLOCS=8 doubles them), and the
# Mann–Whitney significance test on fixed ns/op samples whose p-values can
# be worked out by hand.  On two real runs of the same code the ns/op
# verdict is printed, not asserted: a significance test at alpha = 0.05
# calls 1 in 20 such comparisons significant by design.
set -u
source "$(dirname "$0")/lib.sh"
bench_test_setup compare_test

# row FILE NAME: the lines of FILE for benchmark NAME (one per table).
row() { grep -E "^$2 " "$1"; }

# 1. Real runs: the same code twice, then doubled allocations.
"$BENCH" -count 5 -benchtime 20ms >"$TMP/old.txt" || fail "gate_bench failed"
"$BENCH" -count 5 -benchtime 20ms >"$TMP/same.txt" || fail "gate_bench failed"
GATE_EXTRA_ALLOCS=8 "$BENCH" -count 5 -benchtime 20ms >"$TMP/double.txt" || fail "gate_bench failed"

"$CLI" bench-compare "$TMP/old.txt" "$TMP/same.txt" >"$TMP/same.out" 2>&1 || fail "bench-compare exited $?"
echo "\$ heapscope bench-compare old.txt same.txt"
cat "$TMP/same.out"
for name in BenchmarkRenderInvoice BenchmarkParseHeader; do
  [ "$(row "$TMP/same.out" $name | grep -c ' 0 (0.00%)$')" = 2 ] ||
    fail "$name: B/op and allocs/op deltas of the same code are not exactly 0"
done

"$CLI" bench-compare "$TMP/old.txt" "$TMP/double.txt" >"$TMP/double.out" 2>&1 || fail "bench-compare exited $?"
echo "\$ heapscope bench-compare old.txt double.txt"
cat "$TMP/double.out"
# Tables in order: ns/op, B/op, allocs/op; the third row of a name is allocs/op.
allocs_row=$(row "$TMP/double.out" BenchmarkRenderInvoice | sed -n 3p)
[[ $allocs_row =~ \ 8\ +16\ +\+8\ \(\+100\.00%\)$ ]] || fail "doubled allocs row: '$allocs_row'"
bytes_row=$(row "$TMP/double.out" BenchmarkRenderInvoice | sed -n 2p)
[[ $bytes_row =~ \ 1152\ +1280\ +\+128\ \(\+11\.11%\)$ ]] || fail "B/op row: '$bytes_row'"
[ "$(row "$TMP/double.out" BenchmarkParseHeader | grep -c ' 0 (0.00%)$')" = 2 ] ||
  fail "ParseHeader changed though its code did not"

# 2. The significance test on fixed samples.
sample() { # FILE NAME NS...: one result line per value
  local file=$1 name=$2
  shift 2
  for v in "$@"; do printf '%s-2\t1000\t%s ns/op\t16 B/op\t1 allocs/op\n' "$name" "$v"; done >>"$file"
}
# Completely separated 5 + 5: the exact two-sided p is 2 / C(10,5) = 2/252 = 0.008.
sample "$TMP/a.txt" BenchmarkShift 10 11 12 13 14
sample "$TMP/b.txt" BenchmarkShift 20 21 22 23 24
# Interleaved 5 + 5 (ranks 1,3,5,7,9 vs 2,4,...): rank sums 25 vs 30, p = 0.69.
sample "$TMP/a.txt" BenchmarkSame 10 12 14 16 18
sample "$TMP/b.txt" BenchmarkSame 11 13 15 17 19
# All equal: p = 1.
sample "$TMP/a.txt" BenchmarkTies 5 5 5
sample "$TMP/b.txt" BenchmarkTies 5 5 5
# 60 + 60 (normal approximation): shifted by 10%, and interleaved.
mapfile -t lo < <(seq 100 159)
mapfile -t hi < <(seq 150 209)
sample "$TMP/a.txt" BenchmarkBigShift "${lo[@]}"
sample "$TMP/b.txt" BenchmarkBigShift "${hi[@]}"
mapfile -t even < <(seq 100 2 218)
mapfile -t odd < <(seq 101 2 219)
sample "$TMP/a.txt" BenchmarkBigSame "${even[@]}"
sample "$TMP/b.txt" BenchmarkBigSame "${odd[@]}"
"$CLI" bench-compare "$TMP/a.txt" "$TMP/b.txt" >"$TMP/stats.out" 2>&1 || fail "bench-compare exited $?"
cat "$TMP/stats.out"
row "$TMP/stats.out" BenchmarkShift | head -1 | grep -q '+83.33% (p=0.008 n=5+5)$' || fail "BenchmarkShift"
row "$TMP/stats.out" BenchmarkSame | head -1 | grep -q '~ (p=0.690 n=5+5)$' || fail "BenchmarkSame"
row "$TMP/stats.out" BenchmarkTies | head -1 | grep -q '~ (p=1.000 n=3+3)$' || fail "BenchmarkTies"
row "$TMP/stats.out" BenchmarkBigShift | head -1 | grep -q '+38.61% (p=0.000 n=60+60)$' || fail "BenchmarkBigShift"
row "$TMP/stats.out" BenchmarkBigSame | head -1 | grep -q '~ (p=0\.[1-9][0-9]* n=60+60)$' || fail "BenchmarkBigSame"

# 3. Bad input: exit 2, one line on stderr.
printf 'nothing\n' >"$TMP/empty.txt"
for args in "$TMP/a.txt" "$TMP/a.txt $TMP/nonexistent" "$TMP/empty.txt $TMP/a.txt" "--alpha 2 $TMP/a.txt $TMP/b.txt"; do
  # shellcheck disable=SC2086
  "$CLI" bench-compare $args >/dev/null 2>"$TMP/err"
  rc=$?
  [ $rc -eq 2 ] || fail "'bench-compare $args' exited $rc, want 2"
  grep -q 'heapscope bench-compare: ' "$TMP/err" || fail "'bench-compare $args': $(cat "$TMP/err")"
done

[ $failed -eq 0 ] && echo "ok compare_test"
[ $failed -eq 0 ]
