#!/usr/bin/env bash
# reloaded_library_test.sh — a library unloaded and another loaded where it
# was, with the same code but a different frame size at the same return
# address (tests/prof/reload_site.S built twice), then the first again:
# every sample, preloaded and linked, must unwind through site,
# calling_site and main.  A profiler that kept the unloaded library's
# unwind rules reads 1 MiB past the small frame (off the stack: SIGSEGV)
# or stops short in the big one.  The same across exactly as many unloads
# as the unwinder's rule generations can tell apart (4096), where its cache
# must be emptied or the first library's rules come back.  And a library
# unloaded for good before the profile is written: its frames must name
# its mapping and, while its file is unchanged, its function.
set -u
source "$(dirname "$0")/lib.sh"

cc -shared -DFRAME_BYTES=0x100008 -o "$tmp/libreload_big.so" tests/prof/reload_site.S &&
  cc -shared -DFRAME_BYTES=0x1008 -o "$tmp/libreload_small.so" tests/prof/reload_site.S ||
  { echo "FAIL: cannot build the libraries"; exit 1; }
libs=("$tmp/libreload_big.so" "$tmp/libreload_small.so" "$tmp/libreload_big.so")

# Samples whose stack has site, and of those the ones that go on through
# calling_site to main, from `go tool pprof -traces`.
count_stacks() {
  go tool pprof -traces -sample_index=alloc_objects "$1" 2>/dev/null | awk '
    function flush() {
      if (n != "" && frames ~ /(^| )site( |$)/) {
        all += n
        if (frames ~ /(^| )site calling_site main( |$)/) whole += n
      }
      n = ""; frames = ""
    }
    /^-+\+-+$/ { flush(); next }
    /^ +[0-9]+ +[^ ]/ { flush(); n = $1; frames = $2; next }
    n != "" && /^ +[^ ]/ { frames = frames " " $1 }
    END { flush(); print all + 0, whole + 0 }'
}

# SCENARIO: reload (big, small, big), early (the same, big opened by a
# constructor that runs before heapscope's where heapscope is linked in:
# heapscope must not take it for a library of the program's start-up, which
# is never unloaded) or wrap (big; the small one loaded and unloaded 4095
# times, uncalled: with big's unload, 4096 generations, back to big's; then
# small, called).
for variant in preload linked; do
  for scenario in reload early wrap; do
    profile=$tmp/$variant.$scenario.pb.gz
    early=$([ $scenario = early ] && echo 1 || echo 0)
    if [ $variant = preload ]; then
      run=(env LD_PRELOAD="$LIB" HEAPSCOPE="sample_rate_bytes=1,profile=$profile"
           RELOAD_SITES_OPEN_EARLY=$early "$BUILD/tests/prof/reload_sites.plain")
    else
      run=(env HEAPSCOPE="sample_rate_bytes=1,profile=$profile" RELOAD_SITES_OPEN_EARLY=$early
           "$BUILD/tests/prof/reload_sites")
    fi
    if [ $scenario != wrap ]; then
      args=("${libs[@]}")
    else
      args=(--unloads=4095 "$tmp/libreload_big.so" "$tmp/libreload_small.so")
    fi
    rounds=$((${#args[@]} - $([ $scenario = wrap ] && echo 1 || echo 0)))
    "${run[@]}" "${args[@]}" >"$tmp/out" 2>"$tmp/err"
    status=$?
    name="$variant $scenario"
    check "$name: exit status 0, got $status ($(head -c 200 "$tmp/err"))" test $status -eq 0
    check "$name: $rounds rounds ran" test "$(grep -c '^site ' "$tmp/out")" -eq $rounds
    check "$name: each library loaded at the same address (else nothing is shown)" \
      test "$(sort -u "$tmp/out" | wc -l)" -eq 1
    read -r all whole <<<"$(count_stacks "$profile")"
    check "$name: $((rounds * 200)) samples at site, got ${all:-none}" \
      test "${all:-0}" -eq $((rounds * 200))
    check "$name: all of them through calling_site and main, got ${whole:-none}" \
      test "${whole:-0}" -eq $((rounds * 200))
  done
done

# A library unloaded before the profile is written: /proc/self/maps no
# longer shows it, and its frames still name it (heapscope's dlclose
# remembers what it unloads): a mapping with its path and build ID, and its
# function `site` from the file.  Then the same with the file replaced
# after the unload by one with another build ID: the mapping stays (every
# location names one, as fleet profilers' ingesters need) and names no
# function from the wrong file.
for variant in preload linked; do
  for file in kept replaced; do
    profile=$tmp/$variant.$file.pb.gz
    cp "$tmp/libreload_small.so" "$tmp/libgone.so"
    if [ $variant = preload ]; then
      run=(env LD_PRELOAD="$LIB" HEAPSCOPE="sample_rate_bytes=1,profile=$profile"
           "$BUILD/tests/prof/reload_sites.plain")
    else
      run=(env HEAPSCOPE="sample_rate_bytes=1,profile=$profile" "$BUILD/tests/prof/reload_sites")
    fi
    [ $file = replaced ] && run+=(--replace-last-with="$tmp/libreload_big.so")
    "${run[@]}" --unload-last "$tmp/libgone.so" >"$tmp/out" 2>"$tmp/err"
    status=$?
    name="$variant gone, file $file"
    check "$name: exit status 0, got $status ($(head -c 200 "$tmp/err"))" test $status -eq 0
    raw=$(go tool pprof -raw "$profile" 2>&1)
    build_id=$(readelf -n "$tmp/libreload_small.so" | awk '/Build ID/ { print $3 }')
    expect_match "$name: a mapping for the unloaded library, its build ID" "$raw" \
      "^ *[0-9]+: 0x[0-9a-f]+/0x[0-9a-f]+/0x[0-9a-f]+ $tmp/libgone.so $build_id"
    expect_no_match "$name: no location without a mapping" "$raw" '^ +[0-9]+: 0x[0-9a-f]+ +([^M]|$)'
    traces=$(go tool pprof -traces -sample_index=alloc_objects "$profile" 2>&1)
    stacks=$(awk '/^-+\+-+$/ { if (n != "") print n, f; n = ""; f = ""; next }
                  /^ +[0-9]+ +[^ ]/ { n = $1; f = $2; next }
                  n != "" && /^ +[^ ]/ { f = f " " $1 }' <<<"$traces")
    if [ $file = kept ]; then
      expect_match "$name: 200 samples through site, calling_site, main" "$stacks" \
        '^200 site calling_site main( |$)'
    else
      expect_match "$name: 200 samples through an unnamed frame, calling_site, main" "$stacks" \
        '^200 [^ ]*libgone[^ ]* calling_site main( |$)'
    fi
  done
done

prof_test_done
