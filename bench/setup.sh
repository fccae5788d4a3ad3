#!/usr/bin/env bash
# Install the benchmark peers: bench/.peers/venv (python-socketio, uvicorn, aiohttp, websockets,
# uvloop, redis, matplotlib and socketwire itself, editable) at the versions locked in
# bench/requirements-peers.txt, and bench/node_modules (socket.io 4.8, socket.io-client 4.8, ws)
# from bench/package-lock.json. Re-running is cheap: each half is skipped while its inputs are
# unchanged. UV names the installer (`make bench-setup` passes the project's own).
#
# Another Python, in its own venv beside the default one (run.py --python picks it):
#   PYTHON=/path/to/python3.13 PEERS_VENV=bench/.peers/venv-3.13 bash bench/setup.sh
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(dirname "$HERE")"
PYTHON="${PYTHON:-python3}"
UV="${UV:-$ROOT/.tools/bin/uv}"
PEERS="$HERE/.peers"
VENV="${PEERS_VENV:-$PEERS/venv}"
# One stamp per venv: several venvs (one per Python) coexist.
PY_STAMP_FILE="$PEERS/$(basename "$VENV").python.stamp"
if [ "$VENV" = "$PEERS/venv" ]; then PY_STAMP_FILE="$PEERS/python.stamp"; fi

mkdir -p "$PEERS"

stamp_of() { cat "$@" | sha256sum | cut -d' ' -f1; }

py_stamp="$(stamp_of "$HERE/requirements-peers.txt" "$ROOT/pyproject.toml")"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$PY_STAMP_FILE" 2>/dev/null)" != "$py_stamp" ]; then
    echo "bench/setup.sh: installing the Python peers into $VENV ($("$PYTHON" --version))" >&2
    [ -x "$VENV/bin/python" ] || "$UV" venv --quiet --python "$PYTHON" "$VENV"
    VIRTUAL_ENV="$VENV" "$UV" pip sync --quiet --require-hashes "$HERE/requirements-peers.txt"
    VIRTUAL_ENV="$VENV" "$UV" pip install --quiet --no-deps \
        --build-constraint "$ROOT/requirements/build.txt" -e "$ROOT"
    echo "$py_stamp" > "$PY_STAMP_FILE"
fi

js_stamp="$(stamp_of "$HERE/package.json" "$HERE/package-lock.json")"
if [ ! -d "$HERE/node_modules" ] || [ "$(cat "$PEERS/node.stamp" 2>/dev/null)" != "$js_stamp" ]; then
    echo "bench/setup.sh: installing the Node peers into bench/node_modules" >&2
    (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$js_stamp" > "$PEERS/node.stamp"
fi

if ! command -v taskset > /dev/null; then
    echo "bench/setup.sh: taskset not found (util-linux); run.py will not pin processes" >&2
fi
