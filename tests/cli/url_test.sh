#!/usr/bin/env bash
# url_test.sh — heapscope's commands take a URL where they take a profile
# file, as go tool pprof does: a Go program's net/http/pprof endpoint
# (tests/cli/goserve.go; a chunked body), with exact values, and clear
# one-line errors for a missing path, a refused connection, a bad URL.
# (heapscope's own endpoint: tests/prof/http_test.sh.)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cli_test_go_workdir url

go build -o "$WORK/goserve" tests/cli/goserve.go
mkfifo "$WORK/in"
"$WORK/goserve" <"$WORK/in" >"$WORK/out" &
server=$!
exec 3>"$WORK/in"
trap 'exec 3>&-; wait $server || true' EXIT
for _ in $(seq 100); do grep -q '^port ' "$WORK/out" && break; sleep 0.1; done
port=$(awk '$1 == "port" { print $2 }' "$WORK/out")
[ -n "$port" ] || fail "goserve did not start"
url=http://127.0.0.1:$port/debug/pprof/heap?gc=1

# Go sends the profile chunked: the case this test is for.
encoding=$("$PYTHON" -c '
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=30)
c.request("GET", "/debug/pprof/heap?gc=1")
print(c.getresponse().getheader("Transfer-Encoding"))' "$port")
[ "$encoding" = chunked ] || fail "Go's server sent Transfer-Encoding: $encoding, not chunked"

# keptSite's 500 x 8192 B (the Go runtime may charge an odd small object
# to a site now and then, as in go_profiles_test.sh).
for index in inuse_space inuse_objects; do
  "$HS" top --json --sample-index=$index "$url" >"$WORK/$index.json"
done
"$PYTHON" - "$WORK/inuse_space.json" "$WORK/inuse_objects.json" <<'PY'
import json, sys
space, objects = ({r["function"]: r["flat"] for r in json.load(open(p))["functions"]}
                  for p in sys.argv[1:])
assert 500 * 8192 <= space["main.keptSite"] <= 500 * 8192 + 1024, space["main.keptSite"]
assert 500 <= objects["main.keptSite"] <= 505, objects["main.keptSite"]
PY

# Errors: the status and the server's first line; no connection; no URL.
expect_error() {
  local out
  if out=$("$HS" top "$1" 2>&1); then fail "top $1 succeeded"; fi
  grep -Eq -- "$2" <<<"$out" || fail "top $1: want /$2/, got: $out"
  [ "$(wc -l <<<"$out")" -eq 1 ] || fail "top $1: more than one line: $out"
}
expect_error "http://127.0.0.1:$port/nope" "^heapscope top: http://127.0.0.1:$port/nope: HTTP 404: 404 page not found\$"
expect_error "http://127.0.0.1:$port?x=1" "^heapscope top: http://127.0.0.1:$port\\?x=1: HTTP 404: 404 page not found\$"
expect_error "http://127.0.0.1:1/debug/pprof/heap" ": cannot connect to 127.0.0.1:1: Connection refused\$"
expect_error "http://:80/" ": not a URL of the form http://HOST:PORT/PATH\$"
echo "url_test: ok"
