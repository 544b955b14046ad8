#!/usr/bin/env bash
# Release builds of every function in functions/ for Lambda, with cargo-lambda from .venv
# (`make venv`): target/lambda/<function>/bootstrap, ready for `sam build` or a zip.
#
# Lambda runs arm64 by default (the template's Architecture), so arm64 is built when rustup has
# the aarch64-unknown-linux-gnu target; otherwise the host's architecture is, and the template
# must then be deployed with Architecture=x86_64 (or arm64 on an arm64 host).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$root/.venv/bin:$PATH"
cd "$root"

if ! command -v cargo-lambda >/dev/null; then
    echo "build: cargo-lambda is missing: run \`make venv\`" >&2
    exit 1
fi

if rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu; then
    arch=arm64
else
    case "$(uname -m)" in
        x86_64 | amd64) arch=x86_64 ;;
        aarch64 | arm64) arch=arm64 ;;
        *) echo "build: unsupported host architecture $(uname -m)" >&2; exit 1 ;;
    esac
fi
case "$arch" in
    arm64) flag=--arm64 ;;
    x86_64) flag=--x86-64 ;;
esac

target_dir="${CARGO_TARGET_DIR:-target}"
functions=()
for manifest in functions/*/Cargo.toml; do
    functions+=("$(basename "$(dirname "$manifest")")")
done
echo "build: ${#functions[@]} functions for $arch (deploy with Architecture=$arch)"
# One cargo invocation per function: cargo unifies features across the packages of one
# invocation, which would link every function's capabilities (the embedded backend, the
# audio engine, S3) into all of them. Dependencies built with the same features are reused.
# `.cargo/lambda.toml` holds the compiler flags of Lambda builds (the target is always explicit
# here, so they reach the binaries only).
for name in "${functions[@]}"; do
    cargo lambda build --release "$flag" --config .cargo/lambda.toml --package "$name" --bin "$name"
done
for name in "${functions[@]}"; do
    bootstrap="$target_dir/lambda/$name/bootstrap"
    printf 'build: %-17s %s (%s bytes)\n' "$name" "$bootstrap" "$(stat -c %s "$bootstrap")"
done
