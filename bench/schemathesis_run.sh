#!/usr/bin/env bash
# Schemathesis over the service's own OpenAPI document, bounded for CI (about 2 minutes on 2 cores).
#
#   bench/schemathesis_run.sh [MAX_EXAMPLES] [MAX_SECONDS]       (defaults 25 and 100)
#
# Starts `govmetrics serve` (the shipped model) on a free 127.0.0.1 port, waits for /readyz, runs
# every check schemathesis has (server errors, schema, status codes, content types, headers, ...)
# with a fixed seed and bench/schemathesis.toml, then stops the server. Exit status: schemathesis's (0 = no failure).
# PYTHON picks the interpreter (default .venv/bin/python); schemathesis must be importable by it, or
# set SCHEMATHESIS to a schemathesis executable from another environment (it only talks HTTP).
# Reports (JUnit XML, JSON) and the server log go to ${REPORT_DIR:-schemathesis-report}.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
SCHEMATHESIS=${SCHEMATHESIS:-"$PYTHON -m schemathesis.cli"}
MAX_EXAMPLES=${1:-25}
MAX_SECONDS=${2:-100}
REPORT_DIR=${REPORT_DIR:-schemathesis-report}
mkdir -p "$REPORT_DIR"
PORT=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URL="http://127.0.0.1:$PORT"

"$PYTHON" -m govmetrics.cli serve --host 127.0.0.1 --port "$PORT" >"$REPORT_DIR/server.log" 2>&1 &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do  # at most 120 s for the model to load
  if "$PYTHON" -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + '/readyz', timeout=2)" "$URL" 2>/dev/null
  then break; fi
  kill -0 "$SERVER" 2>/dev/null || { echo "server exited:"; tail -20 "$REPORT_DIR/server.log"; exit 2; }
  sleep 0.2
done

# --max-time bounds the run; --request-timeout keeps one slow case from stalling it.
status=0
timeout $((MAX_SECONDS + 60)) $SCHEMATHESIS --config-file bench/schemathesis.toml run "$URL/openapi.json" \
  --checks all --max-examples "$MAX_EXAMPLES" --max-time "$MAX_SECONDS" --seed 13 --workers 1 \
  --generation-database none --request-timeout 60 --no-color \
  --report junit,json --report-dir "$REPORT_DIR" || status=$?
if grep -q '"level": "error"' "$REPORT_DIR/server.log"; then
  echo "the server logged errors during the run (see $REPORT_DIR/server.log)"; status=1
fi
exit $status
