#!/usr/bin/env bash
# http_test.sh — the loopback HTTP endpoint (HEAPSCOPE=http=..., hs_serve_http):
#   1. preloaded: `go tool pprof URL` and `heapscope top URL` read
#      /debug/pprof/heap and /allocs (exact values at sample_rate_bytes=1),
#      -seconds gives the change over that time only; /metrics parses as
#      Prometheus text; every bad request gets its status and a one-line
#      body; abandoned, silent, trickling and too many connections cost
#      nothing (a head not in within 10 s gets 408); the
#      program exits 0 at the end;
#      a daemon that closes heapscope's socket and reuses its number keeps
#      every connection to its own socket;
#   2. bad addresses and a port in use: one line, the program runs on;
#   3. linked: hs_serve_http, EBUSY, EINVAL; a forked child serves its own;
#   4. `heapscope run --http 0 -- sh -c '...; exec PROGRAM'`: the programs
#      the shell starts load heapscope too, and none of them serves: every
#      "serving" line names the shell's pid (the program execs into it) and
#      one port (heapscope run chose it: not a port per image, the first
#      dead after the exec); a bad --http value is one line, exit 2.
set -u
source "$(dirname "$0")/lib.sh"
export PPROF_TMPDIR=$tmp # where go tool pprof saves what it fetches
probe() { python3 tests/prof/http_probe.py "$@"; }
require_go

# start NAME OPTIONS COMMAND...: runs COMMAND with HEAPSCOPE=OPTIONS in the
# background, its standard input a fifo held open (closing it ends the
# program), and waits for "ready" on its output.
declare -A pid_of fd_of
start() {
  local name=$1 options=$2
  shift 2
  mkfifo "$tmp/$name.in"
  HEAPSCOPE=$options "$@" <"$tmp/$name.in" >"$tmp/$name.out" 2>"$tmp/$name.err" &
  pid_of[$name]=$!
  exec {fd}>"$tmp/$name.in"
  fd_of[$name]=$fd
  for _ in $(seq 100); do
    grep -q '^ready$' "$tmp/$name.out" 2>/dev/null && return 0
    sleep 0.1
  done
  fail "$name never said ready: $(cat "$tmp/$name.err")"
  return 1
}
# stop NAME: closes its input and checks that it exits 0.
stop() {
  exec {fd_of[$1]}>&-
  checks=$((checks + 1))
  wait "${pid_of[$1]}" || fail "$1 exited $?: $(cat "$tmp/$1.err")"
}
# expect_status DESCRIPTION STATUS PROBE-ARGS...: $port answers with the
# status and a one-line body.
expect_status() {
  local out
  out=$(probe "$port" "${@:3}")
  checks=$((checks + 1))
  if [ "$(head -1 <<<"$out")" != "$2" ] || [ "$(wc -l <<<"$out")" -ne 2 ]; then
    fail "$1: want $2 and one line, got:"
    sed 's/^/    | /' <<<"$out" | head -5
  fi
}
metric() { awk -v m="$1" '$1 == m { print $2 }' <<<"$2"; }

# ---- 1. Preloaded, serving on any free port ----
start pre "http=0,sample_rate_bytes=1" env LD_PRELOAD="$LIB" "$BUILD/tests/prof/http_sites.plain" || exit 1
port=$(sed -n 's|^heapscope: serving http://127\.0\.0\.1:\([0-9]*\)/debug/pprof/ (pid [0-9]*)$|\1|p' "$tmp/pre.err")
checks=$((checks + 1))
[ -n "$port" ] || { fail "no 'serving' line: $(cat "$tmp/pre.err")"; exit 1; }
url=http://127.0.0.1:$port
echo "serving on port $port"

out=$(pprof -sample_index=inuse_space -unit=B -nodefraction=0 -top "$url/debug/pprof/heap")
expect_match "heap: default type" "$(pprof -top "$url/debug/pprof/heap")" "^Type: inuse_space\$"
expect_match "heap: kept_site's 64 x 8192 B" "$out" "^ +524288B .* kept_site\$"
expect_match "heap: churn_site" "$out" " churn_site\$"
out=$(pprof -sample_index=alloc_objects -unit=minimum -nodefraction=0 -top "$url/debug/pprof/allocs")
expect_match "allocs: default type" "$(pprof -top "$url/debug/pprof/allocs")" "^Type: alloc_space\$"
expect_match "allocs: kept_site's 64 objects" "$out" "^ +64 .* kept_site\$"

expect_match "heapscope top URL" "$("$BUILD/heapscope" top --sample-index=inuse_space "$url/debug/pprof/heap")" \
  "^ +512KiB .* kept_site\$"

