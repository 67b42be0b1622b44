"""`wait_event`: a loop waiting on an event with a timeout stops when it is told to."""

from __future__ import annotations

import asyncio

import pytest

from bot.core.tasks import wait_event


@pytest.mark.asyncio
async def test_a_cancel_that_lands_as_the_event_is_set_still_stops_the_loop() -> None:
    """On Python 3.11 `asyncio.wait_for(event.wait(), t)` returns normally here, so a
    heartbeat loop built on it ran on after its job ended and the job never finished."""
    wake = asyncio.Event()
    rounds = 0

    async def heartbeat() -> None:
        nonlocal rounds
        while True:
            rounds += 1
            wake.clear()
            await wait_event(wake, 30)

    beat = asyncio.create_task(heartbeat())
    while rounds == 0:
        await asyncio.sleep(0)
    wake.set()
    beat.cancel()
    done, _ = await asyncio.wait([beat], timeout=5)
    assert done == {beat} and beat.cancelled()


@pytest.mark.asyncio
async def test_it_says_whether_the_event_came_or_the_time_ran_out() -> None:
    event = asyncio.Event()
    assert await wait_event(event, 0.01) is False
    event.set()
    assert await wait_event(event, 5) is True
