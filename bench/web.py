"""How long the web side's pages take with a big database: 10,000 jobs waiting and a few
thousand finished clips in published groups (no model is loaded; the pages only read).

    .venv/bin/python bench/web.py                # defaults
    .venv/bin/python bench/web.py --waiting 50000 --reps 50

Each route is fetched `reps` times through aiohttp on a loopback port; the table shows the
median and the 95th percentile in milliseconds.  Target: every page under 100 ms at 10,000.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiohttp.test_utils import TestClient, TestServer

from bot.app import build_service
from bot.config import parse_config
from bot.core.types import ChatRef, ChatSettings, Job, JobStatus, RenderParams, UserRef
from bot.render import Renderer
from bot.store import Store
from bot.web import WebSide

TOKEN = "a bench token that is long enough"


def fill(store: Store, waiting: int, done: int, groups: int) -> None:
    for g in range(groups):
        store.chats.save(f"telegram:-{1000 + g}", ChatSettings(gallery=True))
    params = RenderParams("a cat surfing a wave", "", 1, 16, 25, 9.0, 256, 256, 8)
    for n in range(waiting + done):
        chat = ChatRef("telegram", f"-{1000 + n % groups}", is_group=True)
        user = UserRef("telegram", str(n % 997), f"user {n % 997}")
        job = store.jobs.insert(Job(0, user, chat, params, "tiny", created_at=1_700_000_000.0 + n), None)
        if n >= waiting:
            store.jobs.end(job.id, JobStatus.DONE, clip_path=f"/nonexistent/{job.id}.mp4")


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        config = parse_config(
            {"model": {"id": "tiny"}, "storage": {"dir": tmp}, "web": {"gallery_size": 24}},
            "bench",
            {"VIDEOBOT_ADMIN_TOKEN": TOKEN},
        )
        service = build_service(config, renderer=Renderer("tiny"))
        started = time.perf_counter()
        fill(service.store, args.waiting, args.done, args.groups)
        took = time.perf_counter() - started
        print(f"filled {args.waiting} waiting + {args.done} done jobs in {took:.1f} s")
        web = WebSide(service, config)
        client: TestClient[Any, Any] = TestClient(TestServer(web.app))
        await client.start_server()
        await client.post("/admin/login", data={"token": TOKEN})
        print(f"| route | median ms | p95 ms |  ({args.reps} fetches each)")
        print("|---|---:|---:|")
        for route in ("/", "/metrics", "/healthz", "/admin"):
            times = []
            for _ in range(args.reps):
                t = time.perf_counter()
                response = await client.get(route)
                await response.read()
                assert response.status == 200, (route, response.status)
                times.append((time.perf_counter() - t) * 1000)
            times.sort()
            p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
            print(f"| `{route}` | {statistics.median(times):.1f} | {p95:.1f} |")
        await client.close()
        await web.stop()
        service.store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waiting", type=int, default=10_000)
    parser.add_argument("--done", type=int, default=2_000)
    parser.add_argument("--groups", type=int, default=20)
    parser.add_argument("--reps", type=int, default=30)
    asyncio.run(main(parser.parse_args()))
