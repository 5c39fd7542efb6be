# lib.sh — sourced by the tests/cli/*_test.sh scripts after `set -euo
# pipefail`: moves to the repository root and sets BUILD (absolute), PYTHON
# and HS (the CLI).  cli_test_workdir NAME makes a fresh WORK directory,
# $BUILD/cli-tests/NAME, and points HOME and Go's caches into it;
# cli_test_go_workdir NAME does that for a test that builds Go programs
# (GOPATH in WORK, no modules) and fails unless go is installed; fail
# prints one FAIL line and exits 1.
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$PWD/$BUILD ;; esac
PYTHON=${PYTHON:-python3}
HS=$BUILD/heapscope

fail() { echo "FAIL: $*"; exit 1; }

cli_test_workdir() {
  WORK=$BUILD/cli-tests/$1
  rm -rf "$WORK" && mkdir -p "$WORK"
  export HOME=$WORK PPROF_TMPDIR=$WORK/pprof GOCACHE=$WORK/gocache
}

cli_test_go_workdir() {
  cli_test_workdir "$1"
  export GOPATH=$WORK/gopath GOFLAGS=-mod=mod GO111MODULE=off
  command -v go >/dev/null || fail "go is not installed (.ci/run installs golang-go)"
}
