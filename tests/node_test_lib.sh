# Shared by the Node-driven tests (tests/browser/run.sh, tests/openai/run.sh); sourced, not run.
# Each function takes the test's name for its messages. Exit 77 means "skipped" to ctest.

# Node 18+ and npm, or skip.
require_node() {
  local name="$1"
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "$name skipped: node and npm are needed (scripts/setup.sh installs them)" >&2
    exit 77
  fi
  if (( $(node -p 'process.versions.node.split(".")[0]') < 18 )); then
    echo "$name skipped: Node >= 18 needed, found $(node --version)" >&2
    exit 77
  fi
}

# npm dependencies of DIR (from its package-lock.json) unless PACKAGE is already there; skip if npm can't.
npm_install_once() {
  local name="$1" dir="$2" package="$3"
  [[ -f "$dir/node_modules/$package/package.json" ]] && return 0
  echo "$name: installing $package into $dir/node_modules" >&2
  if ! (cd "$dir" && { npm ci --no-audit --no-fund --loglevel=error || npm install --no-audit --no-fund --loglevel=error; }); then
    echo "$name skipped: could not install $package from npm (offline?)" >&2
    exit 77
  fi
}

# Runs COMMAND... in the background with its stderr in LOG, stopped (TERM, then KILL) when the
# script exits, and waits for its "listening on http://127.0.0.1:PORT" line: sets server_pid and
# server_port. The command picks its own port (diffuse serve --port 0).
server_pid=""
stop_server() {
  [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null || return 0
  kill -TERM "$server_pid" 2>/dev/null || true
  for _ in $(seq 1 100); do
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
}
start_server() {
  local name="$1" log="$2"
  shift 2
  trap stop_server EXIT
  trap 'exit 130' INT TERM
  : >"$log"  # before the server opens it, so the first look finds a file
  "$@" 2>"$log" &
  server_pid=$!
  server_port=""
  local deadline=$(( SECONDS + ${LISTEN_TIMEOUT:-120} ))
  until [[ -n "$server_port" ]]; do
    server_port="$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9][0-9]*\).*|\1|p' "$log" | head -n 1)"
    [[ -n "$server_port" ]] && break
    if ! kill -0 "$server_pid" 2>/dev/null; then
      echo "$name: the server exited before listening; its log ends:" >&2
      tail -n 30 "$log" >&2 || true
      exit 1
    fi
    if (( SECONDS >= deadline )); then
      echo "$name: the server did not listen within ${LISTEN_TIMEOUT:-120} s; its log ends:" >&2
      tail -n 30 "$log" >&2 || true
      exit 1
    fi
    sleep 0.1
  done
}
