"""The one controllable clock the tests hand to the core, its store and the adapters."""

from __future__ import annotations

import time


class ManualClock:
    """A `bot.core.ports.Clock` a test controls.

    It starts at `start`, or follows the wall clock with `start=None`; `advance` moves it on
    (deadlines pass without waiting), and `step` moves it on after every read (so each stored
    row gets its own time)."""

    def __init__(self, start: float | None = 1_700_000_000.0, *, step: float = 0.0) -> None:
        self.start = start
        self.step = step
        self.offset = 0.0

    @property
    def now(self) -> float:
        """The time a read would return, without the read's `step`."""
        return (time.time() if self.start is None else self.start) + self.offset

    def __call__(self) -> float:
        now = self.now
        self.offset += self.step
        return now

    def advance(self, seconds: float) -> None:
        self.offset += seconds
