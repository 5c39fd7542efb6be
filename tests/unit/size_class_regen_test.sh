#!/usr/bin/env bash
# size_class_regen_test.sh — checks src/size_class_table.c is exactly what
# tools/gen_size_classes.py generates now (i.e. nobody edited it by hand or
# changed the generator without regenerating: make sizeclasses).
set -u
cd "$(dirname "$0")/../.." || exit 1
tmp=$(mktemp) || exit 1
trap 'rm -f "$tmp"' EXIT
if ! "${PYTHON:-python3}" tools/gen_size_classes.py > "$tmp"; then
  echo "FAIL size_class_regen: tools/gen_size_classes.py failed"
  exit 1
fi
if ! diff -u src/size_class_table.c "$tmp"; then
  echo "FAIL size_class_regen: src/size_class_table.c is stale; run: make sizeclasses"
  exit 1
fi
echo "ok size_class_regen"
