"""Writes that must happen: retried, off the critical path, until the database takes them.

The bot's connection waits only briefly for a lock (`[storage] busy_timeout_ms`), so a
long write transaction in another process (the shell's admin tools, a backup) or a full
disk never freezes the event loop; a write that matters — a job's new state, a delivered
clip's `done` — is then retried with backoff until it lands.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
FIRST_WAIT_S = 0.05
LONGEST_WAIT_S = 2.0


def is_transient(error: BaseException) -> bool:
    """Locked, busy or full: the same write may work in a moment."""
    text = str(error).lower()
    return isinstance(error, sqlite3.OperationalError) and any(
        word in text for word in ("locked", "busy", "full", "disk i/o")
    )


async def until_written(write: Callable[[], T], what: str) -> T:
    """`write()`, retried while the database is locked or full, however long that lasts."""
    wait, told = FIRST_WAIT_S, False
    while True:
        try:
            result = write()
        except sqlite3.OperationalError as error:
            if not is_transient(error):
                raise
            if not told:
                log.warning("the database refused %s (%s); retrying until it can", what, error)
                told = True
            await asyncio.sleep(wait)
            wait = min(wait * 2, LONGEST_WAIT_S)
            continue
        if told:
            log.info("the database took %s after all", what)
        return result
