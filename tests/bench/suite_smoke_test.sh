#!/usr/bin/env bash
# suite_smoke_test.sh — keeps the allocator benchmark suite (bench/suite,
# bench/run.sh, bench/report.py) from rotting, without timing anything:
#   1. every program runs at a tiny size under glibc and under heapscope
#      (LD_PRELOAD), prints its one-line result, and both allocators report
#      the same work checksum;
#   2. bad arguments give one line on stderr and exit 2;
#   3. report.py turns a made-up results file into the expected ratios;
#   4. and a made-up micro_pair file into the expected tight-loop checks;
#   5. ab.sh's summary matches the pairs it printed, and its options reach
#      one side only.
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
PYTHON=${PYTHON:-python3}
BIN=$BUILD/bench-suite
case $BUILD in
  /*) LIB=$BUILD/libheapscope.so ;;
  *) LIB=$PWD/$BUILD/libheapscope.so ;;
esac
TMP=$(mktemp -d "${TMPDIR:-/tmp}/hs-suite-smoke.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
failed=0
fail() { echo "FAIL suite_smoke: $*"; failed=$((failed + 1)); }

# program and tiny arguments
smoke=(
  "churn 50" "larson 50 2" "prodcons 50" "scaling 50 3" "cache_scratch 1 2"
  "cache_thrash 1 2" "large 100" "realloc_grow 1" "strcat 20" "tree 2"
  "thread_churn 20 2" "micro_pair 10" "micro_remote 10" "pair_sweep 10 3" "baseline"
  "rebuild_loop 200 2"
)
for entry in "${smoke[@]}"; do
  read -r program args <<<"$entry"
  if [ ! -x "$BIN/$program" ]; then
    fail "$BIN/$program not built (make bench-suite-bins)"
    continue
  fi
  # shellcheck disable=SC2086
  "$BIN/$program" $args >"$TMP/glibc" 2>"$TMP/err" || fail "$program under glibc: exit $?: $(head -c 200 "$TMP/err")"
  # shellcheck disable=SC2086
  LD_PRELOAD=$LIB "$BIN/$program" $args >"$TMP/hs" 2>"$TMP/err" || fail "$program under heapscope: exit $?: $(head -c 200 "$TMP/err")"
  for who in glibc hs; do
    lines=$(wc -l <"$TMP/$who")
    [ "$lines" -eq 1 ] || fail "$program ($who) printed $lines lines, want 1"
    grep -Eq "^$program[a-z0-9_]* .*time_s=[0-9.]+ final_rss_kib=[1-9][0-9]*" "$TMP/$who" ||
      fail "$program ($who) result line malformed: $(head -c 200 "$TMP/$who")"
  done
  check_glibc=$(grep -o 'check=[0-9]*' "$TMP/glibc")
  check_hs=$(grep -o 'check=[0-9]*' "$TMP/hs")
  [ "$check_glibc" = "$check_hs" ] ||
    fail "$program: work checksum differs: glibc '$check_glibc', heapscope '$check_hs'"
  echo "ok $program: $(cat "$TMP/hs")"
done

# tree's phase report: one line of four phase times before the result
if LD_PRELOAD=$LIB "$BIN/tree" 2 2 >"$TMP/phases" 2>"$TMP/err"; then
  grep -Eq '^tree_phases walk_s=[0-9.]+ free_s=[0-9.]+ build_s=[0-9.]+ short_lived_s=[0-9.]+$' \
    <(head -n 1 "$TMP/phases") || fail "tree 2 2: first line is not the phases: $(head -c 200 "$TMP/phases")"
  grep -Eq '^tree ops=2 .*time_s=[0-9.]+ final_rss_kib=[1-9]' <(sed -n 2p "$TMP/phases") ||
    fail "tree 2 2: second line is not the result: $(head -c 200 "$TMP/phases")"
  [ "$(wc -l <"$TMP/phases")" -eq 2 ] || fail "tree 2 2 printed $(wc -l <"$TMP/phases") lines, want 2"
else
  fail "tree 2 2 under heapscope: exit $?: $(head -c 200 "$TMP/err")"
fi

# tree's locality report: the newest tree's pages lie between what its nodes
# alone fill (40-byte nodes) and one page per node and payload; the nodes'
# and the payloads' pages apart are each within that, and together cover it
for who in glibc hs; do
  preload=
  [ "$who" = hs ] && preload=$LIB
  if LD_PRELOAD=$preload "$BIN/tree" 2 1 >"$TMP/locality" 2>"$TMP/err"; then
    line=$(head -n 1 "$TMP/locality")
    if [[ $line =~ ^tree_locality\ nodes=([0-9]+)\ next_node_within_4k=[0-9.]+%\ next_payload_within_4k=[0-9.]+%\ pages_4k=([0-9]+)\ node_pages_4k=([0-9]+)\ payload_pages_4k=([0-9]+)$ ]]; then
      nodes=${BASH_REMATCH[1]} pages=${BASH_REMATCH[2]}
      node_pages=${BASH_REMATCH[3]} payload_pages=${BASH_REMATCH[4]}
      [ "$pages" -ge $((nodes * 40 / 4096)) ] && [ "$pages" -le $((2 * nodes)) ] ||
        fail "tree 2 1 ($who): $pages pages for $nodes nodes"
      [ "$node_pages" -ge $((nodes * 40 / 4096)) ] && [ "$node_pages" -le "$pages" ] &&
        [ "$payload_pages" -ge $((nodes * 16 / 4096)) ] && [ "$payload_pages" -le "$pages" ] &&
        [ "$pages" -le $((node_pages + payload_pages)) ] ||
        fail "tree 2 1 ($who): $pages pages, $node_pages of nodes and $payload_pages of payloads"
    else
      fail "tree 2 1 ($who): first line is not the locality: $(head -c 200 "$TMP/locality")"
    fi
  else
    fail "tree 2 1 ($who): exit $?: $(head -c 200 "$TMP/err")"
  fi
done

# 2. bad input
for bad in "churn 0" "churn x" "larson 10 0" "tree 1 2 3" "tree 1 3"; do
  read -r program args <<<"$bad"
  # shellcheck disable=SC2086
  "$BIN/$program" $args >"$TMP/out" 2>"$TMP/err"
  rc=$?
  [ $rc -eq 2 ] || fail "'$bad' exited $rc, want 2"
  [ "$(wc -l <"$TMP/err")" -eq 1 ] || fail "'$bad' printed $(wc -l <"$TMP/err") stderr lines, want 1"
  [ -s "$TMP/out" ] && fail "'$bad' printed a result"
done

# 3. report.py: heapscope twice mimalloc's time on a, half on b → geomean
# 1.00; peak RSS 3× on a; two runs, medians taken.  On c the medians are
# level (1.5 s each) but run by run heapscope is 2.0× and 0.8× mimalloc:
# the run-by-run line reports c at 1.40×.
{
  printf 'run\tbenchmark\tallocator\twall_s\tpeak_rss_kib\tstatus\toutput\n'
  for run in 1 2; do
    printf '%s\ta\tmimalloc\t1.0\t1024\t0\ta ops=1 time_s=1 final_rss_kib=100 check=1\n' $run
    printf '%s\ta\theapscope\t%s\t3072\t0\ta ops=1 time_s=2 final_rss_kib=50 check=1\n' $run "$([ $run = 1 ] && echo 1.9 || echo 2.1)"
    printf '%s\tb\tmimalloc\t4.0\t2048\t0\tb ops=1 time_s=4 final_rss_kib=100 check=1\n' $run
    printf '%s\tb\theapscope\t2.0\t2048\t0\tb ops=1 time_s=2 final_rss_kib=50 check=1\n' $run
    printf '%s\tc\tmimalloc\t%s\t1024\t0\tc ops=1 time_s=1 final_rss_kib=100 check=1\n' $run "$([ $run = 1 ] && echo 0.5 || echo 2.5)"
    printf '%s\tc\theapscope\t%s\t1024\t0\tc ops=1 time_s=1 final_rss_kib=50 check=1\n' $run "$([ $run = 1 ] && echo 1.0 || echo 2.0)"
  done
  echo '# prof_overhead:   scaled: rate 8192 5.04 ns vs off 4.15 ns: 228 ns per sample in the loop, so +0.014 ns a pair at the default rate'
} >"$TMP/results.tsv"
if "$PYTHON" bench/report.py "$TMP/results.tsv" >"$TMP/report.md" 2>"$TMP/err"; then
  grep -q '^| a | 1.000 | 2.00 | 1.00 | mimalloc | 2.00 |$' "$TMP/report.md" || fail "report: row a wrong"
  grep -q '^| b | 4.000 | 0.50 | 1.00 | mimalloc | 0.50 |$' "$TMP/report.md" || fail "report: row b wrong"
  grep -q '^| \*\*geomean\*\* | | 1.00 | 1.00 | | 1.00 |$' "$TMP/report.md" || fail "report: time geomean wrong"
  grep -q '^| a | 1.0 | 3.00 | 1.00 |$' "$TMP/report.md" || fail "report: peak RSS row wrong"
  grep -q 'geomean time heapscope / mimalloc: 1.000' "$TMP/report.md" || fail "report: acceptance line wrong"
  grep -q 'benchmarks > 1.25× the fastest anchor: a 2.00× mimalloc$' "$TMP/report.md" ||
    fail "report: worst-benchmark line wrong"
  grep -q 'run by run (median of each run.s heapscope / that anchor): a 2.00× mimalloc, c 1.40× mimalloc$' \
    "$TMP/report.md" || fail "report: run-by-run line wrong"
  grep -q 'one process, scaled from rate 8 KiB: +0.014 ns (target within ±0.1 ns: ok)' "$TMP/report.md" ||
    fail "report: scaled profiling line wrong"
  grep -q '^- prof_overhead' "$TMP/report.md" && fail "report: prof_overhead lines listed with the header"
else
  fail "report.py failed: $(head -c 200 "$TMP/err")"
fi
"$PYTHON" bench/report.py "$TMP/missing.tsv" >/dev/null 2>"$TMP/err" && fail "report.py accepted a missing file"
[ "$(wc -l <"$TMP/err")" -eq 1 ] || fail "report.py on a missing file: want one stderr line"

# 4. report.py on micro_pair, three runs: medians level (3.0 ns each) but
# run by run heapscope is 0.50×, 1.33× and 1.50× mimalloc; on − off is
# +0.95 ns by medians and −0.05 ns run by run.
{
  printf 'run\tbenchmark\tallocator\twall_s\tpeak_rss_kib\tstatus\toutput\n'
  for r in "1 2.0 2.05 4.0" "2 4.0 4.5 3.0" "3 3.0 2.0 2.0"; do
    set -- $r
    printf '%s\tmicro_pair\theapscope\t1.0\t1024\t0\tmicro_pair tight_32=%s time_s=1\n' $1 $2
    printf '%s\tmicro_pair\theapscope_off\t1.0\t1024\t0\tmicro_pair tight_32=%s time_s=1\n' $1 $3
    printf '%s\tmicro_pair\tmimalloc\t1.0\t1024\t0\tmicro_pair tight_32=%s time_s=1\n' $1 $4
  done
} >"$TMP/micro.tsv"
if "$PYTHON" bench/report.py "$TMP/micro.tsv" >"$TMP/micro.md" 2>"$TMP/err"; then
  grep -q 'tight loop: heapscope 3.00 ns, fastest anchor mimalloc 3.00 ns (ok)$' "$TMP/micro.md" ||
    fail "report: tight-loop line wrong"
  grep -q "run by run (median of each run's heapscope / mimalloc): 1.33× (MISSED)$" "$TMP/micro.md" ||
    fail "report: tight-loop run-by-run line wrong"
  grep -q 'separate processes: +0.95 ns (target within ±0.1 ns: MISSED)$' "$TMP/micro.md" ||
    fail "report: on − off line wrong"
  grep -q "run by run (median of each run's on − off): -0.05 ns (target within ±0.1 ns: ok)$" \
    "$TMP/micro.md" || fail "report: on − off run-by-run line wrong"
else
  fail "report.py failed on micro_pair: $(head -c 200 "$TMP/err")"
fi

# 5. ab.sh: 15 pairs of the library against itself; the median and its 95%
# interval (the 4th and 12th of the 15 sorted ratios) match the pairs it
# printed; 5 pairs are too few for an interval; a bad FIELD is refused.
if BUILD=$BUILD bash bench/ab.sh "$LIB" "$LIB" 15 churn 50 >"$TMP/ab" 2>"$TMP/err"; then
  expect=$(sed -n 's/^pair [0-9]*: A \([0-9.]*\), B \([0-9.]*\) (time_s)$/\1 \2/p' "$TMP/ab" |
    awk '{ printf "%.4f\n", $1 / $2 }' | sort -n |
    awk '{ r[NR] = $1 } END { if (NR == 15) printf "%.3f %.3f %.3f %.3f %.3f", r[8], r[1], r[15], r[4], r[12] }')
  got=$(sed -n 's/^median A\/B over 15 pairs: \([0-9.]*\) (min \([0-9.]*\), max \([0-9.]*\); 95% interval \([0-9.]*\)-\([0-9.]*\))$/\1 \2 \3 \4 \5/p' "$TMP/ab")
  [ -n "$expect" ] && [ "$got" = "$expect" ] ||
    fail "ab.sh: summary '$got', from its pairs '$expect': $(tail -n 1 "$TMP/ab")"
else
  fail "ab.sh: exit $?: $(head -c 200 "$TMP/err")"
fi
BUILD=$BUILD bash bench/ab.sh "$LIB" "$LIB" 5 churn 50 >"$TMP/ab" 2>"$TMP/err" ||
  fail "ab.sh 5 pairs: exit $?: $(head -c 200 "$TMP/err")"
grep -Eq '^median A/B over 5 pairs: [0-9.]+ \(min [0-9.]+, max [0-9.]+\)$' <(tail -n 1 "$TMP/ab") ||
  fail "ab.sh 5 pairs: want no interval: $(tail -n 1 "$TMP/ab")"
# HEAPSCOPE_A reaches A's runs only: 3 pairs print 3 statistics blocks
BUILD=$BUILD HEAPSCOPE_A=stats_at_exit=1 bash bench/ab.sh "$LIB" "$LIB" 3 churn 50 >/dev/null 2>"$TMP/err" ||
  fail "ab.sh HEAPSCOPE_A: exit $?"
[ "$(grep -c '^------ heapscope' "$TMP/err")" -eq 3 ] ||
  fail "ab.sh HEAPSCOPE_A=stats_at_exit=1: $(grep -c '^------ heapscope' "$TMP/err") statistics blocks, want 3"
BUILD=$BUILD FIELD=no_such_figure bash bench/ab.sh "$LIB" "$LIB" 1 churn 50 >/dev/null 2>&1
[ $? -eq 1 ] || fail "ab.sh: a figure the program does not print: want exit 1"
BUILD=$BUILD FIELD='x;y' bash bench/ab.sh "$LIB" "$LIB" 1 churn 50 >/dev/null 2>&1
[ $? -eq 2 ] || fail "ab.sh: a malformed FIELD: want exit 2"

if [ $failed -gt 0 ]; then
  echo "suite_smoke_test: $failed failure(s)"
  exit 1
fi
echo "suite_smoke_test: ok"
