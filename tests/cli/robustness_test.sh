#!/usr/bin/env bash
# robustness_test.sh — the CLI on bad input (truncated, corrupt, non-gzip,
# non-profile, empty, missing files; bad options) must print one line and
# exit 2, never crash or hang; on hand-built profiles (inlining, recursion,
# labels, unsymbolized frames, unpacked fields, default_sample_type) it must
# agree with `go tool pprof`; a million-sample profile is read correctly
# (time and memory printed as figures).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cli_test_workdir robust
GOOD=tests/fuzz/corpus/go_heap.pb.gz

# --- bad inputs -------------------------------------------------------------
: >"$WORK/empty"
echo "this is not a profile" >"$WORK/text"
head -c 4096 /dev/urandom >"$WORK/random"
head -c 700 "$GOOD" >"$WORK/truncated.gz"
gunzip -c "$GOOD" >"$WORK/raw.pb"
head -c 900 "$WORK/raw.pb" >"$WORK/truncated.pb"
"$PYTHON" - "$GOOD" "$WORK/corrupt.gz" <<'PY'
import sys
data = bytearray(open(sys.argv[1], "rb").read())
for i in range(200, 260):
    data[i] ^= 0x5A
open(sys.argv[2], "wb").write(data)
PY
gzip -c "$WORK/text" >"$WORK/text.gz"
head -c 50000000 /dev/zero | gzip -c >"$WORK/zeros.gz"
mkdir -p "$WORK/a_directory"
for input in empty text random truncated.gz truncated.pb corrupt.gz text.gz zeros.gz a_directory missing; do
  for command in top tags "flame -o $WORK/out.html" "list ." "diff $GOOD"; do
    set +e
    # shellcheck disable=SC2086
    timeout 60 "$HS" $command "$WORK/$input" >"$WORK/out.txt" 2>"$WORK/err.txt"
    rc=$?
    set -e
    lines=$(wc -l <"$WORK/err.txt")
    printf '%-14s %-28s exit %d: %s\n' "$input" "${command%% *}" "$rc" "$(head -n 1 "$WORK/err.txt")"
    [ "$rc" -eq 2 ] || fail "$input with $command: exit $rc, expected 2"
    [ "$lines" -eq 1 ] || fail "$input with $command: $lines lines on stderr, expected 1"
    grep -q "$input" "$WORK/err.txt" || fail "$input: the message does not name the file"
  done
done
# the message says what is wrong
"$HS" top "$WORK/truncated.gz" 2>"$WORK/err.txt" || true
grep -q ': truncated gzip data$' "$WORK/err.txt" || fail "truncated gzip not called truncated"
for input in text random truncated.pb; do
  "$HS" top "$WORK/$input" 2>"$WORK/err.txt" || true
  grep -q ': not a valid pprof profile: ' "$WORK/err.txt" || fail "$input not called not-a-profile"
done

# --- usage ------------------------------------------------------------------
for command in top list diff flame tags; do
  "$HS" $command --help | grep -q "usage: heapscope $command" || fail "$command --help"
  set +e
  "$HS" $command --no-such-option "$GOOD" 2>"$WORK/err.txt"; rc=$?
  set -e
  [ "$rc" -eq 2 ] && [ "$(wc -l <"$WORK/err.txt")" -eq 1 ] || fail "$command: bad option exit $rc"
  set +e
  "$HS" $command 2>"$WORK/err.txt"; rc=$?
  set -e
  [ "$rc" -eq 2 ] || fail "$command without arguments: exit $rc"
done
set +e
"$HS" top --sample-index=nope "$GOOD" 2>"$WORK/err.txt"; rc=$?
"$HS" top --focus='(' "$GOOD" 2>>"$WORK/err.txt"; rc2=$?
"$HS" top --tag novalue "$GOOD" 2>>"$WORK/err.txt"; rc3=$?
"$HS" flame "$GOOD" -o "$WORK/out.png" 2>>"$WORK/err.txt"; rc4=$?
"$HS" flame "$GOOD" -o "$WORK/missing/out.svg" 2>>"$WORK/err.txt"; rc5=$?
set -e
cat "$WORK/err.txt"
[ "$rc$rc2$rc3$rc4$rc5" = 22222 ] || fail "bad option values: exits $rc $rc2 $rc3 $rc4 $rc5"
grep -q "^heapscope flame: cannot write $WORK/missing/out.svg: No such file or directory\$" "$WORK/err.txt" ||
  fail "flame: an unwritable -o without its reason"
