#!/usr/bin/env bash
# flame_browser_test.sh — `heapscope flame` on a Go heap profile: the SVG is
# well-formed and names the hottest function; the HTML page renders in
# headless Chromium (Debian's chromium + playwright-core from npm, installed
# under $BUILD/node) with the network blocked: screenshot, hottest name
# visible, hover detail, search, click-to-zoom.  Acceptance check 4.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cli_test_workdir flame
[ -x /usr/bin/chromium ] || fail "/usr/bin/chromium missing (.ci/run installs chromium)"
command -v node >/dev/null || fail "node missing (.ci/run installs nodejs)"
PROFILE=tests/fuzz/corpus/go_heap.pb.gz

"$HS" flame --sample-index=alloc_space "$PROFILE" -o "$WORK/flame.svg"
"$HS" flame --sample-index=alloc_space "$PROFILE" -o "$WORK/flame.html"
"$PYTHON" - "$WORK/flame.svg" <<'PY'
import sys, xml.dom.minidom
doc = xml.dom.minidom.parse(sys.argv[1])
texts = [t.firstChild.data for t in doc.getElementsByTagName("text") if t.firstChild]
assert "main.hotSite" in texts, texts
fills = {r.getAttribute("fill") for r in doc.getElementsByTagName("rect")}
print("svg ok: %d frames labelled, %d colours" % (len(texts), len(fills)))
PY
grep -Eq 'https?://[^"]*\.(js|css)|<link |src="http' "$WORK/flame.html" && fail "page references network resources"

# playwright-core, once per build directory
NODE_DIR=$BUILD/node
if [ ! -d "$NODE_DIR/node_modules/playwright-core" ]; then
  mkdir -p "$NODE_DIR"
  (cd "$NODE_DIR" && npm install --no-audit --no-fund --silent playwright-core@1 >/dev/null) ||
    fail "npm install playwright-core"
fi
timeout 120 node tests/cli/flame_browser.js "$NODE_DIR" "$WORK/flame.html" main.hotSite main.middle "$WORK"
ls -l "$WORK"/flame*.png
"$PYTHON" -c "
import sys
data = open(sys.argv[1], 'rb').read()
assert data[:8] == b'\x89PNG\r\n\x1a\n' and len(data) > 5000, len(data)
print('screenshot', len(data), 'bytes')
" "$WORK/flame.png"
echo "flame browser test passed"