# ?seconds=2: the change over two seconds: churn_site, not kept_site.
out=$(pprof -seconds 2 -sample_index=alloc_objects -unit=minimum -nodefraction=0 -top "$url/debug/pprof/allocs")
expect_match "allocs?seconds=2: duration" "$out" "^Duration: [23]\.[0-9]+s"
expect_match "allocs?seconds=2: churn_site" "$out" "^ +[1-9][0-9]{3,} .* churn_site\$"
expect_no_match "allocs?seconds=2: kept_site" "$out" "kept_site"
alloc_total=$(pprof -sample_index=alloc_objects -unit=minimum -nodefraction=0 -top "$url/debug/pprof/allocs" |
  awk '/ churn_site$/ { print $4 }')
checks=$((checks + 1))
delta=$(awk '/ churn_site$/ { print $1 }' <<<"$out")
[ "${delta:-0}" -lt "${alloc_total:-0}" ] || fail "the delta ($delta) is not below the total since start ($alloc_total)"
expect_status "heap?seconds=1" 200 get "/debug/pprof/heap?seconds=1&gc=1"

# /metrics: Prometheus's text format, values that agree with the program.
m1=$(probe "$port" metrics) || fail "metrics: $m1"
sleep 0.3
m2=$(probe "$port" metrics) || fail "metrics: $m2"
checks=$((checks + 1))
[ "$(metric heapscope_heap_alloc_bytes "$m1")" -ge 524288 ] || fail "heap_alloc below kept_site's bytes"
checks=$((checks + 1))
[ "$(metric heapscope_mallocs_total "$m1")" -ge "$(metric heapscope_frees_total "$m1")" ] || fail "frees above mallocs"
checks=$((checks + 1))
[ "$(metric heapscope_mallocs_total "$m2")" -gt "$(metric heapscope_mallocs_total "$m1")" ] || fail "mallocs_total did not grow"
checks=$((checks + 1))
[ "$(metric process_resident_memory_bytes "$m1")" -gt 0 ] || fail "no RSS"
checks=$((checks + 1))
[ "$(metric heapscope_profile_sample_rate_bytes "$m1")" = 1 ] || fail "sample rate is not 1"
expect_match "metrics: build info" "$m1" "^heapscope_build_info 1\$"
expect_match "index" "$(probe "$port" get /debug/pprof/)" 'href="/debug/pprof/heap"'

# Bad requests: the status and one line.
expect_status "unknown path" 404 get /nope
expect_status "POST" 405 send 'POST /metrics HTTP/1.1\r\n\r\n'
for bad in abc 0 -1 3601 1.5 ''; do
  expect_status "seconds=$bad" 400 get "/debug/pprof/heap?seconds=$bad"
done
expect_status "debug=1" 400 get "/debug/pprof/heap?debug=1"
expect_status "garbage request line" 400 send 'GARBAGE\r\n\r\n'
expect_status "no blank line" 400 send 'GET /metrics HTTP/1.1\r\nHost: x'
expect_status "HTTP/2.0" 505 send 'GET /metrics HTTP/2.0\r\n\r\n'
expect_status "a 9000-byte head" 431 send "GET /$(head -c 9000 /dev/zero | tr '\0' a) HTTP/1.1\\r\\n\\r\\n"

# Clients that go away: a reset before the profile is sent (no SIGPIPE),
# connections that say nothing.
probe "$port" abandon 30 /debug/pprof/heap
probe "$port" silent 20
expect_status "after abandoned clients" 200 get /debug/pprof/heap
# Clients that trickle their heads a byte at a time (half a second apart:
# 18 s for the whole head) are answered 408 and closed after 10 s in all,
# not served whenever they finish: eight of them would hold every handler.
out=$(probe "$port" trickle 2 0.5 |
  awk '{ print ($1 == 408 && $2 >= 9.5 && $2 < 15) ? "408 in 10 s" : "not 408 in 10 s: " $0 }' |
  sort | uniq -c | sed 's/^ *//')
expect_match "heads trickled a byte at a time" "$out" "^2 408 in 10 s\$"
# Eight slow requests in flight: a ninth gets 503 at once; seven leave
# room, and /metrics does not wait for them.
out=$(probe "$port" hold 8 "/debug/pprof/allocs?seconds=3")
expect_match "ninth request while eight wait" "$out" "^503 0\.[0-9]+\$"
expect_match "the eight held requests" "$out" "^200 200 200 200 200 200 200 200\$"
out=$(probe "$port" hold 7 "/debug/pprof/allocs?seconds=2")
expect_match "/metrics beside seven slow requests" "$out" "^200 0\.[0-9]+\$"
stop pre

# A daemon closes every descriptor it did not open, heapscope's socket too,
# and listens on the same number: after heapscope answers a last request
# on its own socket (its accept was already waiting there), every
# connection to the program's socket is the program's.
start daemon "http=0" env LD_PRELOAD="$LIB" "$BUILD/tests/prof/http_sites.plain" daemon || exit 1
port=$(sed -n 's|^heapscope: serving http://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' "$tmp/daemon.err")
read -r _ own_port _ own_fd < <(grep own_port "$tmp/daemon.out")
echo "daemon: heapscope's port $port, the program's $own_port (descriptor $own_fd)"
probe "$port" line >/dev/null 2>&1 # the last one heapscope may answer
answers=$(for _ in $(seq 12); do probe "$own_port" line; done | sort | uniq -c | sed 's/^ *//')
expect_match "the program's socket answers only as the program" "$answers" "^12 program\$"
stop daemon

