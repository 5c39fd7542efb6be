#!/usr/bin/env bash
# idle_threads.sh — RSS kept by idle threads (bench/idle_threads.c) under
# heapscope, glibc, jemalloc, mimalloc and tcmalloc side by side: the
# median of RUNS runs each, the allocators taken in turn run by run (a
# benchmark: not run by make test).
#   bash bench/idle_threads.sh [threads=200] [runs=5]   (BUILD=build by default)
# Needs build/libheapscope.so (make); installs the Debian packages
# libjemalloc2 libmimalloc2.0 libtcmalloc-minimal4 if they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
threads=${1:-200}
runs=${2:-5}
. bench/peers.sh
install_peers idle_threads.sh
mkdir -p "$BUILD/bench"
cc -std=c11 -O2 -Wall -pthread -o "$BUILD/bench/idle_threads" bench/idle_threads.c
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
run_peers_in_turn idle_threads.sh "$runs" "$work" "$BUILD/bench/idle_threads" "$threads"
echo "$threads threads idle after using every size once; medians of $runs runs (KiB)"
print_peer_medians "$work" rss_before_kib rss_idle_kib per_thread_kib rss_after_exit_kib
