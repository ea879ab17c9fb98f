#!/usr/bin/env bash
# The official `openai` npm client against `diffuse serve`: installs the client into
# tests/openai/node_modules when it is missing, starts the server on a free port (--port 0, the
# port read from its "listening on" line), runs client.test.mjs with Node's test runner, stops
# the server.
#
#   tests/openai/run.sh DIFFUSE_BINARY MODEL_PATH
#
# Exit status: 0 passed, 1 failed, 2 bad usage, 77 skipped (no node/npm, Node < 18, or the
# client could not be installed from npm).
# Environment: LISTEN_TIMEOUT (seconds to wait for the listening line, 120), DIFFUSE_SERVE_ARGS
# (more arguments for `diffuse serve`).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ $# -ne 2 ]]; then
  echo "usage: $0 DIFFUSE_BINARY MODEL_PATH" >&2
  exit 2
fi
diffuse="$1"
model="$2"
[[ -x "$diffuse" ]] || { echo "openai client test: $diffuse is not an executable" >&2; exit 1; }
[[ -e "$model" ]] || { echo "openai client test: model $model not found" >&2; exit 1; }

source "$here/../node_test_lib.sh"
require_node "openai client test"
npm_install_once "openai client test" "$here" openai

log="$(mktemp "${TMPDIR:-/tmp}/diffuse-openai-server.XXXXXX")"
# Two sampling steps by default, so that the client's calls take well under a second; a 1 MiB
# body limit, so that the test can see a 413 in OpenAI's error shape.
# shellcheck disable=SC2086
start_server "openai client test" "$log" "$diffuse" serve -m "$model" --port 0 --default-steps 2 --max-body-mb 1 ${DIFFUSE_SERVE_ARGS:-}
port="$server_port"

status=0
(cd "$here" && DIFFUSE_URL="http://127.0.0.1:${port}" node --test --test-reporter=spec client.test.mjs) || status=$?
if ! kill -0 "$server_pid" 2>/dev/null; then
  echo "openai client test: diffuse serve died during the test; its log:" >&2
  tail -n 30 "$log" >&2 || true
  exit 1
fi
if (( status != 0 )); then
  echo "openai client test FAILED (status $status); the server's log ends:" >&2
  tail -n 40 "$log" >&2 || true
  exit 1
fi
echo "openai client test passed" >&2
