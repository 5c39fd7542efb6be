#!/usr/bin/env bash
# free_padding.sh — how much each instruction of a free costs tree's free
# phase: `tree 600 2` under mimalloc with bench/free_padding.c's free in
# front of it, padded with 0, 8, 16 and 32 extra instructions, and under
# heapscope, the five taking turns run by run; prints each one's median
# free phase (seconds) over RUNS runs.  If the phase were bound by its
# misses alone, padding would hide behind them and the times stay flat.
#   bash bench/free_padding.sh [runs=7]   (BUILD=build by default)
# Needs $BUILD/libheapscope.so and $BUILD/bench-suite/tree (make bench-suite-bins).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
runs=${1:-7}
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || { echo "usage: bash bench/free_padding.sh [runs=7]" >&2; exit 2; }
source bench/peers.sh
install_peers free_padding.sh
tree=$BUILD/bench-suite/tree
[ -x "$tree" ] || { echo "free_padding.sh: $tree is missing (make bench-suite-bins)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
paddings=(0 8 16 32)
for n in "${paddings[@]}"; do
  cc -std=c11 -O2 -Wall -shared -fPIC -DFREE_PADDING="$n" -o "$work/pad$n.so" bench/free_padding.c -ldl
done
mimalloc=$LIBDIR/libmimalloc.so.2
names=() preloads=()
for n in "${paddings[@]}"; do names+=("mimalloc+$n"); preloads+=("$work/pad$n.so:$mimalloc"); done
names+=(heapscope); preloads+=("$(realpath "$BUILD/libheapscope.so")")
for ((r = 0; r < runs; r++)); do
  for i in "${!names[@]}"; do
    LD_PRELOAD=${preloads[$i]} "$tree" 600 2 |
      sed -n "s/.* free_s=\([0-9.]*\).*/${names[$i]} \1/p" >>"$work/times"
  done
done
echo "tree 600 2: free phase, median of $runs runs (s)"
for name in "${names[@]}"; do
  awk -v n="$name" '$1 == n { t[++k] = $2 } END {
    for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (t[j] < t[i]) { x = t[i]; t[i] = t[j]; t[j] = x }
    m = k % 2 ? t[(k + 1) / 2] : (t[k / 2] + t[k / 2 + 1]) / 2
    printf "%-14s %.4f  (%.4f-%.4f)\n", n, m, t[1], t[k] }' "$work/times"
done
