"""What one `/video` costs the store as the queue grows: SQLite VM steps, statements and time
per acknowledgement with 1,000, 10,000 and 100,000 jobs already waiting.

    .venv/bin/python bench/queries.py                       # 1k, 10k, 100k waiting; 20 acks each
    .venv/bin/python bench/queries.py --waiting 1000 100000 --acks 50

The core runs in this process with an in-memory outbox and no render worker (nothing leaves
the queue).  Each ack is a new person's `/video`: admission, the caps' counts, the insert and
its triggers, the place in line and the ETA, the "queued" message.  VM steps (SQLite's
virtual-machine instructions, counted with a progress handler) do not depend on the machine or
its load: flat steps mean the ack does not grow with the queue.  Target: flat.
"""

from __future__ import annotations

import asyncio
import statistics
import time

import harness

from bot.app import build_service
from bot.domain import ChatRef, Request, UserRef
from bot.render import Renderer
from bot.settings.loading import parse_config
from tests.harness.outbox import RecordingOutbox
from tests.harness.sql import SqlCost, fill_queue


async def acks(waiting: int, count: int) -> list[object]:
    """A row: waiting, fill seconds, median / max VM steps, statements, median / p99 ms."""
    with harness.data_dir() as data:
        config = parse_config(harness.bot_settings(data), "<bench>", {})
        service = build_service(config, renderer=Renderer("tiny"))
        service.add_outbox("telegram", RecordingOutbox())
        started = time.perf_counter()
        fill_queue(service.store, waiting)
        filled = time.perf_counter() - started
        steps, statements, times = [], [], []
        for n in range(count):
            user = UserRef("telegram", f"new{n}", "Newcomer")
            req = Request(user, ChatRef("telegram", user.id), reply_to="1")
            with SqlCost(service.store.db.conn) as cost:
                started = time.perf_counter()
                job = await service.video_text(req, f"a cat surfing --seed {n}")
                times.append(time.perf_counter() - started)
            assert job is not None, "the bench's /video was refused"
            steps.append(cost.steps)
            statements.append(len(cost.statements))
        service.store.close()
    return [
        waiting,
        filled,
        statistics.median(steps),
        max(steps),
        statistics.median(statements),
        harness.ms(statistics.median(times)),
        harness.ms(harness.percentile(times, 99)),
    ]


async def main() -> None:
    parser = harness.parser(__doc__)
    parser.add_argument("--waiting", type=int, nargs="+", help="queue lengths (default 1000 10000 100000)")
    parser.add_argument("--acks", type=int, help="acks timed at each length (default 20; quick 3)")
    args = harness.parse(parser, {"waiting": ([1_000, 10_000, 100_000], [100, 1_000]), "acks": (20, 3)})
    rows = [await acks(waiting, args.acks) for waiting in args.waiting]
    report = harness.Report(
        "queries", args, f"the store's work per /video, {args.acks} acks per queue length"
    )
    smallest, largest = rows[0], rows[-1]
    report.table(
        "One ack's SQL as the queue grows",
        ["waiting", "fill s", "VM steps (median)", "VM steps (max)", "statements", "median ms", "p99 ms"],
        rows,
        [
            f"VM steps at {largest[0]} waiting / at {smallest[0]}: "
            f"{float(largest[2]) / max(float(smallest[2]), 1):.2f} (flat: about 1)"  # type: ignore[arg-type]
        ],
    )
    report.finish()


if __name__ == "__main__":
    asyncio.run(main())
