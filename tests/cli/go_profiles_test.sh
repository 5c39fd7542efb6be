#!/usr/bin/env bash
# go_profiles_test.sh — heapscope top/diff/list/tags on heap and allocs
# profiles written by a real Go program (tests/cli/goalloc.go, built here
# with Debian's golang-go), compared with `go tool pprof -top` for every
# sample index.  Acceptance checks 1-3 of the CLI issue.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cli_test_go_workdir go

go build -o "$WORK/goalloc" tests/cli/goalloc.go
"$WORK/goalloc" 1 "$WORK/base"
"$WORK/goalloc" 2 "$WORK/new"

# 1+2. top matches pprof for every sample index, on heap and allocs profiles
for profile in base.heap base.allocs new.heap; do
  for index in alloc_objects alloc_space inuse_objects inuse_space; do
    echo "== $profile $index"
    go tool pprof -top -nodefraction=0 -nodecount=100000 -sample_index=$index \
      "$WORK/$profile.pb.gz" >"$WORK/pprof.txt" 2>"$WORK/pprof.err" || { cat "$WORK/pprof.err"; fail "pprof"; }
    "$HS" top --sample-index=$index "$WORK/$profile.pb.gz" >"$WORK/ours.txt"
    "$PYTHON" tests/cli/compare_top.py "$WORK/pprof.txt" "$WORK/ours.txt"
  done
done

# default index: heap profiles have no default_sample_type -> the last type;
# allocs profiles name alloc_space
"$HS" top "$WORK/base.heap.pb.gz" | grep -q '^Type: inuse_space' || fail "heap default index"
"$HS" top "$WORK/base.allocs.pb.gz" | grep -q '^Type: alloc_space' || fail "allocs default index"

# the known sites, with exact values (MemProfileRate=1): hotSite allocates
# 1000 x 4096 B, warmSite 800 x 1000 B
"$HS" top --json --sample-index=alloc_objects "$WORK/base.heap.pb.gz" >"$WORK/top.json"
"$PYTHON" - "$WORK/top.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
f = {r["function"]: r for r in d["functions"]}
# the Go runtime may charge an odd extra object to a site now and then
assert 1000 <= f["main.hotSite"]["flat"] <= 1005, f["main.hotSite"]
assert 800 <= f["main.warmSite"]["flat"] <= 805, f["main.warmSite"]
assert f["main.middle"]["flat"] == 0 and f["main.middle"]["cum"] >= 1200, f["main.middle"]
assert d["functions"][0]["function"] == "main.hotSite"
print("json ok:", f["main.hotSite"], f["main.warmSite"])
PY
"$HS" top -n 2 --sample-index=alloc_space "$WORK/base.heap.pb.gz" | tee "$WORK/top2.txt"
[ "$(grep -c 'main\.' "$WORK/top2.txt")" -eq 2 ] || fail "-n 2"
"$HS" top --focus=middle --sample-index=alloc_space "$WORK/base.heap.pb.gz" >"$WORK/focus.txt"
grep -q 'main.warmSite' "$WORK/focus.txt" && ! grep -q 'main.hotSite' "$WORK/focus.txt" || fail "--focus"
"$HS" top --ignore=warm --sample-index=alloc_space "$WORK/base.heap.pb.gz" >"$WORK/ignore.txt"
grep -q 'main.hotSite' "$WORK/ignore.txt" && ! grep -q 'main.warmSite' "$WORK/ignore.txt" || fail "--ignore"
# Go heap samples carry a numeric "bytes" label (the object size)
"$HS" top --tag bytes=4096 --sample-index=alloc_objects "$WORK/base.heap.pb.gz" >"$WORK/tag.txt"
grep -q 'main.hotSite' "$WORK/tag.txt" && ! grep -q 'main.warmSite' "$WORK/tag.txt" || fail "--tag"
"$HS" tags --sample-index=alloc_objects "$WORK/base.heap.pb.gz" | tee "$WORK/tags.txt"
grep -Eq '^bytes: total' "$WORK/tags.txt" && grep -Eq '^ +1k +[0-9.]+% +4096$' "$WORK/tags.txt" || fail "tags"

