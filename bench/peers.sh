# peers.sh — sourced by the benchmark scripts: makes sure the peer
# allocators heapscope is compared with are installed (Debian packages
# libjemalloc2 libmimalloc2.0 libtcmalloc-minimal4), installing them with
# apt-get when run as root, and says where they are (LIBDIR); and runs a
# program under each of them in turn (run_peers_in_turn, print_peer_medians).
# Usage: install_peers SCRIPT_NAME; then "$LIBDIR/libjemalloc.so.2" etc.
LIBDIR=/usr/lib/x86_64-linux-gnu
install_peers() {
  local packages=(libjemalloc2 libmimalloc2.0 libtcmalloc-minimal4) missing=() p
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "$1: please install ${missing[*]} (needs root)" >&2
    exit 1
  fi
  echo "installing: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "${missing[@]}" >&2
}

# The allocators side by side, heapscope first, and their libraries ("" is
# glibc: no preload).  heapscope's is $BUILD/libheapscope.so.
# Usage: run_peers_in_turn SCRIPT_NAME RUNS OUTDIR PROGRAM [ARGS...]: runs
# PROGRAM RUNS times under each allocator, taking them in turn run by run,
# and appends its output to OUTDIR/NAME.
PEER_NAMES=(heapscope glibc jemalloc mimalloc tcmalloc)
run_peers_in_turn() {
  local script=$1 runs=$2 outdir=$3 run i
  shift 3
  if [ ! -f "${BUILD:-build}/libheapscope.so" ]; then
    echo "$script: ${BUILD:-build}/libheapscope.so is missing (run make)" >&2
    exit 1
  fi
  local libs=("$(cd "${BUILD:-build}" && pwd)/libheapscope.so" "" "$LIBDIR/libjemalloc.so.2"
    "$LIBDIR/libmimalloc.so.2" "$LIBDIR/libtcmalloc_minimal.so.4")
  for ((run = 0; run < runs; run++)); do
    for i in "${!PEER_NAMES[@]}"; do
      env ${libs[$i]:+LD_PRELOAD=${libs[$i]}} "$@" >>"$outdir/${PEER_NAMES[$i]}"
    done
  done
}

# Usage: print_peer_medians OUTDIR KEY...: one row per allocator, the median
# of each KEY over the lines run_peers_in_turn collected (their key=value
# fields; other words, such as a program's name, are skipped).
print_peer_medians() {
  local outdir=$1
  shift
  python3 - "$outdir" "${PEER_NAMES[@]}" -- "$@" <<'PY'
import statistics, sys
args = sys.argv[1:]
outdir, names, keys = args[0], args[1:args.index("--")], args[args.index("--") + 1:]
print("%-10s" % "allocator" + "".join(" %14s" % k for k in keys))
for name in names:
    rows = [dict(f.split("=", 1) for f in line.split() if "=" in f)
            for line in open("%s/%s" % (outdir, name))]
    meds = [statistics.median(float(r[k]) for r in rows) for k in keys]
    print("%-10s" % name + "".join(" %14.6g" % m for m in meds))
PY
}
