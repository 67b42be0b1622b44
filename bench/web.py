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
import time
from typing import Any

import harness
from aiohttp.test_utils import TestClient, TestServer

from bot.app import build_service
from bot.domain import ChatRef, ChatSettings, Job, JobStatus, RenderParams, UserRef
from bot.render import Renderer
from bot.settings.loading import parse_config
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
    report = harness.Report(
        "web", args, f"{args.waiting} waiting, {args.done} done, {args.reps} fetches a page"
    )
    with harness.data_dir() as tmp:
        config = parse_config(
            {"model": {"id": "tiny"}, "storage": {"dir": str(tmp)}, "web": {"gallery_size": 24}},
            "bench",
            {"VIDEOBOT_ADMIN_TOKEN": TOKEN},
        )
        service = build_service(config, renderer=Renderer("tiny"))
        started = time.perf_counter()
        fill(service.store, args.waiting, args.done, args.groups)
        took = time.perf_counter() - started
        web = WebSide(service, config)
        client: TestClient[Any, Any] = TestClient(TestServer(web.app))
        await client.start_server()
        await client.post("/admin/login", data={"token": TOKEN})
        rows = []
        for route in ("/", "/metrics", "/healthz", "/admin"):
            times = []
            for _ in range(args.reps):
                t = time.perf_counter()
                response = await client.get(route)
                await response.read()
                assert response.status == 200, (route, response.status)
                times.append(harness.ms(time.perf_counter() - t))
            rows.append([f"`{route}`", statistics.median(times), harness.percentile(times, 95)])
        await client.close()
        await web.stop()
        service.store.close()
    report.table(
        "Page times (ms)", ["route", "median ms", "p95 ms"], rows, [f"filled the database in {took:.1f} s"]
    )
    report.finish()


if __name__ == "__main__":
    parser = harness.parser(__doc__)
    parser.add_argument("--waiting", type=int, help="jobs waiting (default 10000; quick 100)")
    parser.add_argument("--done", type=int, help="finished clips (default 2000; quick 20)")
    parser.add_argument("--groups", type=int, default=20)
    parser.add_argument("--reps", type=int, help="fetches per page (default 30; quick 2)")
    quick = {"waiting": (10_000, 100), "done": (2_000, 20), "reps": (30, 2)}
    asyncio.run(main(harness.parse(parser, quick)))
