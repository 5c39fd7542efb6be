#!/usr/bin/env bash
# run_test.sh — `heapscope run` end to end, read back by `go tool pprof`:
#  1. a program built -O1 -g -fomit-frame-pointer: all four sample indexes
#     read, -top names the allocating functions, -list shows per-line values;
#  2. labels: -tagfocus selects each tenant, and the view splits are right;
#  3. --leaks: exit 1 and the leaking site named; exit 0 for a clean run;
#  4. python3 (Debian's, no frame pointers): the top samples' stacks reach
#     through libpython to libc's start code, ≥ 5 symbolized frames;
#  5. -o FILE is CMD's profile: a shell that starts a late program in the
#     background and execs the profiled one; the late programs (sleep,
#     /bin/true) exit after it and write nothing, neither over FILE nor
#     FILE.PID (a wrapper script's helpers would leave dozens);
#  6. programs LD_PRELOAD cannot reach: a statically linked one (static PIE
#     too) and a 32-bit one are refused before they run, exit 2, one line
#     saying why; so is one the loader would run in secure mode (set-user-ID
#     or set-group-ID to another user or group: shown first to load no
#     preload), or carrying a file capability when run by another user than
#     root, while one set-user-ID to ourselves runs; one with a malloc
#     of its own runs, with one line saying its allocations are not profiled
#     (and one built without PIE, whose malloc is heapscope's, gets none);
#  7. SIGTERM, SIGINT and SIGHUP sent to heapscope run reach CMD, and the
#     summary follows once CMD has ended.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
HEAPSCOPE=$PWD/$BUILD/heapscope
case $BUILD in /*) HEAPSCOPE=$BUILD/heapscope ;; esac
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok $*"; }

command -v go >/dev/null || { echo "FAIL: go (golang-go) is not installed"; exit 1; }
export GOCACHE=$work/gocache GOPATH=$work/gopath GOFLAGS=-mod=mod HOME=${HOME:-$work}

cc -std=c11 -D_GNU_SOURCE -O1 -g -fomit-frame-pointer -pthread -o "$work/sites" tests/run/sites.c -ldl ||
  { echo "FAIL: cannot build sites.c"; exit 1; }

# 1. Every index, -top and -list, at rate 4096 so every site is sampled.
"$HEAPSCOPE" run -o "$work/sites.pb.gz" --rate 4096 -- "$work/sites" >"$work/run.out" 2>"$work/run.err"
rc=$?
[ $rc -eq 0 ] || fail "heapscope run exited $rc: $(tail -3 "$work/run.err")"
grep -q "sites done" "$work/run.out" || fail "the program's output is missing"
grep -q "make_small" "$work/run.err" && grep -q "top allocation sites" "$work/run.err" ||
  fail "the run summary does not name make_small: $(head -20 "$work/run.err")"
for index in alloc_objects alloc_space inuse_objects inuse_space; do
  go tool pprof -top -sample_index=$index "$work/sites.pb.gz" >"$work/top.$index" 2>&1 ||
    { fail "go tool pprof -top -sample_index=$index failed: $(tail -2 "$work/top.$index")"; continue; }
  grep -q "Type: $index" "$work/top.$index" || fail "$index: no 'Type: $index' line"
done
for fn in make_small make_big make_leak labelled_alpha; do
  grep -q " $fn\$" "$work/top.alloc_space" || fail "-top alloc_space does not list $fn"
done
grep -q " make_leak\$" "$work/top.inuse_space" || fail "-top inuse_space does not list make_leak"
if grep -q " make_small\$" "$work/top.inuse_space"; then fail "make_small shows in inuse_space"; fi
go tool pprof -list 'make_small' -sample_index=alloc_objects "$work/sites.pb.gz" >"$work/list" 2>&1
grep -Eq '^ +[0-9.]+[kM]? +[0-9.]+[kM]? +[0-9]+: +char \*p = malloc\(48\);' "$work/list" ||
  fail "-list make_small has no per-line value on the malloc(48) line: $(head -20 "$work/list")"
[ $failures -eq 0 ] && ok "go tool pprof reads all four indexes; -top and -list show sites and lines"

# 2. Labels: -tagfocus selects each tenant.
before=$failures
go tool pprof -top -sample_index=alloc_space -tagfocus=tenant=alpha "$work/sites.pb.gz" >"$work/alpha" 2>&1
grep -q " labelled_alpha\$" "$work/alpha" || fail "tagfocus alpha misses labelled_alpha"
if grep -q -E " (labelled_beta|make_small)\$" "$work/alpha"; then fail "tagfocus alpha lets other sites in"; fi
go tool pprof -top -sample_index=alloc_space -tagfocus=tenant=beta "$work/sites.pb.gz" >"$work/beta" 2>&1
grep -q " labelled_beta\$" "$work/beta" || fail "tagfocus beta misses labelled_beta"
go tool pprof -top -sample_index=inuse_space -tagfocus=tenant=beta "$work/sites.pb.gz" >"$work/beta_inuse" 2>&1
if grep -q " labelled_beta\$" "$work/beta_inuse"; then fail "beta's blocks (freed on another thread) still in use"; fi
go tool pprof -tags "$work/sites.pb.gz" >"$work/tags" 2>&1
grep -q "alpha" "$work/tags" && grep -q "beta" "$work/tags" || fail "-tags lacks the tenants"
[ $failures -eq $before ] && ok "labels: -tagfocus selects tenant=alpha and tenant=beta"

# 3. --leaks.
before=$failures
"$HEAPSCOPE" run --leaks -o "$work/leaks.pb.gz" -- "$work/sites" >/dev/null 2>"$work/leaks.err"
rc=$?
[ $rc -eq 1 ] || fail "--leaks on a leaking program exited $rc, want 1"
grep -q "make_leak" "$work/leaks.err" || fail "--leaks does not name make_leak: $(tail -5 "$work/leaks.err")"
"$HEAPSCOPE" run --leaks -o "$work/clean.pb.gz" -- "$work/sites" clean >/dev/null 2>"$work/clean.err"
rc=$?
[ $rc -eq 0 ] || fail "--leaks on a clean run exited $rc: $(tail -5 "$work/clean.err")"
[ $failures -eq $before ] && ok "--leaks exits 1 naming make_leak, 0 when clean"

# 4. python3 without frame pointers: deep, symbolized stacks.
before=$failures
"$HEAPSCOPE" run -o "$work/py.pb.gz" -- /usr/bin/python3 -c '
import json
rows = [{"id": i, "name": "row%d" % i, "tags": [i, i + 1]} for i in range(100000)]
print(len(json.dumps(rows)))' >/dev/null 2>"$work/py.err" || fail "python3 under heapscope run failed"
go tool pprof -traces -sample_index=alloc_space "$work/py.pb.gz" >"$work/py.traces" 2>&1
# The heaviest trace: frames between its value line and the next separator.
awk '/^-+\+/ { if (n) exit; next } /^ +[0-9.]+[kMG]?B / { n = 1 } n { print }' "$work/py.traces" >"$work/py.top"
named=$(grep -cvE '^\s*(\[|$)' "$work/py.top")
[ "$named" -ge 5 ] || fail "python3's top stack has $named symbolized frames (want >= 5): $(cat "$work/py.top")"
grep -Eq 'Py[A-Za-z_]+' "$work/py.top" || fail "python3's top stack has no libpython frame"
grep -Eq '__libc_start_main|__libc_start_call_main' "$work/py.top" ||
  fail "python3's top stack does not reach libc's start code"
[ $failures -eq $before ] && ok "python3: top stack has $named symbolized frames, through libpython to libc"

# 5. Programs CMD starts keep off CMD's profile file.
before=$failures
"$HEAPSCOPE" run -o "$work/main.pb.gz" --rate 4096 -- \
  sh -c '(sleep 0.5; exec /bin/true) & exec "$0"' "$work/sites" >/dev/null 2>"$work/main.err" ||
  fail "heapscope run through sh failed: $(tail -3 "$work/main.err")"
sleep 1.5 # until sleep and /bin/true have exited
others=$(ls "$work"/main.pb.gz.* 2>/dev/null | wc -l)
[ "$others" -eq 0 ] || fail "sleep and /bin/true wrote $others main.pb.gz.PID files"
"$HEAPSCOPE" top "$work/main.pb.gz" 2>&1 | grep -q " make_leak\$" ||
  fail "main.pb.gz is not the profiled program's (no make_leak): $("$HEAPSCOPE" top "$work/main.pb.gz" 2>&1 | head -5)"
[ $failures -eq $before ] && ok "-o FILE: the programs the command starts write nothing to it"

# 6. Programs LD_PRELOAD cannot reach.
before=$failures
printf '#include <stdio.h>\nint main(void) { puts("static ran"); return 0; }\n' >"$work/static.c"
cc -O1 -static -o "$work/static" "$work/static.c" && cc -O1 -static-pie -o "$work/static_pie" "$work/static.c" ||
  fail "cannot build static programs (libc6-dev's libc.a)"
for program in static static_pie; do
  "$HEAPSCOPE" run -o "$work/$program.pb.gz" -- "$work/$program" >"$work/$program.out" 2>"$work/$program.err"
  rc=$?
  [ $rc -eq 2 ] || fail "$program: heapscope run exited $rc, want 2"
  [ "$(wc -l <"$work/$program.err")" -eq 1 ] &&
    grep -q "^heapscope run: $work/$program is statically linked" "$work/$program.err" ||
    fail "$program: want one line saying it is statically linked: $(cat "$work/$program.err")"
  [ ! -s "$work/$program.out" ] || fail "$program ran although it was refused"
done
# Found through PATH as execvp finds it.
PATH=$work:$PATH "$HEAPSCOPE" run -o "$work/static.pb.gz" -- static >/dev/null 2>"$work/path.err"
grep -q "^heapscope run: $work/static is statically linked" "$work/path.err" ||
  fail "static through PATH: $(cat "$work/path.err")"
# An ELF header of the 32-bit class is enough: it is refused before it runs.
printf '\177ELF\001\001\001\000\000\000\000\000\000\000\000\000' >"$work/elf32"
chmod +x "$work/elf32"
"$HEAPSCOPE" run -- "$work/elf32" >/dev/null 2>"$work/elf32.err"
rc=$?
[ $rc -eq 2 ] && grep -q "^heapscope run: $work/elf32 is a 32-bit program" "$work/elf32.err" ||
  fail "a 32-bit program: exit $rc, $(cat "$work/elf32.err")"
# Secure mode.  As root: copies of cat set-user-ID and set-group-ID to
# nobody (65534); the loader must be seen to ignore LD_PRELOAD in them, so
# the refusal is about something real.  As another user: the system's own
# set-user-ID programs (owned by root), refused before they run.
if [ "$(id -u)" -eq 0 ]; then
  cp /bin/cat "$work/suid_cat" && chown 65534 "$work/suid_cat" && chmod u+s "$work/suid_cat" &&
    cp /bin/cat "$work/sgid_cat" && chgrp 65534 "$work/sgid_cat" && chmod g+s "$work/sgid_cat" &&
    cp /bin/cat "$work/own_suid_cat" && chmod u+s "$work/own_suid_cat" ||
    fail "cannot make set-user-ID copies of /bin/cat"
  secure="suid_cat:set-user-ID sgid_cat:set-group-ID"
  for entry in $secure; do
    program=${entry%%:*} kind=${entry#*:}
    loaded=$(LD_PRELOAD=$PWD/$BUILD/libheapscope.so "$work/$program" /proc/self/maps | grep -c libheapscope)
    [ "$loaded" -eq 0 ] || fail "$program: the loader preloaded heapscope, so secure mode is not what the test thinks"
    "$HEAPSCOPE" run -o "$work/$program.pb.gz" -- "$work/$program" /proc/self/maps \
      >"$work/$program.out" 2>"$work/$program.err"
    rc=$?
    [ $rc -eq 2 ] && [ "$(wc -l <"$work/$program.err")" -eq 1 ] &&
      grep -q "^heapscope run: $work/$program is $kind to another" "$work/$program.err" ||
      fail "$program: exit $rc, want 2 and one line saying it is $kind: $(cat "$work/$program.err")"
    [ ! -s "$work/$program.out" ] || fail "$program ran although it was refused"
  done
  # File capabilities put a user other than root in secure mode: a copy of
  # cat with one, run as nobody (the work directory opened for traversal).
  chmod 711 "$work"
  cp /bin/cat "$work/cap_cat" && setcap cap_net_raw+ep "$work/cap_cat" ||
    fail "cannot give a copy of /bin/cat a file capability (setcap, libcap2-bin)"
  as_nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups)
  loaded=$("${as_nobody[@]}" env LD_PRELOAD="$PWD/$BUILD/libheapscope.so" "$work/cap_cat" /proc/self/maps |
    grep -c libheapscope)
  [ "$loaded" -eq 0 ] || fail "cap_cat: the loader preloaded heapscope, so secure mode is not what the test thinks"
  "${as_nobody[@]}" "$HEAPSCOPE" run -- "$work/cap_cat" /proc/self/maps >"$work/cap.out" 2>"$work/cap.err"
  rc=$?
  [ $rc -eq 2 ] && grep -q "^heapscope run: $work/cap_cat has file capabilities" "$work/cap.err" ||
    fail "cap_cat as nobody: exit $rc, want 2 and one line naming its capabilities: $(cat "$work/cap.err")"
  [ ! -s "$work/cap.out" ] || fail "cap_cat ran although it was refused"
  # Set-user-ID to ourselves: no secure mode, so it runs and is profiled.
  "$HEAPSCOPE" run -o "$work/own_suid.pb.gz" -- "$work/own_suid_cat" /proc/self/maps \
    >"$work/own_suid.out" 2>"$work/own_suid.err"
  rc=$?
  [ $rc -eq 0 ] && grep -q libheapscope "$work/own_suid.out" && [ -s "$work/own_suid.pb.gz" ] ||
    fail "a program set-user-ID to ourselves: exit $rc, $(cat "$work/own_suid.err")"
else
  suid=$(find /usr/bin /bin /usr/sbin -maxdepth 1 -type f -user root -perm -4000 2>/dev/null | head -1)
  if [ -z "$suid" ]; then
    fail "secure mode: needs root, or a set-user-ID program owned by root in /usr/bin"
  else
    "$HEAPSCOPE" run -- "$suid" --help >"$work/suid.out" 2>"$work/suid.err"
    rc=$?
    [ $rc -eq 2 ] && grep -q "^heapscope run: $suid is set-user-ID to another user" "$work/suid.err" ||
      fail "$suid: exit $rc, want 2 and one line saying it is set-user-ID: $(cat "$work/suid.err")"
  fi
fi
cc -O1 -o "$work/own_malloc" tests/run/own_malloc.c || fail "cannot build own_malloc.c"
"$HEAPSCOPE" run -o "$work/own.pb.gz" -- "$work/own_malloc" >"$work/own.out" 2>"$work/own.err"
rc=$?
[ $rc -eq 0 ] || fail "own_malloc: heapscope run exited $rc: $(cat "$work/own.err")"
grep -q "^own malloc served" "$work/own.out" || fail "own_malloc's output is missing"
grep -q "^heapscope: malloc in this process is the one $work/own_malloc defines, not heapscope's" \
  "$work/own.err" || fail "own_malloc: no line naming its own malloc: $(cat "$work/own.err")"
# heapscope's own programs (sites, above) got no such line; nor does one
# built without PIE, whose malloc resolves to its own PLT entry (the
# function's canonical address there), which leads to heapscope's.
if grep -q "malloc in this process" "$work/run.err"; then fail "sites was told its malloc is elsewhere"; fi
cat >"$work/nopie.c" <<'C'
#include <stdlib.h>
/* Takes malloc's address in code, as CPython's allocator table does:
 * without PIE that makes the program's PLT entry malloc's canonical
 * address. */
