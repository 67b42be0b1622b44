#!/usr/bin/env bash
# The test command: the whole suite on the CPU with the tiny offline model.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/pytest ] || scripts/setup.sh
export HF_HUB_OFFLINE=1 PTB_TIMEDELTA=true
exec .venv/bin/python -m pytest -q "$@"
