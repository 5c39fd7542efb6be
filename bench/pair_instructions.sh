#!/usr/bin/env bash
# pair_instructions.sh — instructions a malloc(32)+free pair executes, per
# allocator: callgrind counts bench/pair_loop at 1 M and at 2 M pairs and the
# difference over 1 M is one pair's cost (start-up and exit cancel out).
# heapscope (profiling on), heapscope_off, the hardened build, glibc,
# jemalloc, mimalloc and tcmalloc (installed by bench/peers.sh if missing).
#   bash bench/pair_instructions.sh [SIZE [BATCH]]
# SIZE and BATCH go to pair_loop (BATCH mallocs, then their frees).
# PAIRS=N counts at N and 2N pairs instead (a multiple of BATCH);
# ALLOCATORS="heapscope heapscope_off" picks rows.  HEAPSCOPE in the
# environment reaches the heapscope row (HEAPSCOPE=sample_rate_bytes=1:
# every allocation sampled, a sample's cost).  VIA=operator_new makes the
# pairs C++'s operator new and delete (through libstdc++; needs g++);
# VIA=calloc makes them calloc(1, SIZE) and free.
# Needs valgrind and $BUILD/libheapscope.so; the hardened row only where
# $BUILD/hardened/libheapscope.so is built (make hardened).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
. bench/peers.sh
install_peers pair_instructions.sh
command -v valgrind >/dev/null || { echo "pair_instructions.sh: valgrind is missing" >&2; exit 1; }
mkdir -p "$BUILD/bench"
case ${VIA:-malloc} in
  malloc) cc -std=c11 -O2 -Wall -o "$BUILD/bench/pair_loop" bench/pair_loop.c ;;
  operator_new)
    cc -std=c11 -O2 -Wall -DVIA_OPERATOR_NEW -o "$BUILD/bench/pair_loop" bench/pair_loop.c -lstdc++ ;;
  calloc) cc -std=c11 -O2 -Wall -DVIA_CALLOC -o "$BUILD/bench/pair_loop" bench/pair_loop.c ;;
  *) echo "pair_instructions.sh: VIA is malloc, operator_new or calloc" >&2; exit 2 ;;
esac
loop=$(cd "$BUILD/bench" && pwd)/pair_loop
lib=$(cd "$BUILD" && pwd)/libheapscope.so
hardened=$(cd "$BUILD" && pwd)/hardened/libheapscope.so
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
loop_args=("$@")
pairs=${PAIRS:-1000000}
allocators=${ALLOCATORS:-heapscope heapscope_off hardened glibc jemalloc mimalloc tcmalloc}
[[ "$pairs" =~ ^[1-9][0-9]*$ ]] || { echo "pair_instructions.sh: PAIRS must be a count" >&2; exit 2; }
"$loop" "$pairs" "${loop_args[@]}" ||
  { echo "pair_instructions.sh: pair_loop N [SIZE [BATCH]]: BATCH 1..1024 dividing PAIRS" >&2; exit 2; }

# instructions NAME PRELOAD [ENV...]: prints NAME and the per-pair count.
instructions() {
  local name=$1 preload=$2
  shift 2
  local counts=()
  [[ " $allocators " == *" $name "* ]] || return 0
  for count in "$pairs" "$((2 * pairs))"; do
    env "$@" ${preload:+LD_PRELOAD=$preload} valgrind --tool=callgrind \
      --callgrind-out-file="$work/out" "$loop" "$count" "${loop_args[@]}" 2>"$work/err" >/dev/null
    counts+=("$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$work/err")")
  done
  awk -v name="$name" -v a="${counts[0]}" -v b="${counts[1]}" -v n="$pairs" \
    'BEGIN { printf "%-14s %7.2f instructions a pair\n", name, (b - a) / n }'
}

instructions heapscope "$lib"
instructions heapscope_off "$lib" HEAPSCOPE=sample_rate_bytes=0
[ -f "$hardened" ] && instructions hardened "$hardened"
instructions glibc ""
instructions jemalloc "$LIBDIR/libjemalloc.so.2"
instructions mimalloc "$LIBDIR/libmimalloc.so.2"
instructions tcmalloc "$LIBDIR/libtcmalloc_minimal.so.4"
