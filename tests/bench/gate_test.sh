#!/usr/bin/env bash
# gate_test.sh — `heapscope budget check|ratchet|init` on real benchmark
# output of build/bench/gate_bench (8 allocs, 1152 B per op; one more with
# GATE_EXTRA_ALLOCS=1): a benchmark within budget passes; one extra
# allocation fails with exit 1 and the documented message; ratchet lowers
# budgets after an improvement, never raises one, rewrites atomically and
# keeps comments; bad input gives exit 2 and one line on stderr.
set -u
source "$(dirname "$0")/lib.sh"
bench_test_setup gate_test

# run_cli NAME ARGS...: runs the CLI, stdout/stderr to $TMP/NAME.out/.err, sets rc.
run_cli() {
  local name=$1
  shift
  "$CLI" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"
  rc=$?
  echo "\$ heapscope $* -> exit $rc"
  sed 's/^/    /' "$TMP/$name.out" "$TMP/$name.err"
}

"$BENCH" -benchtime 2000x >"$TMP/good.txt" || fail "gate_bench failed"
GATE_EXTRA_ALLOCS=1 "$BENCH" -benchtime 2000x >"$TMP/extra.txt" || fail "gate_bench (extra) failed"
grep Benchmark "$TMP/good.txt" "$TMP/extra.txt"

cat >"$TMP/budgets.txt" <<'B'
# budgets for gate_bench
BenchmarkRenderInvoice  8  1152
BenchmarkParseHeader    2  64    1e9  10%
B

# 1. Within budget: exit 0.
run_cli check_good budget check "$TMP/good.txt" "$TMP/budgets.txt"
[ $rc -eq 0 ] || fail "check of the good run exited $rc"
grep -q '^budget ok: 2 benchmarks within budget$' "$TMP/check_good.out" || fail "no 'budget ok' line"

# 2. One extra allocation per op: exit 1 with the message.
run_cli check_extra budget check "$TMP/extra.txt" "$TMP/budgets.txt"
[ $rc -eq 1 ] || fail "check of the extra-allocation run exited $rc, want 1"
grep -qx 'alloc budget exceeded: BenchmarkRenderInvoice got 9 allocs/op, budget 8' "$TMP/check_extra.err" ||
  fail "missing the alloc budget message"
grep -qx 'byte budget exceeded: BenchmarkRenderInvoice got 1168 B/op, budget 1152' "$TMP/check_extra.err" ||
  fail "missing the byte budget message"
grep -q ParseHeader "$TMP/check_extra.err" && fail "ParseHeader reported though within budget"

# The same from standard input.
"$CLI" budget check - "$TMP/budgets.txt" <"$TMP/extra.txt" >/dev/null 2>&1
[ $? -eq 1 ] || fail "check from stdin did not exit 1"

# A time budget (median ns/op against budget + noise allowance).
printf 'BenchmarkParseHeader 2 64 0.001 0%%\n' >"$TMP/tight.txt"
run_cli check_time budget check "$TMP/good.txt" "$TMP/tight.txt"
[ $rc -eq 1 ] && grep -q '^time budget exceeded: BenchmarkParseHeader got ' "$TMP/check_time.err" ||
  fail "an impossible ns/op budget did not fail"

# A budgeted benchmark missing from the output fails.
printf 'BenchmarkGone 1 1\n' >"$TMP/gone.txt"
run_cli check_gone budget check "$TMP/good.txt" "$TMP/gone.txt"
[ $rc -eq 1 ] && grep -q 'BenchmarkGone has a budget but no result' "$TMP/check_gone.err" ||
  fail "a missing benchmark did not fail"

# 3. Ratchet after an improvement: budgets lowered, comments and other lines kept.
cat >"$TMP/loose.txt" <<'B'
# loose budgets: ratchet should tighten them
BenchmarkRenderInvoice   12   2000   # after the refactor

