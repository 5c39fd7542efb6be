#!/usr/bin/env bash
# run.sh — heapscope's test runner (`make test` builds everything, then runs this).
#   a. build/tests/unit_*            plainly
#   b. build/tests/NAME              under LD_PRELOAD=libheapscope.so, and
#      build/tests/NAME.linked       (heapscope linked in), both with
#                                    HEAPSCOPE_TEST_EXPECT=1
#   c. api_test, stress_test         under the UBSan build of the library (quick),
#      and six programs under the hardened build
#   d. tests/*/*_test.sh             with bash
# Each test's output goes to $BUILD/test-logs/<label>.log.  Prints one line per
# test, then "N passed, N failed"; exits 1 if anything failed or nothing ran.
set -u
cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
PYTHON=${PYTHON:-python3}
TIMEOUT=${HEAPSCOPE_TEST_TIMEOUT:-600}
export BUILD PYTHON

# LD_PRELOAD gets absolute paths, so a test that changes directory keeps them.
case $BUILD in
  /*) BUILD_ABS=$BUILD ;;
  *) BUILD_ABS=$PWD/$BUILD ;;
esac

LOGS=$BUILD/test-logs
mkdir -p "$LOGS"
passed=0
failed=0
failed_labels=()

# run_test LABEL COMMAND...: runs one test with a timeout, logs, reports.
run_test() {
  local label=$1
  shift
  local log=$LOGS/$label.log
  local start end rc
  start=$(date +%s)
  {
    echo "# $*"
    timeout --kill-after=10 "$TIMEOUT" "$@"
  } >"$log" 2>&1 </dev/null
  rc=$?
  end=$(date +%s)
  if [ $rc -eq 0 ]; then
    echo "PASS $label ($((end - start))s)"
    passed=$((passed + 1))
  else
    if [ $rc -eq 124 ]; then
      echo "FAIL $label (exit $rc: timed out after ${TIMEOUT}s)"
    elif [ $rc -gt 128 ]; then
      echo "FAIL $label (exit $rc: signal $((rc - 128)))"
    else
      echo "FAIL $label (exit $rc)"
    fi
    tail -n 30 "$log" | sed 's/^/    /'
    failed=$((failed + 1))
    failed_labels+=("$label")
  fi
}

# a. unit tests
for t in "$BUILD"/tests/unit_*; do
  [ -f "$t" ] && [ -x "$t" ] || continue
  run_test "$(basename "$t")" "$t"
done

# b. API and stress programs, preloaded and linked
for t in "$BUILD"/tests/*; do
  name=$(basename "$t")
  [ -f "$t" ] && [ -x "$t" ] || continue
  case $name in
    unit_* | *.*) continue ;;
  esac
  run_test "$name.preload" env HEAPSCOPE_TEST_EXPECT=1 \
    LD_PRELOAD="$BUILD_ABS/libheapscope.so" "$t"
  if [ -x "$t.linked" ]; then
    run_test "$name.linked" env HEAPSCOPE_TEST_EXPECT=1 "$t.linked"
  fi
done

# c. the UBSan build of the library
for name in api_test stress_test; do
  t=$BUILD/tests/$name
  [ -x "$t" ] || continue
  run_test "$name.ubsan" env HEAPSCOPE_TEST_EXPECT=1 HEAPSCOPE_TEST_QUICK=1 \
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    LD_PRELOAD="$BUILD_ABS/ubsan/libheapscope.so" "$t"
done

# c. the hardened build of the library: death_test with the cases only it
#    catches, and the programs that churn the most objects across threads
for name in death_test api_test stress_test remote_free_test thread_churn_test fork_test; do
  t=$BUILD/tests/$name
  [ -x "$t" ] || continue
  run_test "$name.hardened" env HEAPSCOPE_TEST_EXPECT=1 HEAPSCOPE_TEST_HARDENED=1 \
    LD_PRELOAD="$BUILD_ABS/hardened/libheapscope.so" "$t"
done

# d. shell tests
for t in tests/*/*_test.sh; do
  [ -f "$t" ] || continue
  label=$(basename "$(dirname "$t")")_$(basename "$t" .sh)
  run_test "$label" bash "$t"
done

total=$((passed + failed))
if [ $failed -gt 0 ]; then
  echo "failed: ${failed_labels[*]}"
fi
if [ $total -eq 0 ]; then
  echo "no tests ran (is $BUILD built? run make test)"
fi
echo "$passed passed, $failed failed"
[ $failed -eq 0 ] && [ $total -gt 0 ]
