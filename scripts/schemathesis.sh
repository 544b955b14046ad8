#!/usr/bin/env bash
# Runs Schemathesis against the dev server's own contract (GET /openapi.json): a fresh data
# dir, demo providers, a free loopback port; Fathom connected with the demo API key so syncs
# start (and the spec's links, POST /sync -> GET /jobs/{id}, have something to follow).
# Two runs: with alice's bearer token, then without any token. The server stops on exit,
# whatever happens.
#
#   scripts/schemathesis.sh        (make schemathesis)
#
# SCHEMATHESIS_MAX_EXAMPLES (default 15) and SCHEMATHESIS_MAX_TIME (seconds, default
# 90, half that without a token) bound the runs; SCHEMATHESIS_SEED makes it reproducible.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
CARGO="${CARGO:-cargo}"
ST="$ROOT/.venv/bin/schemathesis"
[[ -x "$ST" ]] || scripts/venv.sh
export DEV_JWT_SECRET="${DEV_JWT_SECRET:-callsync-dev-secret}"
MAX_EXAMPLES="${SCHEMATHESIS_MAX_EXAMPLES:-15}"
MAX_TIME="${SCHEMATHESIS_MAX_TIME:-90}"

log() { echo "schemathesis: $*" >&2; }

log "building the dev server"
"$CARGO" build -q -p dev-server
target="${CARGO_TARGET_DIR:-$ROOT/target}"
[[ "$target" != /* ]] && target="$ROOT/$target"
BIN="$target/debug/dev-server"

DATA="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  if [[ -n "$SERVER_PID" ]]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$DATA"
}
trap cleanup EXIT INT TERM

PORT="$("$ROOT/.venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
BASE="http://127.0.0.1:$PORT"

# Demo providers: no real provider settings may leak in from the environment.
for name in $(compgen -e | grep -E '^(FATHOM_|ZOOM_|TRANSCRIBE_)' || true); do unset "$name"; done
log "starting the dev server on $BASE (data in $DATA)"
LOCAL_DATA_DIR="$DATA/data" WEB_DIST_DIR="$DATA/no-web" PORT="$PORT" DEMO=1 \
  CRON_INTERVAL_SECS=86400 RUST_LOG="${RUST_LOG:-warn}" \
  "$BIN" >"$DATA/server.log" 2>&1 &
SERVER_PID=$!

for _ in $(seq 1 100); do
  curl -fsS "$BASE/health" >/dev/null 2>&1 && break
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    cat "$DATA/server.log" >&2
    log "the dev server did not start"
    exit 1
  fi
  sleep 0.2
done

TOKEN="$("$BIN" token --user alice)"
KEY="$(curl -fsS "$BASE/dev/demo" | "$ROOT/.venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["fathom_api_key"])')"
curl -fsS -X POST "$BASE/sources/fathom/api-key" -H "Authorization: Bearer $TOKEN" \
  -H 'Content-Type: application/json' -d "{\"api_key\": \"$KEY\"}" >/dev/null
log "alice has Fathom connected (demo API key)"

CHECKS=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance
common=(
  "$BASE/openapi.json" --url "$BASE"
  --checks "$CHECKS"
  --max-examples "$MAX_EXAMPLES"
  --max-time "$MAX_TIME"
  --request-timeout 20
  --workers 1
  --no-color
  --warnings off
)
[[ -n "${SCHEMATHESIS_SEED:-}" ]] && common+=(--seed "$SCHEMATHESIS_SEED")

status=0
log "run 1: with alice's bearer token"
"$ST" run "${common[@]}" -H "Authorization: Bearer $TOKEN" || status=1
log "run 2: without a token"
"$ST" run "${common[@]}" --max-time "$((MAX_TIME / 2))" \
  --phases examples,coverage,fuzzing || status=1

if [[ $status -ne 0 ]]; then
  log "failures found; the dev server's log (last 60 lines):"
  tail -n 60 "$DATA/server.log" >&2
fi
exit $status