void *(*volatile allocate)(size_t);
int main(void) {
  allocate = malloc;
  free(allocate(100));
  return 0;
}
C
cc -O1 -fno-pie -no-pie -o "$work/nopie" "$work/nopie.c" || fail "cannot build a program without PIE"
"$HEAPSCOPE" run -o "$work/nopie.pb.gz" -- "$work/nopie" >/dev/null 2>"$work/nopie.err"
rc=$?
[ $rc -eq 0 ] || fail "a program without PIE: heapscope run exited $rc: $(tail -2 "$work/nopie.err")"
if grep -q "malloc in this process" "$work/nopie.err"; then fail "a program without PIE was told its malloc is elsewhere"; fi
[ $failures -eq $before ] &&
  ok "static, static PIE, 32-bit and secure-mode programs refused with one line; a program's own malloc named"

# 7. A termination signal sent to `heapscope run` (a supervisor's kill)
# goes on to CMD, which ends its own way (here by exit 0, so its profile is
# written), and heapscope run waits for it and prints the summary: not
# killed at once with CMD left running as an orphan.
before=$failures
for sig in TERM INT HUP; do
  rm -f "$work/term.pb.gz" "$work/term.out"
  "$HEAPSCOPE" run -o "$work/term.pb.gz" -- python3 -c '
