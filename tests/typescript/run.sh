#!/usr/bin/env bash
# TypeScript SDK smoke suite: one worker, one workflow using an activity, a child workflow,
# a signal, a query and an update, then checks the result and the history; an eager
# workflow start; and a schedule (create, describe, trigger, list, delete). Fails too if the
# server answered any call Unimplemented.
#
#   SUNDIAL_TEST_ADDRESS=host:port  run against that server (namespace "default");
#                                   unset: start `$SUNDIAL_BIN start-dev` on a free port
#                                   (default <repo>/target/debug/sundial) and stop it at exit.
#   SUNDIAL_TS_TIMEOUT_S            overall limit of the test run (default 120).
#
# Installs its npm packages with `npm ci` when node_modules is missing or package-lock.json
# changed; after that it needs no network (the worker bundles workflow code locally).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cd "$here"

timeout_s="${SUNDIAL_TS_TIMEOUT_S:-120}"

# --- dependencies ---------------------------------------------------------------------------
stamp=node_modules/.sundial-lock.sha256
want="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ ! -d node_modules ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "== npm ci"
  start=$SECONDS
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
  echo "npm ci took $((SECONDS - start))s"
fi

echo "== tsc"
rm -rf dist
node_modules/.bin/tsc -p tsconfig.json

# --- server ---------------------------------------------------------------------------------
server_pid=""
server_log=""
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [ -n "$server_log" ]; then rm -f "$server_log"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ -z "${SUNDIAL_TEST_ADDRESS:-}" ]; then
  bin="${SUNDIAL_BIN:-$repo/target/debug/sundial}"
  if [ ! -x "$bin" ]; then
    echo "error: $bin not found; build it or set SUNDIAL_BIN or SUNDIAL_TEST_ADDRESS" >&2
    exit 1
  fi
  port="$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
  server_log="$(mktemp -t sundial-ts-XXXXXX.log)"
  echo "== starting $bin start-dev on 127.0.0.1:$port"
  "$bin" start-dev --headless --port "$port" --ip 127.0.0.1 --log-level warn >"$server_log" 2>&1 &
  server_pid=$!
  deadline=$((SECONDS + 30))
  until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    if ! kill -0 "$server_pid" 2>/dev/null; then
      echo "error: sundial exited during startup:" >&2; cat "$server_log" >&2; exit 1
    fi
    if [ $SECONDS -ge $deadline ]; then
      echo "error: sundial did not listen on port $port within 30s:" >&2; cat "$server_log" >&2; exit 1
    fi
    sleep 0.1
  done
  export SUNDIAL_TEST_ADDRESS="127.0.0.1:$port"
fi

# --- test -----------------------------------------------------------------------------------
echo "== TypeScript SDK smoke test against $SUNDIAL_TEST_ADDRESS"
start=$SECONDS
status=0
SUNDIAL_TS_TIMEOUT_MS=$((timeout_s * 1000)) \
  timeout --kill-after=10 "$((timeout_s + 20))" \
  node --test --test-reporter=spec --test-timeout="$((timeout_s * 1000 + 10000))" dist/smoke.test.js \
  || status=$?
echo "test took $((SECONDS - start))s"
if [ "$status" -ne 0 ]; then
  if [ "$status" -eq 124 ]; then echo "error: test run timed out after $((timeout_s + 20))s" >&2; fi
  if [ -n "$server_log" ] && [ -s "$server_log" ]; then
    echo "--- sundial log (last 100 lines) ---" >&2; tail -n 100 "$server_log" >&2
  fi
  echo "FAILED: TypeScript SDK smoke suite" >&2
  exit "$status"
fi
if [ -n "$server_log" ] && grep -q "answered Unimplemented" "$server_log"; then
  echo "error: the smoke test reached methods Sundial answers Unimplemented:" >&2
  grep "answered Unimplemented" "$server_log" >&2
  echo "FAILED: TypeScript SDK smoke suite" >&2
  exit 1
fi
echo "PASSED: TypeScript SDK smoke suite"
