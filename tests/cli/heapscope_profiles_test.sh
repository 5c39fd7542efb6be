#!/usr/bin/env bash
# heapscope_profiles_test.sh — the CLI on heapscope's own profiles: a C
# program with known allocation sites (tests/cli/calloc_sites.c) profiled
# with `heapscope run -o --rate 1` (every allocation sampled, so values are
# exact).  top matches `go tool pprof -top` for every sample index; diff
# shows the doubled hot site first at +100%; list annotates its line; the
# run summary and leak report (cli/report.c) name the sites as file:line.
# A C++ program's names are shown demangled as pprof shows them
# (tests/cli/cxx_sites.cc).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cli_test_workdir own
command -v go >/dev/null || fail "go is not installed (.ci/run installs golang-go)"

${CC:-cc} -std=c11 -O1 -g -fno-omit-frame-pointer -o "$WORK/calloc_sites" tests/cli/calloc_sites.c
"$HS" run -o "$WORK/base.pb.gz" --rate 1 -- "$WORK/calloc_sites" 1 >/dev/null 2>"$WORK/run1.txt"
"$HS" run -o "$WORK/new.pb.gz" --rate 1 -- "$WORK/calloc_sites" 2 >/dev/null 2>"$WORK/run2.txt"

for profile in base new; do
  for index in alloc_objects alloc_space inuse_objects inuse_space; do
    echo "== $profile $index"
    go tool pprof -top -nodefraction=0 -nodecount=100000 -sample_index=$index \
      "$WORK/$profile.pb.gz" >"$WORK/pprof.txt" 2>/dev/null
    "$HS" top --sample-index=$index "$WORK/$profile.pb.gz" >"$WORK/ours.txt"
    "$PYTHON" tests/cli/compare_top.py "$WORK/pprof.txt" "$WORK/ours.txt"
  done
done

"$HS" top --json --sample-index=alloc_objects "$WORK/base.pb.gz" >"$WORK/top.json"
"$PYTHON" - "$WORK/top.json" <<'PY'
import json, sys
f = {r["function"]: r for r in json.load(open(sys.argv[1]))["functions"]}
assert f["hot_site"]["flat"] == 1000 and f["warm_site"]["flat"] == 800, f
assert f["leak_site"]["flat"] == 400 and f["middle"]["cum"] == 1200, f
print("exact site counts:", {k: f[k]["flat"] for k in ("hot_site", "warm_site", "leak_site")})
PY

"$HS" diff --sample-index=alloc_space "$WORK/base.pb.gz" "$WORK/new.pb.gz" | tee "$WORK/diff.txt"
first=$(sed -n 4p "$WORK/diff.txt")
echo "$first" | grep -q ' hot_site$' || fail "hot_site is not the first mover"
[ "$(echo "$first" | awk '{print $7}')" = "+100%" ] || fail "hot_site change is not +100%"

"$HS" list --sample-index=alloc_objects '^hot_site$' "$WORK/base.pb.gz" | tee "$WORK/list.txt"
grep -Eq '^ +1k +1k +[0-9]+:[[:space:]]+sink = malloc\(4096\);' "$WORK/list.txt" || fail "list"

"$BUILD/cli-tests/report_check" summary "$WORK/base.pb.gz" | tee "$WORK/summary.txt"
grep -Eq '^  allocated: +2\.20k objects' "$WORK/summary.txt" || fail "summary totals"
grep -Eq '^  in use at exit: +40[0-9] objects' "$WORK/summary.txt" || fail "summary in use"
sed -n '/by bytes/{n;p}' "$WORK/summary.txt" | grep -Eq 'hot_site \(.*calloc_sites\.c:[0-9]+\)$' ||
  fail "top site by bytes is not hot_site (file:line)"
"$BUILD/cli-tests/report_check" leaks "$WORK/base.pb.gz" | tee "$WORK/leaks.txt"
grep -Eq '^ +200KiB +400 objects +leak_site \(.*calloc_sites\.c:[0-9]+\)$' "$WORK/leaks.txt" ||
  fail "leak_site not reported"
grep -Eq '^live sites: [1-9]' "$WORK/leaks.txt" || fail "leak count"

"$HS" flame --sample-index=alloc_space "$WORK/base.pb.gz" -o "$WORK/flame.svg"
grep -q '>hot_site<' "$WORK/flame.svg" || fail "flame svg lacks hot_site"

# C++: names shown as pprof shows them (demangled, simplified), so top
# lists the same functions, and list, --focus and flame graphs find them.
${CXX:-g++} -O0 -g -o "$WORK/cxx_sites" tests/cli/cxx_sites.cc
"$HS" run -o "$WORK/cxx.pb.gz" --rate 1 -- "$WORK/cxx_sites" >/dev/null 2>"$WORK/cxx_run.txt"
echo "== C++ alloc_space"
go tool pprof -top -nodefraction=0 -nodecount=100000 -sample_index=alloc_space \
  "$WORK/cxx.pb.gz" >"$WORK/pprof.txt" 2>/dev/null
"$HS" top --sample-index=alloc_space "$WORK/cxx.pb.gz" >"$WORK/ours.txt"
"$PYTHON" tests/cli/compare_top.py "$WORK/pprof.txt" "$WORK/ours.txt"
for name in 'operator new' 'app::Parser::parse_record' 'app::Parser::operator()' 'app::Box::make' \
  'app::filled' 'main::{lambda(int)#1}::operator()' 'hidden' 'std::map::operator[]'; do
  awk -v n="$name" '{ for (i = 0; i < 5; i++) sub(/^ *[^ ]+/, ""); sub(/^ +/, "")
                     if ($0 == n) found = 1 } END { exit !found }' \
    "$WORK/ours.txt" || fail "C++: top does not show '$name'"
done
"$HS" list --sample-index=alloc_objects 'Parser::parse_record' "$WORK/cxx.pb.gz" >"$WORK/cxx_list.txt" ||
  fail "C++: list finds no Parser::parse_record"
grep -Eq '^ +0 +2.0[0-9]k +[0-9]+:.*new char\[1000\]' "$WORK/cxx_list.txt" || fail "C++: list's line"
"$HS" top --focus='app::Box' --sample-index=alloc_objects "$WORK/cxx.pb.gz" | grep -q 'app::Box::make$' ||
  fail "C++: --focus='app::Box' finds nothing"
grep -q 'app::Parser::parse_record' "$WORK/cxx_run.txt" || fail "C++: the run summary's names"
echo "heapscope profile tests passed"
