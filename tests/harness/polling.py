"""Waiting for state that no event announces, with a deadline instead of a sleep."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

POLL_EVERY_S = 0.01


async def eventually(check: Callable[[], T], *, timeout: float = 10.0, what: str = "condition") -> T:
    """Poll `check` until it returns something truthy (and return that), failing after `timeout` seconds.

    For state with no event to await (SQLite rows another task writes)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(POLL_EVERY_S)


async def eventually_async(
    check: Callable[[], Awaitable[T]],
    *,
    timeout: float = 10.0,
    what: str = "condition",
    every: float = POLL_EVERY_S,
) -> T:
    """`eventually` for a check that must await (an HTTP request, a Redis count)."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(every)


def eventually_blocking(check: Callable[[], T], *, timeout: float = 10.0, what: str = "condition") -> T:
    """`eventually` outside an event loop (a fixture starting a server process)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(POLL_EVERY_S)
