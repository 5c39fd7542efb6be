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
if [ ! -f "$BUILD/libheapscope.so" ]; then
  echo "idle_threads.sh: $BUILD/libheapscope.so is missing (run make)" >&2
  exit 1
fi
mkdir -p "$BUILD/bench"
cc -std=c11 -O2 -Wall -pthread -o "$BUILD/bench/idle_threads" bench/idle_threads.c
heapscope_lib=$(cd "$BUILD" && pwd)/libheapscope.so
names=(heapscope glibc jemalloc mimalloc tcmalloc)
libs=("$heapscope_lib" "" "$LIBDIR/libjemalloc.so.2" "$LIBDIR/libmimalloc.so.2"
  "$LIBDIR/libtcmalloc_minimal.so.4")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for ((run = 0; run < runs; run++)); do
  for i in "${!names[@]}"; do
    env ${libs[$i]:+LD_PRELOAD=${libs[$i]}} "$BUILD/bench/idle_threads" "$threads" >>"$work/${names[$i]}"
  done
done
echo "$threads threads idle after using every size once; medians of $runs runs (KiB)"
printf '%-10s %12s %12s %15s %16s\n' allocator rss_before rss_idle per_thread rss_after_exit
for name in "${names[@]}"; do
  python3 - "$name" "$work/$name" <<'PY'
import statistics, sys
rows = [dict(f.split("=") for f in line.split()) for line in open(sys.argv[2])]
med = lambda k: int(statistics.median(int(r[k]) for r in rows))
print("%-10s %12d %12d %15d %16d" % (sys.argv[1], med("rss_before_kib"), med("rss_idle_kib"),
                                     med("per_thread_kib"), med("rss_after_exit_kib")))
PY
done
