# lib.sh — sourced by the tests/prof/*_test.sh scripts after `set -u`, with
# the repository root as the working directory: sets BUILD, LIB (the
# library, absolute) and tmp (a fresh directory, removed at exit; HOME
# points there unless set), and counts checks:
#   fail MESSAGE                 one FAIL line, counted
#   check DESCRIPTION COMMAND... runs COMMAND (output discarded); fails if it does
#   prof_test_done               prints "N checks, N failed"; its status is the verdict
BUILD=${BUILD:-build}
LIB=$(readlink -f "$BUILD/libheapscope.so")
tmp=$(mktemp -d "/tmp/hs_$(basename "$0" .sh).XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export HOME=${HOME:-$tmp}
failures=0
checks=0

fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
check() {
  checks=$((checks + 1))
  "${@:2}" >/dev/null || fail "$1"
}
prof_test_done() {
  echo "$checks checks, $failures failed"
  [ "$failures" -eq 0 ]
}
