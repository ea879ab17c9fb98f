#!/usr/bin/env bash
# Browser test of the web page of `diffuse serve`: starts the server on a free port, drives Debian's
# chromium headless through playwright-core (npm) with Node's built-in test runner, stops the server.
#
#   tests/browser/run.sh DIFFUSE_BINARY MODEL_PATH OUTPUT_DIR
#   tests/browser/run.sh --mock OUTPUT_DIR        # against tests/browser/mock_server.mjs (no model, no build)
#
# OUTPUT_DIR receives page-desktop.png (1280x800), page-phone.png (390x844), page-phone-full.png,
# page-viewer.png and server.log. Exit status: 0 passed, 1 failed, 77 skipped (no node/npm/chromium,
# or playwright-core could not be installed).
# Environment: CHROMIUM (default /usr/bin/chromium), TEST_SIZE (64), TEST_STEPS (10),
# TEST_SLOW_STEPS (steps of the generation whose progress is watched, 40), DIFFUSE_SERVE_ARGS
# (extra arguments for `diffuse serve`), LISTEN_TIMEOUT (seconds to wait for the server, 120).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

usage() {
  echo "usage: $0 DIFFUSE_BINARY MODEL_PATH OUTPUT_DIR" >&2
  echo "       $0 --mock OUTPUT_DIR" >&2
  exit 2
}

mock=0
if [[ "${1:-}" == "--mock" ]]; then
  [[ $# -eq 2 ]] || usage
  mock=1
  out="$2"
else
  [[ $# -eq 3 ]] || usage
  diffuse="$1"
  model="$2"
  out="$3"
  [[ -x "$diffuse" ]] || { echo "browser test: $diffuse is not an executable" >&2; exit 1; }
  [[ -e "$model" ]] || { echo "browser test: model $model not found" >&2; exit 1; }
  diffuse="$(cd "$(dirname "$diffuse")" && pwd)/$(basename "$diffuse")"
fi
mkdir -p "$out"
out="$(cd "$out" && pwd)"

chromium="${CHROMIUM:-/usr/bin/chromium}"
source "$here/../node_test_lib.sh"
require_node "browser test"
if [[ ! -x "$chromium" ]]; then
  echo "browser test skipped: $chromium not found (apt-get install -y chromium)" >&2
  exit 77
fi
# playwright-core only: it downloads no browser.
npm_install_once "browser test" "$here" playwright-core

log="$out/server.log"
if (( mock )); then
  start_server "browser test" "$log" node "$here/mock_server.mjs" --port 0
else
  # shellcheck disable=SC2086
  start_server "browser test" "$log" "$diffuse" serve -m "$model" --port 0 ${DIFFUSE_SERVE_ARGS:-}
fi
url="http://127.0.0.1:${server_port}/"

status=0
(cd "$here" && DIFFUSE_URL="$url" OUTPUT_DIR="$out" CHROMIUM="$chromium" \
  node --test --test-reporter=spec page.test.mjs) || status=$?

if (( status != 0 )); then
  echo "browser test FAILED (status $status); server log: $log; screenshots: $out" >&2
  exit 1
fi
echo "browser test passed; screenshots in $out" >&2
