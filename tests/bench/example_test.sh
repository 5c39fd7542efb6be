#!/usr/bin/env bash
# example_test.sh — the worked example examples/bench_invoice/ci.sh does what
# docs/benchmarks.md says: passes its budgets as shipped, and fails with
# exit 1 and "alloc budget exceeded: BenchmarkRenderInvoice ..." when built
# with the regression (-DINVOICE_PER_LINE_COPY: one strdup per line).
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/hs-bench-example.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
failed=0
fail() { echo "FAIL example_test: $*"; failed=$((failed + 1)); }

BUILD=$BUILD OUT=$TMP BENCHTIME=2000x sh examples/bench_invoice/ci.sh >"$TMP/good.log" 2>&1
rc=$?
cat "$TMP/good.log"
[ $rc -eq 0 ] || fail "ci.sh exited $rc"
grep -q '^budget ok: 2 benchmarks within budget$' "$TMP/good.log" || fail "no 'budget ok' line"

BUILD=$BUILD OUT=$TMP BENCHTIME=2000x CFLAGS=-DINVOICE_PER_LINE_COPY \
  sh examples/bench_invoice/ci.sh >"$TMP/bad.log" 2>&1
rc=$?
cat "$TMP/bad.log"
[ $rc -eq 1 ] || fail "ci.sh with the regression exited $rc, want 1"
grep -qx 'alloc budget exceeded: BenchmarkRenderInvoice got 11 allocs/op, budget 3' "$TMP/bad.log" ||
  fail "no alloc budget message for the regression"

[ $failed -eq 0 ] && echo "ok example_test"
[ $failed -eq 0 ]
