#!/usr/bin/env bash
# Runs one function on the embedded backend with its sample event, the way Lambda calls it:
# `cargo lambda invoke <function> --data-file events/<function>.json` against
# `cargo lambda watch` (the Lambda Runtime API emulator of cargo-lambda, from .venv).
# A watch already listening on WATCH_PORT (default 9000) is reused; otherwise one is started
# on loopback for this call and stopped after it.
set -euo pipefail

function="${1:?usage: scripts/invoke.sh <function>}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$root/.venv/bin:$PATH"
cd "$root"

port="${WATCH_PORT:-9000}"
event="events/$function.json"
data_dir="${LOCAL_DATA_DIR:-$root/.callsync}"
if [ ! -f "$event" ]; then
    echo "invoke: there is no sample event $event" >&2
    exit 1
fi
if [ ! -f "functions/$function/Cargo.toml" ]; then
    echo "invoke: there is no function crate functions/$function" >&2
    exit 1
fi

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }

watch_group=""
stop_watch() {
    if [ -n "$watch_group" ]; then
        kill -TERM -- "-$watch_group" 2>/dev/null || true
    fi
}
trap stop_watch EXIT

if ! listening; then
    # Built first so the watch's first run does not compile while the invoke waits.
    # With the embedded backend, which Lambda builds leave out (the `local` feature).
    ${CARGO:-cargo} build -q -p "$function" --bin "$function" --features pipeline/local
    echo "invoke: starting cargo lambda watch on 127.0.0.1:$port (BACKEND=local, LOCAL_DATA_DIR=$data_dir)"
    # Its own process group, so stopping it also stops the function processes it runs.
    setsid cargo lambda watch --features pipeline/local --invoke-address 127.0.0.1 --invoke-port "$port" \
        --env-var BACKEND=local --env-var "LOCAL_DATA_DIR=$data_dir" \
        --env-var "RUST_LOG=${RUST_LOG:-info}" >"$root/target/lambda-watch.log" 2>&1 &
    watch_group=$!
    for _ in $(seq 1 600); do
        listening && break
        if ! kill -0 "$watch_group" 2>/dev/null; then
            echo "invoke: cargo lambda watch stopped; see target/lambda-watch.log" >&2
            exit 1
        fi
        sleep 0.1
    done
fi

cargo lambda invoke "$function" --invoke-address 127.0.0.1 --invoke-port "$port" \
    --data-file "$event"
echo