BenchmarkParseHeader     2    64     1e9  10%
B
chmod 640 "$TMP/loose.txt"
run_cli ratchet budget ratchet "$TMP/good.txt" "$TMP/loose.txt"
[ $rc -eq 0 ] || fail "ratchet exited $rc"
expected=$(printf '%s\n' '# loose budgets: ratchet should tighten them' \
  'BenchmarkRenderInvoice   8   1152   # after the refactor' '' \
  'BenchmarkParseHeader     2    64     1e9  10%')
[ "$(cat "$TMP/loose.txt")" = "$expected" ] || fail "ratcheted file is:
$(cat "$TMP/loose.txt")"
[ "$(stat -c %a "$TMP/loose.txt")" = 640 ] || fail "ratchet changed the file mode"
ls "$TMP" | grep -q '\.tmp\.' && fail "ratchet left a temporary file"
run_cli check_ratcheted budget check "$TMP/good.txt" "$TMP/loose.txt"
[ $rc -eq 0 ] || fail "check after ratchet exited $rc"

# Ratchet never raises: a worse result leaves the file byte-identical, exit 1.
cp "$TMP/budgets.txt" "$TMP/before.txt"
run_cli ratchet_worse budget ratchet "$TMP/extra.txt" "$TMP/budgets.txt"
[ $rc -eq 1 ] || fail "ratchet with a regression exited $rc, want 1"
cmp -s "$TMP/before.txt" "$TMP/budgets.txt" || fail "ratchet raised a budget"
grep -q 'not raised' "$TMP/ratchet_worse.err" || fail "ratchet did not say it refused"

# Mixed: one budget lowered, the regressed one kept.
printf 'BenchmarkRenderInvoice 8 1152\nBenchmarkParseHeader 5 100\n' >"$TMP/mixed.txt"
run_cli ratchet_mixed budget ratchet "$TMP/extra.txt" "$TMP/mixed.txt"
[ $rc -eq 1 ] || fail "mixed ratchet exited $rc, want 1"
[ "$(cat "$TMP/mixed.txt")" = "$(printf 'BenchmarkRenderInvoice 8 1152\nBenchmarkParseHeader 2 64')" ] ||
  fail "mixed ratchet file: $(cat "$TMP/mixed.txt")"

# init writes budgets that the same output passes.
"$CLI" budget init "$TMP/good.txt" >"$TMP/init.txt" || fail "budget init failed"
grep -Eq '^BenchmarkRenderInvoice +8 +1152$' "$TMP/init.txt" || fail "init: $(cat "$TMP/init.txt")"
"$CLI" budget check "$TMP/good.txt" "$TMP/init.txt" >/dev/null || fail "init budgets do not pass"

# 4. Bad input: exit 2, one line on stderr.
printf 'BenchmarkRenderInvoice eight 10\n' >"$TMP/bad1.txt"
printf 'BenchmarkRenderInvoice 8\n' >"$TMP/bad2.txt"
printf 'BenchmarkRenderInvoice 8 10 - 5%%\n' >"$TMP/bad3.txt"
printf 'BenchmarkA 1 1\nBenchmarkA 2 2\n' >"$TMP/bad4.txt"
printf 'no benchmarks here\n' >"$TMP/empty.txt"
for args in "check $TMP/good.txt $TMP/bad1.txt" "check $TMP/good.txt $TMP/bad2.txt" \
  "check $TMP/good.txt $TMP/bad3.txt" "ratchet $TMP/good.txt $TMP/bad4.txt" \
  "check $TMP/nonexistent $TMP/budgets.txt" "check $TMP/good.txt $TMP/nonexistent" \
  "check $TMP/empty.txt $TMP/budgets.txt" "check $TMP/good.txt" "frobnicate"; do
  # shellcheck disable=SC2086
  "$CLI" budget $args >/dev/null 2>"$TMP/err"
  rc=$?
  [ $rc -eq 2 ] || fail "'budget $args' exited $rc, want 2"
  [ "$(grep -cv '^usage:\|^       heapscope\|^BUDGETS\|^BENCH_OUTPUT' "$TMP/err")" -eq 1 ] ||
    fail "'budget $args' stderr: $(cat "$TMP/err")"
done

[ $failed -eq 0 ] && echo "ok gate_test"
[ $failed -eq 0 ]
