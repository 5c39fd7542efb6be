#!/usr/bin/env bash
# rebuild_loop.sh — a request loop that builds a structure of small objects
# and frees it all, round after round (bench/suite/rebuild_loop.c), under
# heapscope, glibc, jemalloc, mimalloc and tcmalloc side by side: ns per
# malloc and per free and minor page faults, the median of RUNS runs each,
# the allocators taken in turn run by run (a benchmark: not run by make
# test).
#   bash bench/rebuild_loop.sh [objects=16000] [rounds=2000] [runs=5]
# Needs build/libheapscope.so (make; BUILD=build by default); installs the
# Debian packages libjemalloc2 libmimalloc2.0 libtcmalloc-minimal4 if they
# are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
objects=${1:-16000}
rounds=${2:-2000}
runs=${3:-5}
. bench/peers.sh
install_peers rebuild_loop.sh
make -s BUILD="$BUILD" "$BUILD/bench-suite/rebuild_loop" >&2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
run_peers_in_turn rebuild_loop.sh "$runs" "$work" "$BUILD/bench-suite/rebuild_loop" "$objects" "$rounds"
echo "$objects objects built and freed $rounds times; medians of $runs runs"
print_peer_medians "$work" malloc_ns free_ns minor_faults
