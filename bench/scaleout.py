"""Throughput of the SAQ backend with 1, 2 and 3 `videobot worker` processes (tiny model, CPU).

    .venv/bin/python bench/scaleout.py                 # 1, 2, 3 workers, 18 jobs each
    .venv/bin/python bench/scaleout.py --jobs 30 --steps 20 --workers 1 2 4

One run: a real `redis-server` on a free loopback port, the bot's core in this process
(SQLite, fair queue, SaqBackend, the clip upload endpoint, an in-memory outbox), and N
worker processes (`python -m bot worker`, one torch thread each).  For each N the bot
waits for the N workers, renders one warm-up clip per worker, then times `--jobs` clips
from several users, from the first `/video` to the last delivery.  jobs/min and the
ratio to one worker are printed as a table.

On a machine with few cores the ratio stops growing at the core count: each worker uses a
core, and the bot (polling, encoding uploads, SQLite) and Redis share what is left.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import harness

from bot.app import build_service
from bot.dispatch.saq_backend import SaqBackend
from bot.domain import ChatRef, JobStatus, Request, UserRef
from bot.settings.loading import parse_config
from tests.harness.outbox import RecordingOutbox
from tests.harness.saq import (
    SECRET,
    RedisServer,
    WorkerProcess,
    redis_missing,
    saq_settings,
    write_saq_config,
)

CHAT = ChatRef("telegram", "-1")
USERS = [UserRef("telegram", str(n), f"user{n}") for n in range(1, 7)]


def settings(steps: int) -> dict[str, dict[str, object]]:
    return {
        "quota": {"max_queued": 1000, "daily": 100000, "per_minute": 100000.0, "burst": 100000},
        "queue": {"max_total": 100000, "poll_s": 0.05},
        "video": {"default_steps": steps},
        "model": {"cpu_threads": 1},
    }


async def run_once(folder: Path, redis: RedisServer, workers: int, jobs: int, steps: int) -> float:
    """Seconds for `jobs` clips with `workers` worker processes (after one warm-up clip each)."""
    redis.command("FLUSHALL")
    sections = settings(steps)
    worker_config = write_saq_config(folder / f"w{workers}", redis.url, **sections)
    procs = [WorkerProcess(worker_config) for _ in range(workers)]
    config = parse_config(
        saq_settings(folder / f"bot{workers}" / "data", redis.url, **sections),
        "bench.toml",
        {"VIDEOBOT_WORKER_SECRET": SECRET},
    )
    service = build_service(config, rng=random.Random(1))
    service.add_outbox("telegram", RecordingOutbox())
    await service.recover()
    runner = asyncio.create_task(service.run_worker())
    try:
        backend = service.backend
        deadline = time.monotonic() + 120
        while isinstance(backend, SaqBackend) and backend.workers() < workers:
            if time.monotonic() > deadline:
                raise RuntimeError("the workers did not come up")
            await asyncio.sleep(0.05)

        async def batch(count: int) -> float:
            started = time.monotonic()
            ids = []
            for n in range(count):
                req = Request(USERS[n % len(USERS)], CHAT, reply_to=f"c{n}")
                job = await service.video_text(req, f"a cat {n}")
                assert job is not None
                ids.append(job.id)
            while True:
                statuses = [service.store.jobs.get(i).status for i in ids]  # type: ignore[union-attr]
                if all(s == JobStatus.DONE for s in statuses):
                    return time.monotonic() - started
                if any(s in (JobStatus.FAILED, JobStatus.CANCELLED) for s in statuses):
                    raise RuntimeError(f"a job did not render: {statuses}")
                await asyncio.sleep(0.02)

        await batch(workers)  # warm-up: every worker renders once
        return await batch(jobs)
    finally:
        service.stop()
        await asyncio.wait_for(runner, 30)
        await service.drain()
        service.store.close()
        for proc in procs:
            proc.stop()


async def main(argv: Sequence[str] | None = None) -> int:
    parser = harness.parser(__doc__)
    parser.add_argument("--jobs", type=int, help="clips timed per run (default 18; quick 2)")
    parser.add_argument(
        "--steps", type=int, help="denoising steps per clip, 8 frames 64x64 (default 10; quick 2)"
    )
    parser.add_argument("--workers", type=int, nargs="+", help="worker counts (default 1 2 3; quick 1)")
    args = harness.parse(parser, {"jobs": (18, 2), "steps": (10, 2), "workers": ([1, 2, 3], [1])}, argv)
    if why := redis_missing():
        print(f"bench/scaleout.py: {why}", file=sys.stderr)
        return 2
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory(prefix="videobot-scaleout-") as tmp:
        folder = Path(tmp)
        redis = RedisServer(folder)
        redis.start()
        try:
            results = {n: await run_once(folder, redis, n, args.jobs, args.steps) for n in args.workers}
        finally:
            redis.kill()
    base = args.jobs / results[args.workers[0]] * 60
    report = harness.Report(
        "scaleout", args, f"SAQ workers, tiny model, {args.jobs} jobs of 8 frames 64x64 x {args.steps} steps"
    )
    rows = [
        [n, seconds, args.jobs / seconds * 60, args.jobs / seconds * 60 / base]
        for n, seconds in results.items()
    ]
    report.table("Throughput by worker count", ["workers", "seconds", "jobs/min", "ratio"], rows)
    report.finish()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