# 3. diff: the hot site doubled between base and new -> first, +100%
echo "== diff"
"$HS" diff --sample-index=alloc_space "$WORK/base.heap.pb.gz" "$WORK/new.heap.pb.gz" | tee "$WORK/diff.txt"
first=$(sed -n 4p "$WORK/diff.txt")
echo "$first" | grep -q 'main.hotSite$' || fail "hot site is not the first mover"
change=$(echo "$first" | awk '{print $7}')
echo "hot site change: $change"
"$PYTHON" -c "import sys; v = float(sys.argv[1].strip('+%')); sys.exit(not 99.5 <= v <= 100.5)" "$change" \
  || fail "hot site change $change is not +100%"
# against pprof -diff_base: same delta for the hot site
go tool pprof -top -nodefraction=0 -sample_index=alloc_space -diff_base="$WORK/base.heap.pb.gz" \
  "$WORK/new.heap.pb.gz" 2>/dev/null | grep 'main.hotSite' | tee "$WORK/pprof_diff.txt"
"$PYTHON" - "$WORK/pprof_diff.txt" "$WORK/diff.txt" <<'PY'
import sys
sys.path.insert(0, "tests/cli")
from compare_top import parse, close
theirs = open(sys.argv[1]).read().split()
ours = [l.split() for l in open(sys.argv[2]) if l.rstrip().endswith("main.hotSite")][0]
assert close(parse(theirs[0]), parse(ours[0].lstrip("+"))), (theirs, ours)
assert theirs[1].rstrip("%") == ours[1].strip("+%"), (theirs, ours)
print("diff delta matches pprof -diff_base:", theirs[0], ours[0], theirs[1], ours[1])
PY
"$HS" diff --json --sample-index=alloc_objects "$WORK/base.heap.pb.gz" "$WORK/new.heap.pb.gz" >"$WORK/diff.json"
"$PYTHON" - "$WORK/diff.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
hot = d["functions"][0]
assert hot["function"] == "main.hotSite", hot
assert 1000 <= hot["base_flat"] <= 1005 and 2000 <= hot["new_flat"] <= 2005, hot
print("diff json ok:", hot)
PY
# a profile diffed with itself has no changes
"$HS" diff "$WORK/base.heap.pb.gz" "$WORK/base.heap.pb.gz" | tee "$WORK/same.txt"
[ "$(wc -l <"$WORK/same.txt")" -eq 3 ] || fail "self-diff lists changes"

# list: per-line values on the Go source; missing sources are reported
echo "== list"
"$HS" list --sample-index=alloc_objects 'main\.hotSite' "$WORK/base.heap.pb.gz" | tee "$WORK/list.txt"
grep -Eq '^ +1k +1k +[0-9]+:[[:space:]]+sink = make\(\[\]byte, 4096\)' "$WORK/list.txt" || fail "list line"
mkdir -p "$WORK/src/tests/cli"
cp tests/cli/goalloc.go "$WORK/src/tests/cli/"
"$PYTHON" - "$WORK/base.heap.pb.gz" "$WORK/moved.pb.gz" <<'PY'
import gzip, sys
data = gzip.decompress(open(sys.argv[1], "rb").read())
import os
old = os.path.abspath("tests/cli/goalloc.go").encode()
tail = b"/tests/cli/goalloc.go"
new = b"/" + b"y" * (len(old) - len(tail) - 1) + tail  # same length: no re-encoding
assert len(new) == len(old) and old in data
open(sys.argv[2], "wb").write(gzip.compress(data.replace(old, new)))
PY
"$HS" list --sample-index=alloc_space 'main\.hotSite' "$WORK/moved.pb.gz" | tee "$WORK/missing.txt"
grep -q 'not found' "$WORK/missing.txt" || fail "missing source not reported"
"$HS" list --source-dir "$WORK/src" --sample-index=alloc_objects 'main\.hotSite' "$WORK/moved.pb.gz" >"$WORK/found.txt"
grep -q 'sink = make' "$WORK/found.txt" || fail "--source-dir"
echo "go profile tests passed"
