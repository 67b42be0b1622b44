"""Thread pools by kind of work, sized on purpose, so a slow or hostile file in one kind
cannot stall another: `/verify` on a crafted MP4 once held the default pool that renders,
encodes and deliveries shared, and a 0.1 s clip took 66 s.

- render: 2 threads: the render itself (one GPU, one at a time) and a model load beside it;
- encode: 2 threads: MP4 writing and signing of finished clips (PyAV and c2pa release the GIL);
- delivery: 2 threads: re-encoding a clip that is over a platform's upload limit;
- untrusted: `[provenance] verify_threads` (2): files people send (`/verify`, pictures to
  animate); queued behind them, at most `verify_backlog` more; one at a time per person, and
  each person at most once per `verify_every_s` (`[video] picture_every_s` for pictures).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from bot.settings.sections import ProvenanceConfig

T = TypeVar("T")


async def run_in(pool: ThreadPoolExecutor, fn: Callable[..., T], *args: Any) -> T:
    """`asyncio.to_thread`, in a pool of our choosing."""
    return await asyncio.get_running_loop().run_in_executor(pool, functools.partial(fn, *args))


@dataclass
class Executors:
    render: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(2, "render"))
    encode: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(2, "encode"))
    delivery: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(2, "delivery"))
    untrusted: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(1, "untrusted"))

    @classmethod
    def sized(cls, provenance: ProvenanceConfig) -> Executors:
        return cls(untrusted=ThreadPoolExecutor(provenance.verify_threads, "untrusted"))

    def shutdown(self) -> None:
        for pool in (self.render, self.encode, self.delivery, self.untrusted):
            pool.shutdown(wait=False, cancel_futures=True)


class Busy(Exception):
    """The untrusted-file pool and its backlog are full."""


class TooSoon(Exception):
    """This person asked for a check less than `every_s` ago."""

    def __init__(self, wait_s: float) -> None:
        super().__init__(wait_s)
        self.wait_s = wait_s


class UntrustedChecks:
    """Runs checks of files people send (`/verify`, pictures to animate) in the untrusted pool:
    a bounded backlog, one check in flight per person, a pace per person and kind of check, a
    time limit on the answer (the thread itself finishes on its own: c2pa cannot be
    interrupted, which is why the file's boxes are counted first).  With two threads or more,
    one person's hostile files never hold up another person's check."""

    def __init__(
        self,
        pool: ThreadPoolExecutor,
        provenance: ProvenanceConfig,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pool = pool
        self.limit = provenance.verify_threads + provenance.verify_backlog
        self.every_s = provenance.verify_every_s
        self.timeout_s = provenance.verify_timeout_s
        self.clock = clock
        self.in_flight = 0
        self._checking: set[str] = set()  # people with a check in flight
        self._last: dict[tuple[str, str], float] = {}

    def ready(self, who: str, kind: str = "verify", every_s: float | None = None) -> None:
        """Raise `TooSoon` or `Busy` as `run` would, recording nothing: asked before a file is
        downloaded, so a refused one is never fetched."""
        every = self.every_s if every_s is None else every_s
        last = self._last.get((kind, who))
        if last is not None and self.clock() - last < every:
            raise TooSoon(every - (self.clock() - last))
        if who in self._checking:
            raise TooSoon(max(every, 1.0))
        if self.in_flight >= self.limit:
            raise Busy()

    async def run(
        self, who: str, fn: Callable[..., T], *args: Any, kind: str = "verify", every_s: float | None = None
    ) -> T:
        """`fn(*args)` in the pool for `who`, at most once per `every_s` for this `kind` of check
        (default: `/verify`'s pace) and never two of theirs at once."""
        self.ready(who, kind, every_s)
        now = self.clock()
        if len(self._last) > 10_000:  # forget people who have not asked for a while
            self._last = {k: v for k, v in self._last.items() if now - v < max(self.every_s, 60.0)}
        self._last[(kind, who)] = now
        self.in_flight += 1
        self._checking.add(who)
        future = asyncio.get_running_loop().run_in_executor(self.pool, functools.partial(fn, *args))
        future.add_done_callback(lambda _: self._done(who))
        return await asyncio.wait_for(asyncio.shield(future), self.timeout_s)

    def _done(self, who: str) -> None:
        self.in_flight -= 1
        self._checking.discard(who)
