#!/usr/bin/env bash
# The Import Hub (web/): install, build and check it, idempotently.
#
#   scripts/web.sh build   npm ci when node_modules is missing or stale, then build web/dist
#                          when it is missing or older than the sources
#   scripts/web.sh test    build, then lint, typecheck, unit tests (Vitest) and the browser
#                          end-to-end tests against the dev server (installs Debian's chromium
#                          when /usr/bin/chromium is missing)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WEB="$ROOT/web"
CARGO="${CARGO:-cargo}"
cd "$WEB"

log() { echo "web: $*" >&2; }

need_node() {
  if ! command -v npm >/dev/null 2>&1; then
    log "Node.js and npm are needed (Node 20 or newer): install them, e.g. apt-get install -y nodejs npm"
    exit 1
  fi
}

# npm ci when node_modules is missing, or older than package-lock.json (npm writes
# node_modules/.package-lock.json on every install).
deps() {
  need_node
  local stamp="node_modules/.package-lock.json"
  if [[ ! -f "$stamp" || package-lock.json -nt "$stamp" || package.json -nt "$stamp" ]]; then
    log "installing dependencies (npm ci)"
    npm ci --no-audit --no-fund --loglevel=error
  fi
}

# Newer than dist/index.html: anything the build reads.
stale_build() {
  [[ ! -f dist/index.html ]] && return 0
  [[ -n "$(find src index.html package-lock.json vite.config.ts tsconfig.json public \
      -newer dist/index.html -print -quit 2>/dev/null)" ]]
}

build() {
  deps
  if stale_build; then
    log "building web/dist"
    npm run --silent build
  else
    log "web/dist is up to date"
  fi
}

chromium() {
  if [[ -x /usr/bin/chromium ]]; then
    return
  fi
  log "installing Debian's chromium for the browser tests"
  local apt=(apt-get)
  [[ $(id -u) -ne 0 ]] && apt=(sudo apt-get)
  export DEBIAN_FRONTEND=noninteractive
  if ! "${apt[@]}" install -y chromium; then
    "${apt[@]}" update
    "${apt[@]}" install -y chromium
  fi
}

test_all() {
  build
  log "lint"
  npm run --silent lint
  log "typecheck"
  npm run --silent typecheck
  log "unit tests"
  npx vitest run --reporter=dot
  chromium
  log "building the dev server for the end-to-end tests"
  (cd "$ROOT" && "$CARGO" build -q -p dev-server)
  local target="${CARGO_TARGET_DIR:-$ROOT/target}"
  [[ "$target" != /* ]] && target="$ROOT/$target"
  export DEV_SERVER_BIN="$target/debug/dev-server"
  log "end-to-end tests (headless Chromium, dev server with demo providers)"
  npx vitest run --config vitest.e2e.config.ts
}

case "${1:-build}" in
  build) build ;;
  deps) deps ;;
  test) test_all ;;
  *) echo "usage: scripts/web.sh [build|deps|test]" >&2; exit 2 ;;
esac
