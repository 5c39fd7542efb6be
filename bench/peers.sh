# peers.sh — sourced by the benchmark scripts: makes sure the peer
# allocators heapscope is compared with are installed (Debian packages
# libjemalloc2 libmimalloc2.0 libtcmalloc-minimal4), installing them with
# apt-get when run as root, and says where they are (LIBDIR).
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
