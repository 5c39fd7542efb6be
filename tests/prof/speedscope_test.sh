#!/usr/bin/env bash
# speedscope_test.sh — speedscope reads heapscope's profiles: profiles of
# alloc_sites (rate 1, so every value is exact) and of python3 are opened
# in speedscope's own release (npm package speedscope, pinned; shown in
# Debian's headless Chromium by playwright-core, both installed under
# $BUILD/node) with the network blocked.  Checked: speedscope imports each
# file as pprof with no script error or alert; its Sandwich table shows the
# profile's default sample type: for the heap profile inuse_space, with
# kept_site's 16 live blocks of 100000 B as "1.53 MB" of its own, main's
# total the whole profile and churn_site (all freed) absent, and the
# tooltip over kept_site names the file and a line go tool pprof names;
# for the allocations profile alloc_space, with churn_site's freed
# 1000 x 256 B in it; python3's profile (deep stacks through libpython)
# imports whole, and every function speedscope names is one go tool pprof
# names.
set -u
cd "$(dirname "$0")/../.." || exit 1
source tests/prof/lib.sh
require_go
[ -x /usr/bin/chromium ] || { echo "FAIL: /usr/bin/chromium missing (.ci/run installs chromium)"; exit 1; }
command -v node >/dev/null || { echo "FAIL: node missing (.ci/run installs nodejs)"; exit 1; }
SPEEDSCOPE_VERSION=1.25.0

NODE_DIR=$(readlink -f "$BUILD")/node
installed=$(node -p "require('$NODE_DIR/node_modules/speedscope/package.json').version" 2>/dev/null)
if [ ! -d "$NODE_DIR/node_modules/playwright-core" ] || [ "$installed" != "$SPEEDSCOPE_VERSION" ]; then
  mkdir -p "$NODE_DIR"
  (cd "$NODE_DIR" && npm install --no-audit --no-fund --silent playwright-core@1 \
    "speedscope@$SPEEDSCOPE_VERSION" >/dev/null) ||
    { echo "FAIL: npm install playwright-core speedscope@$SPEEDSCOPE_VERSION"; exit 1; }
fi

# speedscope_show NAME PROFILE HOVER: what speedscope shows, in $tmp/NAME.out.
speedscope_show() {
  mkdir -p "$tmp/$1"
  timeout 180 node tests/prof/speedscope_check.js "$NODE_DIR" "$2" "$3" "$tmp/$1" >"$tmp/$1.out" 2>&1 ||
    fail "$1: speedscope_check.js failed: $(tail -3 "$tmp/$1.out")"
  sed "s/^/  $1: /" "$tmp/$1.out" | head -20
}

# 1. alloc_sites: exact values.
HEAPSCOPE=profile=$tmp/sites.pb.gz,sample_rate_bytes=1 LD_PRELOAD=$LIB \
  "$BUILD/tests/prof/alloc_sites.plain" exit >/dev/null || fail "alloc_sites exit failed"
speedscope_show sites "$tmp/sites.pb.gz" kept_site
out=$(cat "$tmp/sites.out")
expect_match "sites: imported as pprof" "$out" '^import Importing as protobuf encoded pprof file$'
expect_no_match "sites: no script error or alert" "$out" '^error '
expect_no_match "sites: no network request" "$out" '^network '
expect_match "sites: the profile's name in the toolbar" "$out" '^title sites\.pb\.gz$'
# 16 x 100000 B = 1.526 MiB; speedscope's "MB" is 2^20 bytes.
expect_match "sites: kept_site's own 1.53 MB" "$out" '^row 1\.53 MB \([^)]*\)\|1\.53 MB \([^)]*\)\|kept_site$'
expect_match "sites: main holds the whole profile" "$out" '^row [0-9.]+ [KM]B \(100%\)\|0 B \([^)]*\)\|main$'
expect_no_match "sites: churn_site (all freed) not in the inuse view" "$out" '\|churn_site$'
# speedscope shows a function once, with the line of the first of its
# locations it met: any line go tool pprof gives kept_site will do.
lines=$(pprof -lines -sample_index=alloc_objects -nodefraction=0 -top "$tmp/sites.pb.gz" |
  grep -Eo 'kept_site [^ ]*alloc_sites\.c:[0-9]+' | sed 's/.*alloc_sites\.c://' | sort -u | paste -sd'|')
