#!/usr/bin/env bash
# rss_return.sh — the RSS-return figure for heapscope, glibc, jemalloc,
# mimalloc and tcmalloc side by side (a benchmark: not run by make test).
#   bash bench/rss_return.sh            (BUILD=build by default)
# Needs build/libheapscope.so (make); installs the Debian packages
# libjemalloc2 libmimalloc2.0 libtcmalloc-minimal4 if they are missing.
# Columns (MiB unless noted): peak RSS after allocating ~1.1 GiB; RSS right
# after freeing everything; 1 s, 3 s and 5 s later (no allocator calls);
# the 3 s figure as % of peak; seconds until RSS < 10% of peak; RSS after
# malloc_trim(0).  heapscope runs three times: as it comes; with
# release_on_drain=0,scavenger=2 (hs_nodrain), where only the background
# scavenger returns memory; and with release_on_drain=0 alone (hs_steps):
# this program has one thread, so by default it gets no scavenger thread,
# and the steps run only inside its allocator calls (docs/memory.md).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
. bench/peers.sh
install_peers rss_return.sh
if [ ! -f "$BUILD/libheapscope.so" ]; then
  echo "rss_return.sh: $BUILD/libheapscope.so is missing (run make)" >&2
  exit 1
fi
mkdir -p "$BUILD/bench"
cc -std=c11 -O2 -Wall -o "$BUILD/bench/rss_return" bench/rss_return.c
heapscope_lib=$(cd "$BUILD" && pwd)/libheapscope.so

printf '%-10s %8s %10s %8s %8s %8s %10s %12s %10s\n' allocator peak after_free at_1s at_3s \
  at_5s 'at_3s/peak' 'to_<10%_s' after_trim
run() { # name preload [HEAPSCOPE options]
  env ${2:+LD_PRELOAD=$2} ${3:+HEAPSCOPE=$3} "$BUILD/bench/rss_return" "$1"
}
run heapscope "$heapscope_lib"
run hs_nodrain "$heapscope_lib" release_on_drain=0,scavenger=2
run hs_steps "$heapscope_lib" release_on_drain=0
run glibc ""
run jemalloc "$LIBDIR/libjemalloc.so.2"
run mimalloc "$LIBDIR/libmimalloc.so.2"
run tcmalloc "$LIBDIR/libtcmalloc_minimal.so.4"
