#!/usr/bin/env bash
# Runs the demo: a simulated lane, a local broker and the real service; exits 0 when every alert arrived.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh
make_venv demo
exec .venv/bin/checkpoint-edge demo "$@"
