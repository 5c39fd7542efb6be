#!/usr/bin/env bash
# fuzz_test.sh — a short, bounded libFuzzer run of the profile reader
# (tests/fuzz/profile_fuzz.c) from the checked-in seed corpus; any crash,
# hang (>10 s per input), leak or sanitizer report fails.  `make fuzz`
# runs it longer.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
FUZZER=$BUILD/fuzz/profile_fuzz
[ -x "$FUZZER" ] || { echo "FAIL: $FUZZER not built (make tests builds it with clang)"; exit 1; }
WORK=$BUILD/fuzz/test-corpus
rm -rf "$WORK" && mkdir -p "$WORK"
seconds=${HEAPSCOPE_FUZZ_SECONDS:-20}
"$FUZZER" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
  -print_final_stats=1 "$WORK" tests/fuzz/corpus 2>&1 | tail -n 25
echo "fuzzed for ${seconds}s without a crash, hang or leak"
