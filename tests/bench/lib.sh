# lib.sh — sourced by tests/bench/*_test.sh: `bench_test_setup NAME` moves
# to the repository root, sets BUILD, CLI (the heapscope binary; override
# with HEAPSCOPE_CLI) and BENCH (build/bench/gate_bench), makes a TMP
# directory removed at exit, and defines fail, which counts failures in
# `failed` and names the test; it exits 1 if CLI or BENCH is not built.
bench_test_setup() {
  TEST_NAME=$1
  cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1
  BUILD=${BUILD:-build}
  CLI=${HEAPSCOPE_CLI:-$BUILD/heapscope}
  BENCH=$BUILD/bench/gate_bench
  TMP=$(mktemp -d "${TMPDIR:-/tmp}/hs-$TEST_NAME.XXXXXX") || exit 1
  trap 'rm -rf "$TMP"' EXIT
  failed=0
  for f in "$CLI" "$BENCH"; do
    [ -x "$f" ] || { echo "FAIL $TEST_NAME: $f not built (make bench)"; exit 1; }
  done
}

fail() { echo "FAIL $TEST_NAME: $*"; failed=$((failed + 1)); }
