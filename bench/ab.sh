#!/usr/bin/env bash
# ab.sh — two builds of the library side by side on one suite program:
# PAIRS alternating runs (A B, then B A, ...), each run's time_s (or FIELD) as the
# program prints it, and the median of the pairs' A/B ratios with its 95%
# interval (a benchmark: make test checks its arithmetic, not its timing).
# The order swaps each pair so that neither build always runs on a host
# warmed by the other.
#   bash bench/ab.sh LIB_A LIB_B PAIRS PROGRAM [ARGS...]
#   e.g. bash bench/ab.sh build/libheapscope.so /tmp/old/libheapscope.so 21 tree 1200
# PROGRAM is a name in $BUILD/bench-suite (make bench-suite-bins).
# FIELD=NAME compares another NAME=value figure the program prints instead
# of time_s: e.g. FIELD=free_s for `tree 600 2`'s free phase, FIELD=tight_32
# for micro_pair's malloc(32)+free loop.
# HEAPSCOPE_A=OPTIONS and HEAPSCOPE_B=OPTIONS set HEAPSCOPE for one side's
# runs (an option against the default, with the same library on both).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
FIELD=${FIELD:-time_s}
[[ "$FIELD" =~ ^[a-z0-9_]+$ ]] || { echo "ab.sh: FIELD must be a figure's name, like free_s" >&2; exit 2; }
[ $# -ge 4 ] || { echo "usage: bash bench/ab.sh LIB_A LIB_B PAIRS PROGRAM [ARGS...]" >&2; exit 2; }
lib_a=$(realpath "$1") lib_b=$(realpath "$2") pairs=$3 program=$BUILD/bench-suite/$4
options_a=${HEAPSCOPE_A-${HEAPSCOPE-}} options_b=${HEAPSCOPE_B-${HEAPSCOPE-}}
shift 4
[ -x "$program" ] || { echo "ab.sh: $program is missing (make bench-suite-bins)" >&2; exit 1; }
figure_of() { # LIB OPTIONS ARGS...: one run's $FIELD
  local lib=$1 options=$2 figure
  shift 2
  figure=$(HEAPSCOPE=$options LD_PRELOAD=$lib "$program" "$@" |
    sed -n "s/.* $FIELD=\([0-9.]*\).*/\1/p" | head -1)
  [ -n "$figure" ] || { echo "ab.sh: $program printed no $FIELD" >&2; exit 1; }
  echo "$figure"
}
ratios=()
for ((i = 0; i < pairs; i++)); do
  if ((i % 2 == 0)); then a=$(figure_of "$lib_a" "$options_a" "$@"); b=$(figure_of "$lib_b" "$options_b" "$@")
  else b=$(figure_of "$lib_b" "$options_b" "$@"); a=$(figure_of "$lib_a" "$options_a" "$@"); fi
  echo "pair $((i + 1)): A $a, B $b ($FIELD)"
  ratio=$(awk -v a="$a" -v b="$b" 'BEGIN { if (b + 0 == 0) exit 1; printf "%.4f", a / b }') ||
    { echo "ab.sh: B's $FIELD is 0 in pair $((i + 1)): no ratio (give the program more work)" >&2; exit 1; }
  ratios+=("$ratio")
done
# The median's 95% interval needs no model of the noise: the k-th smallest
# and the k-th largest ratio, k the largest rank with P(X <= k - 1) <= 2.5%
# for X ~ Binomial(pairs, 1/2) (at least 6 pairs).  An interval that holds
# 1.000 is a difference this many pairs cannot tell from the host's noise.
printf '%s\n' "${ratios[@]}" | sort -n |
  awk '{ r[NR] = $1 } END {
         n = NR; m = n % 2 ? r[(n + 1) / 2] : (r[n / 2] + r[n / 2 + 1]) / 2;
         k = 0; log_term = n * log(0.5); cdf = exp(log_term);
         for (j = 0; j < n && cdf <= 0.025; ) {
           k = j + 1; j++; log_term += log((n - j + 1) / j); cdf += exp(log_term)
         }
         printf "median A/B over %d pairs: %.3f (min %.3f, max %.3f", n, m, r[1], r[n];
         if (k > 0) printf "; 95%% interval %.3f-%.3f", r[k], r[n - k + 1];
         printf ")\n" }'
