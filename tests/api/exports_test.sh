#!/usr/bin/env bash
# exports_test.sh — libheapscope.so and libheapscope.a export only the names
# listed in the global section of src/exports.map (hs_* = any name starting
# with hs_), and the .so exports the malloc family a drop-in must provide.
set -u
cd "$(dirname "$0")/../.." || exit 1
set -f # the map holds patterns such as hs_*: never glob them
BUILD=${BUILD:-build}
SO=$BUILD/libheapscope.so
AR=$BUILD/libheapscope.a
MAP=src/exports.map
status=0

for f in "$SO" "$AR" "$MAP"; do
  if [ ! -e "$f" ]; then
    echo "FAIL exports_test: $f does not exist"
    exit 1
  fi
done

# Allowed names: the text between "global:" and "local:", comments removed.
allowed=$(sed -e 's|/\*.*\*/||g' -e 's|//.*$||' "$MAP" |
  awk '/global:/ { on = 1; sub(/.*global:/, "") }
       /local:/  { on = 0 }
       on' |
  tr ';' '\n' | tr -d ' \t' | grep -v '^$')
if [ -z "$allowed" ]; then
  echo "FAIL exports_test: no names parsed from the global section of $MAP"
  exit 1
fi

# is_allowed NAME: exact match, or a pattern ending in * (hs_*) matching the prefix.
is_allowed() {
  local name=$1 pat
  for pat in $allowed; do
    case $pat in
      *\*) [[ $name == "${pat%\*}"* ]] && return 0 ;;
      *) [ "$name" = "$pat" ] && return 0 ;;
    esac
  done
  return 1
}

# check LABEL: reads "TYPE NAME" lines on stdin, reports names not allowed.
check() {
  local label=$1 type name bad=""
  while read -r type name; do
    [ -z "$name" ] && continue
    name=${name%%@*} # strip a symbol version, if any
    is_allowed "$name" || bad="$bad $name($type)"
  done
  if [ -n "$bad" ]; then
    echo "FAIL exports_test: $label exports names outside $MAP:$bad"
    return 1
  fi
  return 0
}

# Shared library: dynamic symbols defined here, except absolute (A) ones
# such as version-node names.
so_syms=$(nm -D --defined-only "$SO" | awk 'NF >= 3 && $2 != "A" { print $2, $3 }')
check "$SO" <<<"$so_syms" || status=1

required="malloc free calloc realloc reallocarray posix_memalign aligned_alloc memalign valloc pvalloc
  malloc_usable_size malloc_trim mallopt mallinfo mallinfo2 malloc_stats malloc_info"
missing=""
for name in $required; do
  awk -v n="$name" '$2 == n { found = 1 } END { exit !found }' <<<"$so_syms" ||
    missing="$missing $name"
done
if [ -n "$missing" ]; then
  echo "FAIL exports_test: $SO does not export:$missing"
  status=1
fi

# Static archive: global symbols (uppercase types T/D/B/R/W/V/...; U is undefined
# and not listed with --defined-only).
ar_syms=$(nm --defined-only --extern-only "$AR" 2>/dev/null |
  awk 'NF >= 3 && $2 ~ /^[A-Z]$/ && $2 != "A" { print $2, $3 }')
if [ -z "$ar_syms" ]; then
  echo "FAIL exports_test: $AR defines no global symbols"
  status=1
else
  check "$AR" <<<"$ar_syms" || status=1
  missing=""
  for name in malloc free calloc realloc; do
    awk -v n="$name" '$2 == n { found = 1 } END { exit !found }' <<<"$ar_syms" ||
      missing="$missing $name"
  done
  if [ -n "$missing" ]; then
    echo "FAIL exports_test: $AR does not define:$missing"
    status=1
  fi
fi

# The .so's initial-exec TLS block stays small: glibc gives a library loaded
# after start-up only a little static TLS (rtld.optional_static_tls, 512
# bytes, plus what is left of the 1664-byte surplus), and the per-class
# arrays that do not need %fs-relative access live in metadata instead.
tls_memsz=$(readelf -lW "$SO" | awk '$1 == "TLS" { print $6 }')
if [[ ! $tls_memsz =~ ^0x[0-9a-f]+$ ]]; then
  echo "FAIL exports_test: $SO has no TLS segment (readelf -lW)"
  status=1
elif [ $((tls_memsz)) -gt 1664 ]; then
  echo "FAIL exports_test: $SO needs $((tls_memsz)) bytes of static TLS (more than 1664)"
  status=1
fi

[ $status -eq 0 ] && echo "ok exports_test"
exit $status
