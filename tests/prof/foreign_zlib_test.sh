#!/usr/bin/env bash
# foreign_zlib_test.sh — profiles written from programs that export zlib
# functions of their own, preloaded (.plain) and linked: zlib_carrier (a
# whole zlib of another version: the writer asks it, it refuses, the
# profile goes out as stored blocks), zlib_clash (a crc32 of its own, which
# libz.so.1 would call: the writer uses no zlib) and zlib_clash_libz (the
# same crc32 in a program linked with libz.so.1: no zlib either).  Each way
# the program exits 0 and the profile is a valid gzip file pprof reads.
set -u
source "$(dirname "$0")/lib.sh"
has_site() {
  go tool pprof -symbolize=none -sample_index=alloc_objects -nodefraction=0 -top "$1" 2>&1 |
    grep -Eq " $2\$"
}

for variant in preload linked; do
  for program in carrier clash clash_libz; do
    prog=$BUILD/tests/prof/zlib_$program
    profile=$tmp/$variant.$program.pb.gz
    env=(HEAPSCOPE="profile=$profile,sample_rate_bytes=1")
    if [ $variant = preload ]; then
      prog=$prog.plain
      env+=(LD_PRELOAD="$LIB")
    fi
    env "${env[@]}" "$prog" >"$tmp/out" 2>"$tmp/err"
    status=$?
    name="$variant zlib_$program"
    check "$name: exit status 0, got $status ($(head -c 200 "$tmp/err"))" test $status -eq 0
    check "$name: profile written" test -s "$profile"
    check "$name: a valid gzip file" gzip -t "$profile"
    site=${program%_libz}_site # zlib_clash_libz is zlib_clash.c again
    check "$name: pprof reads $site" has_site "$profile" "$site"
    if [ $program = carrier ]; then
      check "$name: the program's own zlib was asked" grep -q "deflateInit2_ refused" "$tmp/err"
      check "$name: libz.so.1 never called the program's functions" \
        bash -c "! grep -q 'libz.so.1 called' '$tmp/err'"
    else
      check "$name: the program's crc32 still its own" grep -q "^crc32 " "$tmp/out"
    fi
  done
done
check "no temporary files" bash -c "! ls '$tmp' | grep -q '\.tmp\.'"

prof_test_done
