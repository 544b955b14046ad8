#!/usr/bin/env bash
# Creates the project's Python virtualenv (.venv at the workspace root) and installs
# requirements-dev.txt into it. Idempotent: pip runs only when requirements-dev.txt is newer
# than the stamp left by the last successful install.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
requirements="$root/requirements-dev.txt"
stamp="$venv/.requirements-installed"
python="${PYTHON:-python3}"

if [ ! -x "$venv/bin/python" ]; then
    echo "venv: creating $venv"
    "$python" -m venv "$venv"
fi

if [ -f "$stamp" ] && [ "$stamp" -nt "$requirements" ]; then
    echo "venv: requirements already installed"
    exit 0
fi

echo "venv: installing $requirements"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
touch "$stamp"
