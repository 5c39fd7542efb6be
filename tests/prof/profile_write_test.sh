#!/usr/bin/env bash
# profile_write_test.sh — the ways a profile gets written, on alloc_sites
# both preloaded (.plain + LD_PRELOAD) and linked: at exit (profile=PATH,
# %p → pid), per forked child, on a signal (profile_signal=N), every N
# seconds (profile_interval_seconds=N), at the memory limit
# (profile_at_limit=1), at the heap's peak (peak_profile=PATH), on demand
# (hs_prof_write); no temporary file is ever left; bad options give one
# line and the program carries on.  Profiles are read with go tool pprof.
set -u
source "$(dirname "$0")/lib.sh"
top() { go tool pprof -symbolize=none -sample_index=alloc_objects -nodefraction=0 -top "$1" 2>&1; }
has_site() { top "$1" | grep -Eq " $2\$"; }
lacks_site() { ! has_site "$@"; }

# A library that gives up inside a write (libdw calls error(EXIT_FAILURE)
# when out of memory) ends the process from the thread that holds the
# write lock: exit must neither wait for that write nor take the lock for
# the exit profile.  A shim whose write() calls exit(7) on the writer
# thread stands in for libdw.  Before, exit waited 10 s on its own write,
# then hung on the lock for good.
cat >"$tmp/exit_in_write.c" <<'C'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>
ssize_t write(int fd, const void *data, size_t size) {
  static ssize_t (*real_write)(int, const void *, size_t);
  if (!real_write) real_write = (ssize_t (*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
  char name[16] = "";
  prctl(PR_GET_NAME, name);
  if (strcmp(name, "heapscope-prof") == 0) exit(7);
  return real_write(fd, data, size);
}
C
cc -shared -fPIC -o "$tmp/exit_in_write.so" "$tmp/exit_in_write.c" -ldl ||
  { echo "FAIL: cannot build the exit_in_write shim"; exit 1; }
start=$(date +%s%N)
timeout 60 env LD_PRELOAD="$tmp/exit_in_write.so:$LIB" \
  HEAPSCOPE="profile=$tmp/exw.%n.pb.gz,profile_signal=12,sample_rate_bytes=1" \
  "$BUILD/tests/prof/alloc_sites.plain" signal 12 "$tmp/exw.1.pb.gz" >/dev/null 2>&1
status=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
check "exit inside a write: the program's status 7, got $status" test $status -eq 7
check "exit inside a write: within 3 s, took $ms ms" test $ms -lt 3000
check "exit inside a write: no half-written profile renamed into place" \
  sh -c "! ls '$tmp'/exw.*.pb.gz 2>/dev/null | grep -q ."

for variant in preload linked; do
  dir=$tmp/$variant
  mkdir -p "$dir"
  if [ $variant = preload ]; then
    run() { env LD_PRELOAD="$LIB" "$@"; }
    prog=$BUILD/tests/prof/alloc_sites.plain
  else
    run() { env "$@"; }
    prog=$BUILD/tests/prof/alloc_sites
  fi

  # At exit, %p expanded.
  out=$(run HEAPSCOPE="profile=$dir/exit.%p.pb.gz,sample_rate_bytes=1" "$prog" exit)
  pid=$(awk '$1 == "pid" { print $2 }' <<<"$out")
  check "$variant: exit profile exit.$pid.pb.gz" test -s "$dir/exit.$pid.pb.gz"
  check "$variant: exit profile has kept_site" has_site "$dir/exit.$pid.pb.gz" kept_site

  # Fork without exec: the child writes its own file, with its own samples.
  out=$(run HEAPSCOPE="profile=$dir/fork.pb.gz,sample_rate_bytes=1" "$prog" fork)
  child=$(awk '$1 == "child" { print $2 }' <<<"$out")
  check "$variant: parent's fork.pb.gz" test -s "$dir/fork.pb.gz"
  check "$variant: child's fork.pb.gz.$child" test -s "$dir/fork.pb.gz.$child"
  check "$variant: child's profile has child_site" has_site "$dir/fork.pb.gz.$child" child_site
  check "$variant: parent's profile lacks child_site" lacks_site "$dir/fork.pb.gz" child_site
  out=$(run HEAPSCOPE="profile=$dir/forkp.%p.pb.gz,sample_rate_bytes=1" "$prog" fork)
  child=$(awk '$1 == "child" { print $2 }' <<<"$out")
  pid=$(awk '$1 == "pid" { print $2 }' <<<"$out")
  check "$variant: %p: child's own file" has_site "$dir/forkp.$child.pb.gz" child_site
  check "$variant: %p: parent's file" test -s "$dir/forkp.$pid.pb.gz"

  # On a signal: the writer thread writes sig.1 while the program waits;
  # the exit profile is sig.2.
  check "$variant: signal" run HEAPSCOPE="profile=$dir/sig.%n.pb.gz,profile_signal=12,sample_rate_bytes=1" \
    "$prog" signal 12 "$dir/sig.1.pb.gz"
  check "$variant: signal profile has kept_site" has_site "$dir/sig.1.pb.gz" kept_site
  check "$variant: exit after signal" test -s "$dir/sig.2.pb.gz"
  # A forked child has its own writer thread (threads do not survive fork).
  out=$(run HEAPSCOPE="profile=$dir/fsig.pb.gz,profile_signal=12,sample_rate_bytes=1" \
    "$prog" forksignal 12 "$dir/fsig.pb.gz")
  check "$variant: signal in a forked child" test $? -eq 0
  child=$(awk '$1 == "child" { print $2 }' <<<"$out")
  check "$variant: forked child's signal profile" has_site "$dir/fsig.pb.gz.$child" child_site

  # Every second: int.1 and int.2 while the program waits for int.2; the
  # exit profile is int.3.
  check "$variant: interval" run HEAPSCOPE="profile=$dir/int.%n.pb.gz,profile_interval_seconds=1,sample_rate_bytes=1" \
    "$prog" wait "$dir/int.2.pb.gz"
  check "$variant: interval profile has kept_site" has_site "$dir/int.1.pb.gz" kept_site
  check "$variant: exit after intervals" test -s "$dir/int.3.pb.gz"

  # At the memory limit: 40 MiB against a soft limit of 16 MiB reach it on
  # each of the last ~24 allocations, and one profile is written (lim.1,
  # while the program waits for it; then one a minute at most); the exit
  # profile is lim.2.
  check "$variant: at the limit" run HEAPSCOPE="profile=$dir/lim.%n.pb.gz,profile_at_limit=1,memory_limit_bytes=16M,sample_rate_bytes=1" \
    "$prog" limit "$dir/lim.1.pb.gz"
  check "$variant: limit profile has limit_site" has_site "$dir/lim.1.pb.gz" limit_site
  check "$variant: exit after the limit profile" test -s "$dir/lim.2.pb.gz"
  check "$variant: one limit profile" test ! -e "$dir/lim.3.pb.gz"

  # At a hard limit the write needs memory the limit refuses the program: it
  # may take the heap an eighth of the limit (at least 8 MiB) past it, and,
  # with no room for libdw, names functions from dynamic symbols only (pprof
  # names the rest from the binary).  Before, the limit profile failed
  # ("cannot write profile"), or libdw ran out of memory and ended the
  # process (status 1).
  check "$variant: at a hard limit" run HEAPSCOPE="profile=$dir/hard.%n.pb.gz,profile_at_limit=1,memory_limit_bytes=16M,memory_limit_mode=hard" \
    "$prog" limit "$dir/hard.1.pb.gz"
  check "$variant: hard-limit profile has limit_site (pprof symbolizing from the binary)" \
    sh -c "go tool pprof -symbolize=local -sample_index=alloc_objects -nodefraction=0 -top '$dir/hard.1.pb.gz' 2>&1 | grep -Eq ' limit_site\$'"
  check "$variant: exit profile after the hard limit" test -s "$dir/hard.2.pb.gz"

  # At the heap's peak: 8 MiB from limit_site, held 1 s, 32 MiB more, held
  # 2 s, all freed, then 4 MiB from after_peak_site kept to the exit.  peak.pb.gz, replaced at each
  # new peak, holds limit_site's 40 MiB (at least the 35.6 an eighth below;
  # pprof's MB are MiB) and not after_peak_site; the exit profile the
  # reverse.
  check "$variant: peak" run HEAPSCOPE="peak_profile=$dir/peak.pb.gz,profile=$dir/after.pb.gz,sample_rate_bytes=1" \
    "$prog" peak "$dir/peak.pb.gz"
  inuse_mb() { go tool pprof -sample_index=inuse_space -unit=MB -top "$1" 2>/dev/null |
    awk -v f="$2" '$NF == f { sub(/MB$/, "", $1); print $1 }'; }
  mb=$(inuse_mb "$dir/peak.pb.gz" limit_site)
  check "$variant: peak profile holds limit_site's 40 MiB (${mb:-none} MB)" awk -v m="${mb:-0}" 'BEGIN { exit !(m >= 35.5 && m <= 40) }'
  check "$variant: peak profile lacks after_peak_site" lacks_site "$dir/peak.pb.gz" after_peak_site
  check "$variant: exit profile has after_peak_site" has_site "$dir/after.pb.gz" after_peak_site
  check "$variant: no temporary file left" bash -c "! ls '$dir' | grep -q '\.tmp\.'"
  # A program that exits as soon as its heap passed 1 MiB: exit lets the
  # writer take the request first.
  run HEAPSCOPE="peak_profile=$dir/short.pb.gz,sample_rate_bytes=1" "$prog" exit >/dev/null
  check "$variant: a short program's peak profile has kept_site" has_site "$dir/short.pb.gz" kept_site

  # On demand.
  check "$variant: hs_prof_write" run HEAPSCOPE=sample_rate_bytes=1 "$prog" write "$dir/demand.pb.gz"
  check "$variant: on-demand profile has churn_site" has_site "$dir/demand.pb.gz" churn_site
  check "$variant: on-demand allocs default" bash -c "go tool pprof -symbolize=none -top '$dir/demand.pb.gz' 2>&1 | grep -q '^Type: alloc_space$'"

  # Bad values: one clear line each, and the program still runs and writes.
  err=$(run HEAPSCOPE="profile_signal=99,profile=$dir/bad.pb.gz,sample_rate_bytes=1" "$prog" exit 2>&1 >/dev/null)
  check "$variant: bad profile_signal reported" grep -q "bad value 'profile_signal=99'.*signal number" <<<"$err"
  check "$variant: one line" test "$(wc -l <<<"$err")" -eq 1
  check "$variant: still written" test -s "$dir/bad.pb.gz"
  # An unwritable path: one line naming it, exit status unchanged.
  err=$(run HEAPSCOPE="profile=$dir/missing/x.pb.gz" "$prog" exit 2>&1 >/dev/null)
  check "$variant: exit status kept" test $? -eq 0
  check "$variant: unwritable path reported" grep -q "cannot write profile $dir/missing/x.pb.gz: No such file or directory" <<<"$err"

  check "$variant: no temporary files" bash -c "! ls -R '$dir' | grep -q '\.tmp\.'"
done

prof_test_done