grep -q 'it has: alloc_objects, alloc_space, inuse_objects, inuse_space' "$WORK/err.txt" || fail "index list"

# --- hand-built profiles agree with pprof -----------------------------------
cat >"$WORK/spec.json" <<'JSON'
{"sample_types": [["alloc_objects","count"],["alloc_space","bytes"],["inuse_objects","count"],["inuse_space","bytes"]],
 "period_type": ["space","bytes"], "period": 524288, "default": "alloc_space", "gzip": false, "packed": false,
 "mappings": [{"file": "/usr/bin/app"}, {"file": "/usr/lib/x86_64-linux-gnu/libc.so.6"}],
 "functions": [{"name":"main","file":"app.c","start":1},{"name":"parse","file":"app.c","start":10},
               {"name":"inlined_helper","file":"app.h","start":3},{"name":"strdup","file":"","start":0}],
 "locations": [{"mapping":1,"lines":[[1,5]]},{"mapping":1,"lines":[[3,4],[2,12]]},{"mapping":2,"lines":[[4,0]]},{"mapping":1}],
 "samples": [{"stack":[2,1],"values":[2,64,1,32],"labels":{"thread":"worker"}},
             {"stack":[3,2,1],"values":[1,16,0,0],"labels":{"thread":"main"},"numlabels":{"bytes":16}},
             {"stack":[4,2,2,1],"values":[3,300,3,300]}]}
JSON
"$PYTHON" tests/cli/make_profile.py spec "$WORK/spec.json" "$WORK/built.pb"
# the default index is default_sample_type
"$HS" top "$WORK/built.pb" | tee "$WORK/built.txt"
grep -q '^Type: alloc_space' "$WORK/built.txt" || fail "default_sample_type ignored"
# recursion (parse twice in one stack) counts once in cum: 64+16+300
grep -Eq '^ +0 +0.00% +100% +380B +100%  parse$' "$WORK/built.txt" || fail "recursive cum"
for index in alloc_objects alloc_space inuse_objects inuse_space; do
  go tool pprof -top -nodefraction=0 -sample_index=$index "$WORK/built.pb" >"$WORK/pprof.txt" 2>/dev/null
  "$HS" top --sample-index=$index "$WORK/built.pb" >"$WORK/ours.txt"
  "$PYTHON" tests/cli/compare_top.py "$WORK/pprof.txt" "$WORK/ours.txt"
done
"$HS" top --tag thread=worker --json "$WORK/built.pb" >"$WORK/tag.json"
"$PYTHON" -c "
import json, sys
d = json.load(open(sys.argv[1]))
assert d['total'] == 64 and d['functions'][0]['function'] == 'inlined_helper', d
" "$WORK/tag.json" || fail "--tag thread=worker"
"$HS" tags "$WORK/built.pb" | tee "$WORK/tags.txt"
grep -Eq '^ +64B +16.84% +worker$' "$WORK/tags.txt" || fail "tags"

# --- a million samples ------------------------------------------------------
"$PYTHON" tests/cli/make_profile.py big 1000000 "$WORK/big.pb.gz"
/usr/bin/time -f "top on 1M samples: %e s, max RSS %M KiB" "$HS" top --json \
  --sample-index=alloc_objects "$WORK/big.pb.gz" >"$WORK/big.json"
"$PYTHON" -c "
import json, sys
d = json.load(open(sys.argv[1]))
expected = sum(i % 13 + 1 for i in range(1000000))
assert d['total'] == expected and d['samples'] == 1000000, (d['total'], expected)
assert sum(f['flat'] for f in d['functions']) == expected
print('1M samples: total', d['total'], 'as expected')
" "$WORK/big.json"
/usr/bin/time -f "flame on 1M samples: %e s, max RSS %M KiB" "$HS" flame "$WORK/big.pb.gz" -o "$WORK/big.svg"
"$PYTHON" -c "import sys, xml.dom.minidom as m; m.parse(sys.argv[1]); print('big.svg parses')" "$WORK/big.svg"
echo "robustness tests passed"
