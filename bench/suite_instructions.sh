#!/usr/bin/env bash
# suite_instructions.sh — what one run of a suite program executes under
# each allocator, counted by callgrind with its cache model: instructions,
# first-level data cache read misses (the model's D1, this machine's
# geometry) and last-level read misses, with ratios to mimalloc.  A count
# does not move with the host the way wall time does here (pairs of timed
# runs swing 0.5-1.6x), so a change of a few percent shows in one run;
# what the model leaves out (the TLB, the second-level cache,
# memory-level parallelism, branch prediction) it cannot show.
#   bash bench/suite_instructions.sh PROGRAM [ARGS...]   e.g. tree 100
# ALLOCATORS="heapscope heapscope_off" counts only those (default: all
# six); ratios then need mimalloc among them.
# Needs valgrind, $BUILD/libheapscope.so and $BUILD/bench-suite (make
# bench-suite-bins); installs the peers (bench/peers.sh) if missing.
# OUT=DIR keeps callgrind's files there (DIR/NAME.PID), for the functions
# behind a count: callgrind_annotate DIR/heapscope.* (docs/performance.md).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
[ $# -ge 1 ] || { echo "usage: bash bench/suite_instructions.sh PROGRAM [ARGS...]" >&2; exit 2; }
program=$BUILD/bench-suite/$1
shift
args=("$@")
[ -x "$program" ] || { echo "suite_instructions.sh: $program is missing (make bench-suite-bins)" >&2; exit 1; }
command -v valgrind >/dev/null || { echo "suite_instructions.sh: valgrind is missing" >&2; exit 1; }
. bench/peers.sh
install_peers suite_instructions.sh
lib=$(cd "$BUILD" && pwd)/libheapscope.so
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
out=${OUT:-$work}
mkdir -p "$out"

# count NAME PRELOAD [ENV...]: one line "NAME Ir D1mr LLmr" in $work/counts.
count() {
  local name=$1 preload=$2
  shift 2
  # env runs under valgrind too (--trace-children), so the preload reaches
  # the program and not valgrind itself; the program's exec keeps the pid.
  valgrind --tool=callgrind --cache-sim=yes --trace-children=yes \
    --callgrind-out-file="$out/$name.%p" \
    env "$@" ${preload:+LD_PRELOAD=$preload} "$program" "${args[@]}" 2>"$work/$name.err" >/dev/null
  awk -v name="$name" '
    /== I *refs:/ { gsub(",", "", $4); ir = $4 }
    /== D1 *misses:/ { gsub(",", "", $6); d1 = $6 }
    /== LL *misses:/ { gsub(",", "", $6); ll = $6 }
    END { if (ir == "") { print "suite_instructions.sh: no count for " name > "/dev/stderr"; exit 1 }
          print name, ir, d1, ll }' "$work/$name.err" >>"$work/counts"
}

: >"$work/counts"
for allocator in ${ALLOCATORS:-heapscope heapscope_off glibc jemalloc mimalloc tcmalloc}; do
  case $allocator in
  heapscope) count heapscope "$lib" ;;
  heapscope_off) count heapscope_off "$lib" HEAPSCOPE=sample_rate_bytes=0 ;;
  glibc) count glibc "" ;;
  jemalloc) count jemalloc "$LIBDIR/libjemalloc.so.2" ;;
  mimalloc) count mimalloc "$LIBDIR/libmimalloc.so.2" ;;
  tcmalloc) count tcmalloc "$LIBDIR/libtcmalloc_minimal.so.4" ;;
  *) echo "suite_instructions.sh: unknown allocator $allocator" >&2; exit 2 ;;
  esac
done
echo "$(basename "$program") $*: one run under callgrind --cache-sim=yes"
awk '
  { name[NR] = $1; ir[NR] = $2; d1[NR] = $3; ll[NR] = $4; if ($1 == "mimalloc") m = NR }
  function ratio(x, y) { return m && y > 0 ? sprintf("%7.3f", x / y) : "      -" }
  END {
    printf "%-14s %15s %7s %12s %7s %10s %7s\n", "allocator", "instructions", "/mi", "D1 rd miss", "/mi",
           "LL rd miss", "/mi"
    for (i = 1; i <= NR; i++)
      printf "%-14s %15.0f %s %12.0f %s %10.0f %s\n", name[i], ir[i], ratio(ir[i], ir[m]), d1[i],
             ratio(d1[i], d1[m]), ll[i], ratio(ll[i], ll[m])
  }' "$work/counts"
