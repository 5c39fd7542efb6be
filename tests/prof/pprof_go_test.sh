#!/usr/bin/env bash
# pprof_go_test.sh — `go tool pprof` (Debian's golang-go) reads heapscope's
# profiles: all four sample indexes, function names in -top, per-line values
# in -list, inline frames and mapping flags in -raw, labels in -tagfocus.
#   1. fake buckets at real call sites of fake_sites (values known exactly);
#   2. a real profile of alloc_sites at sample_rate_bytes=1 (exact too).
# -symbolize=none everywhere: every name and line must come from the file.
set -u
source "$(dirname "$0")/lib.sh"
require_go

# ---- 1. Fake buckets at known sites ----
sites=$("$BUILD/tests/prof/fake_sites" "$tmp/heap.pb.gz" heap) || { echo "FAIL: fake_sites"; exit 1; }
"$BUILD/tests/prof/fake_sites" "$tmp/allocs.pb.gz" allocs >/dev/null || { echo "FAIL: fake_sites"; exit 1; }
line_of() { awk -v f="$1" '$1 == "site" && $2 == f { print $3 }' <<<"$sites"; }
small_line=$(line_of small_site)
helper_line=$(line_of inlined_helper)
big_line=$(line_of big_site)
echo "call lines: small_site $small_line, inlined_helper $helper_line, big_site $big_line"

# The values fake_sites stored: small 3 objects / 3000 B (1 / 1000 B freed),
# big (through the inlined helper) 5 / 500000 B, all live.
declare -A small_value=([alloc_objects]=3 [alloc_space]=3000B [inuse_objects]=2 [inuse_space]=2000B)
declare -A big_value=([alloc_objects]=5 [alloc_space]=500000B [inuse_objects]=5 [inuse_space]=500000B)
# -unit=B prints bytes exactly (and would suffix counts too: space only).
unit_for() { case $1 in *_space) echo -unit=B ;; *) echo -unit=minimum ;; esac; }
for index in alloc_objects alloc_space inuse_objects inuse_space; do
  out=$(pprof -sample_index=$index $(unit_for $index) -nodefraction=0 -top "$tmp/heap.pb.gz")
  expect_match "-top $index" "$out" "^Type: $index\$"
  expect_match "-top $index small_site" "$out" "^ +${small_value[$index]} .* small_site\$"
  expect_match "-top $index inlined_helper" "$out" "^ +${big_value[$index]} .* inlined_helper \(inline\)\$"
  expect_match "-top $index big_site" "$out" "^ +0 .* ${big_value[$index]} .* big_site\$"
  expect_match "-top $index main" "$out" " main\$"
  out=$(pprof -sample_index=$index $(unit_for $index) -list 'small_site|big_site|inlined_helper' "$tmp/heap.pb.gz")
  expect_match "-list $index small_site" "$out" "^ +${small_value[$index]} +${small_value[$index]} +$small_line:"
  expect_match "-list $index big_site" "$out" "^ +\. +${big_value[$index]} +$big_line:"
  expect_match "-list $index inlined_helper" "$out" "^ +${big_value[$index]} +${big_value[$index]} +$helper_line:"
done

# Default sample types: unset for heap (pprof shows the last, inuse_space),
# alloc_space for allocs.
expect_match "heap default" "$(pprof -top "$tmp/heap.pb.gz")" "^Type: inuse_space\$"
expect_match "allocs default" "$(pprof -top "$tmp/allocs.pb.gz")" "^Type: alloc_space\$"

raw=$(pprof -raw "$tmp/heap.pb.gz")
expect_match "-raw period" "$raw" "^PeriodType: space bytes\$"
expect_match "-raw period" "$raw" "^Period: 4096\$"
expect_match "-raw types" "$raw" "^alloc_objects/count alloc_space/bytes inuse_objects/count inuse_space/bytes\$"
expect_match "-raw values" "$raw" "^ +3 +3000 +2 +2000: "
expect_match "-raw labels" "$raw" "worker:\[a\]"
# The inlined location: helper (innermost) then its caller, on one location.
helper_then_big=$(grep -A1 " inlined_helper .*fake_sites.c:$helper_line " <<<"$raw")
expect_match "-raw inline chain" "$helper_then_big" "^ +big_site .*/tests/prof/fake_sites.c:$big_line s="
expect_match "-raw mapping" "$raw" "^1: .*/fake_sites [0-9a-f]{40} \[FN\]\[FL\]\[LN\]\[IN\]\$"

focus=$(pprof -sample_index=alloc_objects -tagfocus worker=a -top "$tmp/heap.pb.gz")
expect_match "-tagfocus worker=a" "$focus" " small_site\$"
expect_no_match "-tagfocus worker=a" "$focus" "inlined_helper|big_site"

# ---- 2. A real profile (every allocation sampled, so exact) ----
if HEAPSCOPE=profile=$tmp/real.pb.gz,sample_rate_bytes=1 \
    LD_PRELOAD="$(readlink -f "$BUILD/libheapscope.so")" "$BUILD/tests/prof/alloc_sites.plain" exit >/dev/null; then
  declare -A churn=([alloc_objects]=1000 [alloc_space]=256000B [inuse_objects]=0 [inuse_space]=0)
  declare -A kept=([alloc_objects]=17 [alloc_space]=1600128B [inuse_objects]=17 [inuse_space]=1600128B)
  for index in alloc_objects alloc_space inuse_objects inuse_space; do
    out=$(pprof -sample_index=$index $(unit_for $index) -nodefraction=0 -top "$tmp/real.pb.gz")
    expect_match "real -top $index kept_site" "$out" "^ +${kept[$index]} .* kept_site\$"
    [ "${churn[$index]}" = 0 ] ||
      expect_match "real -top $index churn_site" "$out" "^ +${churn[$index]} .* churn_site\$"
    expect_match "real -top $index main" "$out" " main\$"
  done
  list=$(pprof -sample_index=alloc_space -unit=B -list kept_site "$tmp/real.pb.gz")
  expect_match "real -list kept_site" "$list" "^ +1600000B +1600000B +[0-9]+: +for \(int i = 0; i < 16; i\+\+\) blocks\[i\] = malloc\(100000\);"
  expect_match "real -list kept_site" "$list" "^ +128B +128B +[0-9]+: +void \*\*blocks = calloc\(16, sizeof \*blocks\);"
else
  fail "alloc_sites exit under LD_PRELOAD"
fi

prof_test_done