import signal, sys, time
for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(s, lambda n, f: (print("got", n, flush=True), sys.exit(0)))
kept = [bytearray(1000) for _ in range(3000)]
print("ready", flush=True)
time.sleep(60)' >"$work/term.out" 2>"$work/term.err" &
  runner=$!
  for _ in $(seq 100); do grep -q ready "$work/term.out" 2>/dev/null && break; sleep 0.1; done
  kill -$sig $runner
  started=$SECONDS
  wait $runner
  rc=$?
  cmd_left=$(pgrep -f "time.sleep\(60\)" || true)
  [ -n "$cmd_left" ] && kill $cmd_left
  [ $rc -eq 0 ] && [ -z "$cmd_left" ] && grep -q "^got" "$work/term.out" &&
    grep -q "^heapscope: profile written to $work/term.pb.gz" "$work/term.err" &&
    [ $((SECONDS - started)) -lt 20 ] ||
    fail "SIG$sig to heapscope run: exit $rc, CMD left running: ${cmd_left:-no}, CMD said: $(cat "$work/term.out"), $(tail -2 "$work/term.err")"
done
[ $failures -eq $before ] && ok "TERM, INT and HUP sent to heapscope run reach CMD; the summary follows"

if [ $failures -gt 0 ]; then echo "run_test: $failures failures"; exit 1; fi
echo "PASS run_test"
