"""Background work the core starts (edits, deliveries) and can wait for at shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any


class Tasks:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def drain(self, timeout: float | None = None) -> int:
        """Wait for everything spawned so far, and what that spawns in turn; past `timeout`
        seconds cancel what is left (a stop must end in time).  How many were cancelled."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while self._tasks:
            left = None if deadline is None else deadline - loop.time()
            if left is not None and left <= 0:
                break
            await asyncio.wait(list(self._tasks), timeout=left)
        late = list(self._tasks)
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late, timeout=1.0)
        return len(late)


async def wait_event(event: asyncio.Event, timeout: float | None) -> bool:
    """Wait for `event` at most `timeout` seconds; whether it was set.

    Not `asyncio.wait_for(event.wait(), t)`: on Python 3.11 that swallows a cancel that lands
    as the event is set, so a loop around it that is told to stop can run on forever (a SAQ
    worker's heartbeat did, and its job never finished)."""
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
    except TimeoutError:
        return False
    return True
