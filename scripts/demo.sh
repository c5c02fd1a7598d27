#!/usr/bin/env bash
# Runs the demo: a simulated lane, a local broker and the real service; exits 0 when every alert arrived.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh
echo "setting up .venv and installing checkpoint-edge (a minute or two the first time; pip shows progress)..."
PIP_PROGRESS=1 make_venv ""
exec .venv/bin/checkpoint-edge demo "$@"
