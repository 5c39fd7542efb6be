#!/usr/bin/env bash
# run.sh — the allocator benchmark suite (bench/suite/*.c) under heapscope
# (profiling at the default rate, and off), glibc, jemalloc, mimalloc and
# tcmalloc, side by side; writes the table to bench/results/latest.md (see
# docs/performance.md for how to read it).  Not part of `make test`.
#   bash bench/run.sh [--quick] [--runs N] [--only NAME,NAME] [--out FILE]
# BUILD (default build) holds libheapscope.so and bench-suite/; both are
# built here unless --no-build.  Runs alternate allocators run by run; each
# figure is the median of --runs runs (5; 3 with --quick, which also uses
# smaller sizes).  Wall time is taken around the process, peak RSS is
# /usr/bin/time's maximum resident set, final RSS is what the program reads
# from /proc/self/statm after freeing everything.  After the runs,
# micro_pair runs in 21 alternating pairs (5 with --quick) under heapscope
# with profiling on and off, for the on − off figure of the pair.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
PYTHON=${PYTHON:-python3}

usage() {
  echo "usage: bash bench/run.sh [--quick] [--runs N] [--only NAME,NAME] [--out FILE] [--no-build]" >&2
  exit 2
}

quick=0
runs=
only=
out=bench/results/latest.md
build=1
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=1 ;;
    --runs) [ $# -ge 2 ] || usage; runs=$2; shift ;;
    --only) [ $# -ge 2 ] || usage; only=$2; shift ;;
    --out) [ $# -ge 2 ] || usage; out=$2; shift ;;
    --no-build) build=0 ;;
    *) usage ;;
  esac
  shift
done
if [ -z "$runs" ]; then
  runs=$([ $quick -eq 1 ] && echo 3 || echo 5)
fi
case $runs in
  '' | *[!0-9]* | 0) echo "run.sh: --runs must be a positive integer, got '$runs'" >&2; exit 2 ;;
esac

