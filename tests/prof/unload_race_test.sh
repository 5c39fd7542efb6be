#!/usr/bin/env bash
# unload_race_test.sh — tests/prof/unload_race.c, preloaded and linked:
# three threads load, call and unload a library over and over for 2 s
# while the main thread has a profile written every 20 ms (profile_signal)
# and forks every 100 ms.  heapscope's dlclose notes each library before
# the real call, and each profile written reads those notes: the program
# must end within 60 s with every child exiting 0, and the profile written
# at exit, when the library is unloaded, must name `site` in it.
set -u
source "$(dirname "$0")/lib.sh"
require_go

cc -shared -DFRAME_BYTES=0x1008 -o "$tmp/librace.so" tests/prof/reload_site.S ||
  { echo "FAIL: cannot build the library"; exit 1; }
signal=12
for variant in preload linked; do
  profile=$tmp/$variant.%n.pb.gz
  if [ $variant = preload ]; then
    run=(env LD_PRELOAD="$LIB" HEAPSCOPE="sample_rate_bytes=1,profile_signal=$signal,profile=$profile"
         "$BUILD/tests/prof/unload_race.plain")
  else
    run=(env HEAPSCOPE="sample_rate_bytes=1,profile_signal=$signal,profile=$profile"
         "$BUILD/tests/prof/unload_race")
  fi
  timeout 60 "${run[@]}" "$tmp/librace.so" 3 2 $signal >"$tmp/out" 2>"$tmp/err"
  status=$?
  check "$variant: exit status 0 within 60 s, got $status ($(head -c 200 "$tmp/err"))" test $status -eq 0
  expect_match "$variant: cycles run, no child failed" "$(cat "$tmp/out")" '^cycles=[1-9][0-9]* failed_children=0$'
  # How many the writer gets through in 2 s depends on the host (7-9 of
  # 100 signals with the CPUs busy, more when idle): at least one on a
  # signal and the one at exit.
  written=$(ls "$tmp"/$variant.*.pb.gz 2>/dev/null | wc -l)
  check "$variant: profiles written on the signal and at exit, got $written" test "$written" -ge 2
  last=$(ls -v "$tmp"/$variant.*.pb.gz 2>/dev/null | tail -1)
  bad=0
  for f in "$tmp"/$variant.*.pb.gz; do go tool pprof -raw "$f" >/dev/null 2>&1 || bad=$((bad + 1)); done
  check "$variant: every profile reads, $bad did not" test $bad -eq 0
  traces=$(go tool pprof -traces -sample_index=alloc_objects "$last" 2>&1)
  expect_match "$variant: the last profile names site, in the unloaded library" "$traces" '^ +[0-9]+ +site$'
done

prof_test_done
