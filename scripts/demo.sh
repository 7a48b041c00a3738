#!/usr/bin/env bash
# The main job: sets up everything (system and Python packages, the tiny local models), builds an
# optimized host with its plugins, starts `mlbridge serve --config config/mlbridge.yaml` (DSPy,
# LangChain and Transformers, offline by default), runs the demo client against its HTTP API, and
# stops the server cleanly. With OPENAI_API_KEY set, DSPy and LangChain use the real model.
#
# The server's log goes to build/demo-server.log.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
"$ROOT/scripts/setup.sh"

echo "[demo] building the release host and plugins"
cmake --preset release >/dev/null
cmake --build --preset release --target mlbridge mlbridge_dspy mlbridge_langchain \
  mlbridge_transformers >/dev/null

LOG="$ROOT/build/demo-server.log"
PORT_FILE="$(mktemp)"
echo "[demo] starting: build/release/bin/mlbridge serve --config config/mlbridge.yaml"
build/release/bin/mlbridge serve --config config/mlbridge.yaml --listen 127.0.0.1:0 \
  >"$PORT_FILE" 2>"$LOG" &
SERVER=$!
stop_server() {
  if kill -0 "$SERVER" 2>/dev/null; then
    kill -TERM "$SERVER"
    wait "$SERVER" || true
  fi
  rm -f "$PORT_FILE"
}
trap stop_server EXIT

# The server prints "mlbridge serving on http://HOST:PORT" once every bridge has started.
URL=""
for _ in $(seq 1 600); do
  URL="$(grep -o 'http://[0-9.]*:[0-9]*' "$PORT_FILE" || true)"
  [ -n "$URL" ] && break
  if ! kill -0 "$SERVER" 2>/dev/null; then
    echo "[demo] the server did not start; its log ($LOG) ends with:" >&2
    tail -n 20 "$LOG" >&2
    exit 1
  fi
  sleep 0.2
done
[ -n "$URL" ] || { echo "[demo] the server did not answer within 120 s; see $LOG" >&2; exit 1; }
echo "[demo] serving on $URL"

.venv/bin/python examples/demo_client.py --url "$URL" --models "$ROOT/build/models"

echo
echo "[demo] stopping the server (SIGTERM: drain, stop workers, exit 0)"
kill -TERM "$SERVER"
if wait "$SERVER"; then
  echo "[demo] server exited cleanly"
else
  echo "[demo] server exited with status $?; see $LOG" >&2
  exit 1
fi