# ---- 2. Bad addresses, a port in use ----
for address in 0.0.0.0:0 8.8.8.8:80 '[::]:0' 70000 localhost: abc; do
  err=$(HEAPSCOPE=http=$address LD_PRELOAD="$LIB" "$BUILD/tests/prof/http_sites.plain" </dev/null 2>&1 >/dev/null)
  checks=$((checks + 1))
  [ $? -eq 0 ] || fail "http=$address: the program failed"
  expect_match "http=$address" "$err" "^heapscope: http=.*: not a loopback address .*; not serving\$"
done
start first "http=127.0.0.1:0" env LD_PRELOAD="$LIB" "$BUILD/tests/prof/http_sites.plain" || exit 1
busy=$(grep -o '127.0.0.1:[0-9]*' "$tmp/first.err")
err=$(HEAPSCOPE=http=$busy LD_PRELOAD="$LIB" "$BUILD/tests/prof/http_sites.plain" </dev/null 2>&1 >/dev/null)
expect_match "port in use" "$err" "^heapscope: http=$busy: Address already in use; not serving\$"
stop first

# ---- 3. Linked: hs_serve_http, and a forked child ----
start linked "sample_rate_bytes=1" "$BUILD/tests/prof/http_sites" serve || exit 1
port=$(awk '$1 == "port" { print $2 }' "$tmp/linked.out")
expect_match "linked: heap" "$(pprof -sample_index=inuse_space -unit=B -top "http://127.0.0.1:$port/debug/pprof/heap")" \
  "^ +524288B .* kept_site\$"
stop linked
start forked "sample_rate_bytes=1" "$BUILD/tests/prof/http_sites" fork || exit 1
for _ in $(seq 50); do grep -q child_port "$tmp/forked.out" && break; sleep 0.1; done
port=$(awk '$1 == "port" { print $2 }' "$tmp/forked.out")
read -r _ child_port _ child_pid < <(grep child_port "$tmp/forked.out")
checks=$((checks + 1))
[ -n "$child_port" ] && [ "$child_port" != "$port" ] || fail "child port '$child_port', parent's $port"
expect_match "fork: the parent serves" "$(probe "$port" get /debug/pprof/)" "pid ${pid_of[forked]},"
expect_match "fork: the child serves" "$(probe "${child_port:-1}" get /debug/pprof/)" "pid $child_pid,"
stop forked

# ---- 4. heapscope run --http: CMD's process serves, not what it starts ----
start wrapped "" "$BUILD/heapscope" run --rate 1 --http 0 -o "$tmp/wrapped.pb.gz" -- \
  sh -c 'for i in 1 2 3; do /bin/true; /bin/cat /dev/null; done; echo "shell $$"; exec "$0"' \
  "$BUILD/tests/prof/http_sites.plain" || exit 1
shell_pid=$(awk '$1 == "shell" { print $2 }' "$tmp/wrapped.out")
servers=$(grep '^heapscope: serving ' "$tmp/wrapped.err")
checks=$((checks + 1))
if [ -z "$shell_pid" ] || [ -z "$servers" ] || grep -qv "(pid $shell_pid)\$" <<<"$servers"; then
  fail "run --http: only the shell's pid ($shell_pid) may serve, got:"
  sed 's/^/    | /' <<<"$servers" | head -10
fi
ports=$(sed -n 's|^heapscope: serving http://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' <<<"$servers" | sort -u)
checks=$((checks + 1))
[ "$(wc -l <<<"$ports")" -eq 1 ] || fail "run --http 0: the shell and the program it execs into printed different ports: $(echo $ports)"
port=$(tail -1 <<<"$ports")
# The programs the shell ran would have found the port taken, had they tried.
expect_no_match "run --http 0: no other process tried to serve" "$(cat "$tmp/wrapped.err")" "not serving"
expect_match "run --http: the program serves" "$(probe "${port:-1}" get /debug/pprof/)" "pid $shell_pid,"
expect_match "run --http: its heap" "$("$BUILD/heapscope" top "http://127.0.0.1:${port:-1}/debug/pprof/heap" 2>&1)" \
  "kept_site"
stop wrapped
for bad in '' 'a,b'; do
  err=$("$BUILD/heapscope" run --http "$bad" -- /bin/true 2>&1)
  rc=$?
  checks=$((checks + 1))
  [ $rc -eq 2 ] || fail "run --http '$bad': exit $rc, want 2"
  expect_match "run --http '$bad'" "$err" "^heapscope run: --http '$bad': an address such as 6060 or 127.0.0.1:6060\$"
done

prof_test_done