[ -n "$lines" ] || fail "go tool pprof -lines names no line for kept_site"
expect_match "sites: tooltip over kept_site names alloc_sites.c:($lines)" "$out" \
  "^hover 1\.53 MB \([^)]*\) kept_site \| /[^ ]*/tests/prof/alloc_sites\.c:($lines)\$"

# 2. The same program's allocations profile (hs_prof_write(path,
# HS_PROF_ALLOCS)): its default sample type, alloc_space, is what
# speedscope shows: churn_site's 1000 x 256 B, freed, are in it.
HEAPSCOPE=sample_rate_bytes=1 LD_PRELOAD=$LIB \
  "$BUILD/tests/prof/alloc_sites.plain" write "$tmp/allocs.pb.gz" >/dev/null || fail "alloc_sites write failed"
speedscope_show allocs "$tmp/allocs.pb.gz" churn_site
out=$(cat "$tmp/allocs.out")
expect_no_match "allocs: no script error or alert" "$out" '^error '
expect_match "allocs: churn_site's 250.00 KB" "$out" '^row 250\.00 KB \([^)]*\)\|250\.00 KB \([^)]*\)\|churn_site$'
expect_match "allocs: kept_site's 1.53 MB" "$out" '^row 1\.53 MB \([^)]*\)\|1\.53 MB \([^)]*\)\|kept_site$'

# 3. python3 (Debian's, no frame pointers): a large profile, deep stacks.
HEAPSCOPE=profile=$tmp/py.pb.gz,sample_rate_bytes=4096 LD_PRELOAD=$LIB /usr/bin/python3 -c '
import json
rows = [{"id": i, "name": "row%d" % i, "tags": list(range(i % 7))} for i in range(100000)]
print(len(json.dumps(rows)))' >/dev/null || fail "python3 under heapscope failed"
speedscope_show python3 "$tmp/py.pb.gz" main
out=$(cat "$tmp/python3.out")
expect_match "python3: imported as pprof" "$out" '^import Importing as protobuf encoded pprof file$'
expect_no_match "python3: no script error or alert" "$out" '^error '
expect_match "python3: libpython's functions in the table" "$out" '^row .*\|_?Py[A-Za-z_]+$'
expect_match "python3: _start holds the whole profile" "$out" '^row [0-9.]+ [KMG]B \(100%\)\|.*\|_start$'
# Every function speedscope names is one go tool pprof names (speedscope
# leaves out locations that have an address but no function).
pprof -sample_index=inuse_space -nodefraction=0 -nodecount=100000 -top "$tmp/py.pb.gz" |
  sed -nE 's/^ +[0-9.]+([kMG]?B)? +[0-9.]+% +[0-9.]+% +[0-9.]+([kMG]?B)? +[0-9.]+% +//p' |
  sed 's/ (inline)$//' | sort -u >"$tmp/pprof.names"
sed -n 's/^row [^|]*|[^|]*|//p' "$tmp/python3.out" | sort -u >"$tmp/speedscope.names"
named=$(wc -l <"$tmp/speedscope.names")
[ "$named" -ge 10 ] || fail "python3: $named functions in speedscope's table (want >= 10)"
unknown=$(comm -23 "$tmp/speedscope.names" "$tmp/pprof.names")
[ -z "$unknown" ] || fail "python3: speedscope names functions go tool pprof does not: $unknown"
echo "  python3: speedscope names $named functions, all among go tool pprof's $(wc -l <"$tmp/pprof.names")"
prof_test_done
