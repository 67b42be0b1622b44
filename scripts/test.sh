#!/usr/bin/env bash
# The test command: the whole suite on the CPU with the tiny offline models, on every core.
#   scripts/test.sh          everything, as CI runs it
#   scripts/test.sh --fast   the inner loop: leaves out the process, redis, browser and bench lanes
# Other arguments go to pytest (`scripts/test.sh tests/test_service.py -x`).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/pytest ] || scripts/setup.sh
export HF_HUB_OFFLINE=1 PTB_TIMEDELTA=true
# compiled modules (and pytest's rewritten test modules) are kept in __pycache__: a second run
# starts in seconds, not the ~10 s each worker spends compiling every module again
unset PYTHONDONTWRITEBYTECODE
# one malloc arena per render thread would keep freed tensors as resident memory: 1.5 → 1.2 GB a worker
export MALLOC_ARENA_MAX=2
args=()
lanes=()
# a module marked xdist_group stays on one worker (the redis lane's); the fast lane has none, so an
# idle worker takes tests queued for the other (worksteal): no worker waits out the other's tail
dist=loadgroup
for arg in "$@"; do
    if [ "$arg" = --fast ]; then
        lanes=(-m "not process and not redis and not browser and not bench")
        dist=worksteal
        echo "fast lane: leaving out the tests that start a videobot process, redis-server, Chromium or a benchmark"
        echo "           (pytest counts them as deselected; scripts/test.sh without --fast runs them, as CI does)"
    else
        args+=("$arg")
    fi
done
parallel=()
cores=$(nproc 2>/dev/null || echo 1)
if [ "$cores" -gt 1 ]; then
    parallel=(-n auto --dist "$dist")  # one worker per core
fi
exec .venv/bin/python -m pytest -q "${parallel[@]}" "${lanes[@]}" "${args[@]}"
