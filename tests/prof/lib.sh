# lib.sh — sourced by the tests/prof/*_test.sh scripts after `set -u`, with
# the repository root as the working directory: sets BUILD, LIB (the
# library, absolute) and tmp (a fresh directory, removed at exit; HOME
# points there unless set), and counts checks:
#   fail MESSAGE                 one FAIL line, counted
#   check DESCRIPTION COMMAND... runs COMMAND (output discarded); fails if it does
#   prof_test_done               prints "N checks, N failed"; its status is the verdict
#   expect_match DESCRIPTION TEXT REGEX     a line of TEXT matches (else TEXT is shown)
#   expect_no_match DESCRIPTION TEXT REGEX  no line of TEXT matches
#   require_go                   exits 1 unless go is installed (.ci/run installs it)
#   pprof ARGS...                go tool pprof -symbolize=none ARGS, stderr merged
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
expect_match() {
  checks=$((checks + 1))
  grep -Eq -- "$3" <<<"$2" || { fail "$1: no line matches /$3/ in:"; sed 's/^/    | /' <<<"$2" | head -40; }
}
expect_no_match() {
  checks=$((checks + 1))
  ! grep -Eq -- "$3" <<<"$2" || fail "$1: unexpected /$3/"
}
require_go() {
  command -v go >/dev/null && return 0
  echo "FAIL: go is not installed (.ci/run installs golang-go)"
  exit 1
}
pprof() { go tool pprof -symbolize=none "$@" 2>&1; }