# ---- The allocators (installing the Debian packages if missing) ----
. bench/peers.sh
install_peers run.sh
if [ ! -x /usr/bin/time ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "run.sh: /usr/bin/time is missing: please install the package 'time'" >&2
    exit 1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >&2
fi

if [ $build -eq 1 ]; then
  make -s BUILD="$BUILD" "$BUILD/libheapscope.so" bench-suite-bins "$BUILD/bench/prof_overhead" >&2
fi
case $BUILD in
  /*) BUILD_ABS=$BUILD ;;
  *) BUILD_ABS=$PWD/$BUILD ;;
esac
HS_LIB=$BUILD_ABS/libheapscope.so
BIN=$BUILD_ABS/bench-suite
for f in "$HS_LIB" "$BIN/churn"; do
  [ -f "$f" ] || { echo "run.sh: $f is missing (run make BUILD=$BUILD all bench-suite-bins)" >&2; exit 1; }
done

# name → LD_PRELOAD and HEAPSCOPE settings.  The order here is the table's.
allocators=(heapscope heapscope_off glibc jemalloc mimalloc tcmalloc)
preload_of() {
  case $1 in
    heapscope | heapscope_off) echo "$HS_LIB" ;;
    glibc) echo "" ;;
    jemalloc) echo "$LIBDIR/libjemalloc.so.2" ;;
    mimalloc) echo "$LIBDIR/libmimalloc.so.2" ;;
    tcmalloc) echo "$LIBDIR/libtcmalloc_minimal.so.4" ;;
  esac
}
heapscope_env_of() {
  case $1 in
    heapscope_off) echo "sample_rate_bytes=0" ;;
    *) echo "" ;;
  esac
}

# ---- The benchmarks: row name, program, full arguments, quick arguments ----
# Full sizes take ~0.5-2 s each under mimalloc on the reference 2-core machine
# (the programs' defaults are these full sizes).
benchmarks=(
  "churn churn 16000 4000"
  "larson larson 32000_2 8000_2"
  "prodcons prodcons 24000 6000"
  "scaling_t2 scaling 32000_2 8000_2"
  "scaling_t8 scaling 8000_8 2000_8"
  "cache_scratch cache_scratch 200 50"
  "cache_thrash cache_thrash 200 50"
  "large large 16000 4000"
  "realloc_grow realloc_grow 180 45"
  "strcat strcat 8000 2000"
  "tree tree 1200 300"
  "thread_churn thread_churn 5000 1250"
  "micro_pair micro_pair 10000 2500"
  "micro_remote micro_remote 4000 1000"
)
selected=()
for b in "${benchmarks[@]}"; do
  read -r row _ <<<"$b"
  if [ -z "$only" ] || [[ ",$only," == *",$row,"* ]]; then selected+=("$b"); fi
done
[ "${#selected[@]}" -gt 0 ] || { echo "run.sh: --only '$only' matches no benchmark" >&2; exit 2; }

mkdir -p "$(dirname "$out")"
raw=${out%.md}.tsv
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

{
  echo "# started $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "# command: bash bench/run.sh $([ $quick -eq 1 ] && echo --quick) --runs $runs${only:+ --only $only}"
  echo "# git HEAD: $(git rev-parse HEAD 2>/dev/null || echo unknown)"
  echo "# git status --short src: $(git status --short src 2>/dev/null | tr '\n' ' ')"
  echo "# library: $HS_LIB built $(date -u -r "$HS_LIB" '+%Y-%m-%d %H:%M:%S UTC'), sha256 $(sha256sum "$HS_LIB" | cut -c1-16)$([ $build -eq 0 ] && echo ' (--no-build: check it matches the revision above)')"
  echo "# cpu: $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores"
  echo "# loadavg at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  printf 'run\tbenchmark\tallocator\twall_s\tpeak_rss_kib\tstatus\toutput\n'
} >"$raw"

started=$(date +%s)
for ((r = 1; r <= runs; r++)); do
  for b in "${selected[@]}"; do
    read -r row program full_args quick_args <<<"$b"
    args=$([ $quick -eq 1 ] && echo "$quick_args" || echo "$full_args")
    # Rotate the allocator order every run and benchmark, so no allocator
    # always runs right after the same neighbour.
    count=${#allocators[@]}
    shift_by=$(((r + ${#row}) % count))
    for ((k = 0; k < count; k++)); do
      a=${allocators[$(((k + shift_by) % count))]}
      preload=$(preload_of "$a")
      hs_env=$(heapscope_env_of "$a")
      start=$EPOCHREALTIME
      status=0
      # shellcheck disable=SC2086
      /usr/bin/time -f '%M' -o "$work/time" \
        env ${preload:+LD_PRELOAD=$preload} ${hs_env:+HEAPSCOPE=$hs_env} \
        timeout 300 "$BIN/$program" ${args//_/ } >"$work/out" 2>"$work/err" || status=$?
      end=$EPOCHREALTIME
      wall=$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.4f", e - s }')
      peak=$(tail -n 1 "$work/time")
      line=$(head -n 1 "$work/out")
      if [ $status -ne 0 ] || [ -z "$line" ]; then
        echo "run.sh: $row under $a failed (exit $status): $(head -c 300 "$work/err")" >&2
      fi
      printf '%d\t%s\t%s\t%s\t%s\t%d\t%s\n' "$r" "$row" "$a" "$wall" "$peak" "$status" "$line" >>"$raw"
    done
  done
  echo "run $r of $runs done ($(($(date +%s) - started)) s)" >&2
done
# Profiling on against off on the malloc+free pair needs more than --runs
# processes to resolve 0.1 ns: run to run, tight_32 moves by 0.3 ns and more.
# So micro_pair runs again, heapscope and heapscope_off in alternating
# pairs (each pair's order swapped), and the report takes the median of the
# pairs' differences.
onoff_pairs=$([ $quick -eq 1 ] && echo 5 || echo 21)
if [[ " ${selected[*]} " == *" micro_pair micro_pair "* ]]; then
  for ((p = 1; p <= onoff_pairs; p++)); do
    pair=(heapscope heapscope_off)
    [ $((p % 2)) -eq 0 ] && pair=(heapscope_off heapscope)
    for a in "${pair[@]}"; do
      hs_env=$(heapscope_env_of "$a")
      status=0
      env LD_PRELOAD="$(preload_of "$a")" ${hs_env:+HEAPSCOPE=$hs_env} \
        timeout 300 "$BIN/micro_pair" 2500 >"$work/out" 2>"$work/err" || status=$?
      [ $status -eq 0 ] || echo "run.sh: micro_pair under $a failed (exit $status): $(head -c 300 "$work/err")" >&2
      printf '%d\t%s\t%s\t%s\t%s\t%d\t%s\n' "$p" micro_pair_onoff "$a" 0 0 "$status" \
        "$(head -n 1 "$work/out")" >>"$raw"
    done
  done
  echo "on/off pairs done ($(($(date +%s) - started)) s)" >&2
fi
echo "# loadavg at end: $(cut -d' ' -f1-3 /proc/loadavg); $(($(date +%s) - started)) s" >>"$raw"
# The profiler's cost on the pair, in one process (see docs/performance.md).
if [ -x "$BUILD_ABS/bench/prof_overhead" ]; then
  echo "run.sh: bench/prof_overhead" >&2
  "$BUILD_ABS/bench/prof_overhead" 2>&1 | sed 's/^/# prof_overhead: /' >>"$raw"
fi

"$PYTHON" bench/report.py "$raw" >"$out"
cat "$out"
echo "raw figures: $raw; table: $out" >&2
