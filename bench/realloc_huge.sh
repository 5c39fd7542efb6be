#!/usr/bin/env bash
# realloc_huge.sh — one buffer grown by realloc to MIB MiB, 512 KiB at a
# time (bench/realloc_huge.c), under heapscope, glibc, jemalloc, mimalloc
# and tcmalloc side by side: the median of RUNS runs each, the allocators
# taken in turn run by run (a benchmark: not run by make test).  WRITE=1
# writes every appended byte, 0 one byte per append.
#   bash bench/realloc_huge.sh [MiB=512] [write=1] [runs=5]   (BUILD=build by default)
# Needs build/libheapscope.so (make); installs the Debian packages
# libjemalloc2 libmimalloc2.0 libtcmalloc-minimal4 if they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
mib=${1:-512}
write=${2:-1}
runs=${3:-5}
. bench/peers.sh
install_peers realloc_huge.sh
mkdir -p "$BUILD/bench"
cc -std=c11 -O2 -Wall -o "$BUILD/bench/realloc_huge" bench/realloc_huge.c
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sparse=()
[ "$write" = 0 ] && sparse=(1)
run_peers_in_turn realloc_huge.sh "$runs" "$work" "$BUILD/bench/realloc_huge" "$mib" "${sparse[@]}"
echo "a buffer grown by realloc to $mib MiB (write=$write); medians of $runs runs"
print_peer_medians "$work" seconds peak_mib moves
