#!/usr/bin/env bash
# fixed_rbp_test.sh — a sample's stack walk starts at the caller of the
# public entry point with RBP as that caller left it
# (unwind_capture_caller), which holds only while no frame from the entry
# point down to where the sample reads RBP writes it.  Those frames are
# malloc.c's, built with -ffixed-rbp (Makefile); the compiler still uses
# RBP as a frame pointer in a function that needs one (a variable-length
# array, alloca, a realigned stack).  So: every instruction of malloc.o
# that names RBP must be a plain read of it into another register, and
# none may be `leave`.
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
checked=0
for object in "$BUILD"/obj/malloc.o "$BUILD"/hardened/obj/malloc.o "$BUILD"/ubsan/obj/malloc.o; do
  [ -f "$object" ] || continue
  writes=$(objdump -d --no-show-raw-insn "$object" | awk '
    /^[0-9a-f]+ <.*>:$/ { function_name = $2 }
    /%(rbp|ebp|bpl|bp)([^a-z0-9]|$)|[ \t]leave/ {
      line = $0
      sub(/^ *[0-9a-f]+:\t/, "", line)
      if (line !~ /^mov +%rbp,%[a-z0-9]+$/) print function_name " " line
    }')
  if [ -n "$writes" ]; then
    echo "FAIL fixed_rbp: $object writes RBP (build it with -ffixed-rbp, and no VLA or alloca):"
    echo "$writes"
    exit 1
  fi
  checked=$((checked + 1))
done
if [ "$checked" -lt 1 ]; then
  echo "FAIL fixed_rbp: $BUILD/obj/malloc.o is missing (make)"
  exit 1
fi
echo "ok fixed_rbp ($checked objects)"
