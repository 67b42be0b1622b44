"""Telegram's flood limits, spent on what a person is waiting for first.

Telegram lets a bot make about 30 calls a second in all and 20 a minute in one group.
python-telegram-bot's `AIORateLimiter` keeps to that first come, first served, so when many
people use the bot at once the answer to a fresh `/video` waits behind progress edits,
"uploading…" actions and uploads of other people's clips (13 s at 200 users in
`bench/ack.py`).  This limiter keeps the same budgets but serves by lane: answers to a person
first, then everything else in arrival order, and it drops "uploading…" chat actions outright
when they would have to wait: they are decoration, and a late one is worse than none.

The caller says which lane a call is in, per call, through PTB's `rate_limit_args`
(`bot.send_message(..., rate_limit_args=ANSWER)`); a call that does not say is placed by its
endpoint (`sendMessage` an answer, `sendChatAction` decoration, the rest work).  Each 429 it
retries is counted on the `Tally` it is given (`API_RETRIED`), which `/metrics` hears.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from telegram.error import NetworkError, RetryAfter
from telegram.ext import BaseRateLimiter

from bot.core.observe import API_RETRIED, Tally
from bot.core.tasks import wait_event

log = logging.getLogger(__name__)

ANSWER_RESERVE = 1 / 3  # of the overall burst, spent only on answers to people
JSONDict = dict[str, Any]
Result = bool | JSONDict | list[JSONDict]


class Lane(IntEnum):
    """Who is waiting for a call, most urgent first."""

    ANSWER = 0  # a reply to someone who just typed a command
    WORK = 1  # clips, edits, deletions: wanted, in the order they were made
    DECORATION = 2  # chat actions: sent only when nothing has to wait for them


@dataclass(frozen=True)
class Call:
    """What a caller says about one call (PTB's `rate_limit_args`): its lane, and optionally its
    number of 429 retries (None: the limiter's own).  Always truthy, as PTB drops falsy ones."""

    lane: Lane | None = None
    retries: int | None = None


ANSWER = Call(Lane.ANSWER)
WORK = Call(Lane.WORK)
DECORATION = Call(Lane.DECORATION)


def lane_of(endpoint: str) -> Lane:
    """The fallback for a call whose caller did not say: a guess from the endpoint."""
    if endpoint == "sendChatAction":
        return Lane.DECORATION
    if endpoint == "sendMessage":
        return Lane.ANSWER
    return Lane.WORK


@dataclass
class Bucket:
    """A leaky bucket: `rate` calls per `period` seconds, bursts up to `rate`."""

    rate: float
    period: float
    level: float = 0.0
    at: float = 0.0

    def _drain(self, now: float) -> None:
        self.level = max(0.0, self.level - (now - self.at) * self.rate / self.period)
        self.at = now

    def wait(self, now: float, reserve: float = 0.0) -> float:
        """Seconds until one more call fits, leaving `reserve` calls of the burst unspent (0: now)."""
        self._drain(now)
        return max(0.0, (self.level + 1 + reserve - self.rate) * self.period / self.rate)

    def take(self, now: float) -> None:
        self._drain(now)
        self.level += 1

    def idle(self, now: float) -> bool:
        self._drain(now)
        return self.level == 0


@dataclass(order=True)
class _Waiter:
    lane: Lane
    seq: int
    group: int | str | None = field(compare=False)
    granted: asyncio.Future[None] = field(compare=False)


class LaneRateLimiter(BaseRateLimiter[Call | int]):
    """Telegram's budgets (all calls, and per group), served by `Lane`; retries after a 429.

    `rate_limit_args`: a `Call` (lane, retries), or, as with PTB's own limiter, the number of
    retries for that call.
    """

    def __init__(
        self,
        *,
        overall_per_s: float = 30.0,
        group_per_min: float = 20.0,
        max_retries: int = 0,
        clock: Callable[[], float] = time.monotonic,
        tally: Tally | None = None,
    ) -> None:
        self.clock = clock
        self.tally = tally or Tally()
        self.max_retries = max_retries
        self.overall = Bucket(overall_per_s, 1.0)
        self.group_per_min = group_per_min
        self.groups: dict[int | str, Bucket] = {}
        self.waiting: list[_Waiter] = []
        self.seq = itertools.count()
        self.changed = asyncio.Event()
        self.not_paused = asyncio.Event()
        self.not_paused.set()
        self.scheduler: asyncio.Task[None] | None = None

    async def initialize(self) -> None:
        """Nothing to open; the scheduler starts with the first call that has to wait."""

    async def shutdown(self) -> None:
        """Calls still waiting fail as a network error would (the core retries those later)."""
        if self.scheduler is not None:
            self.scheduler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.scheduler
            self.scheduler = None
        waiting, self.waiting = self.waiting, []
        for waiter in waiting:
            if not waiter.granted.done():
                waiter.granted.set_exception(NetworkError("the bot is stopping"))

    def _group(self, key: int | str | None) -> Bucket | None:
        if key is None or not self.group_per_min:
            return None
        bucket = self.groups.get(key)
        if bucket is None:
            if len(self.groups) > 512:  # forget groups whose budget is whole again
                now = self.clock()
                self.groups = {k: b for k, b in self.groups.items() if not b.idle(now)}
            bucket = self.groups[key] = Bucket(self.group_per_min, 60.0)
        return bucket

    def _wait_for(self, lane: Lane, group: int | str | None, now: float) -> float:
        """A third of the overall burst is kept for answers, so a crowd's uploads and edits
        never leave the next person who types a command waiting for the budget to refill."""
        rate = self.overall.rate
        reserve = 0.0 if lane is Lane.ANSWER else max(0.0, min(rate * ANSWER_RESERVE, rate - 1))
        bucket = self._group(group)
        return max(self.overall.wait(now, reserve), bucket.wait(now) if bucket else 0.0)

    def _take(self, group: int | str | None, now: float) -> None:
        self.overall.take(now)
        bucket = self._group(group)
        if bucket is not None:
            bucket.take(now)

    async def _acquire(self, lane: Lane, group: int | str | None) -> bool:
        """Wait for this call's turn; False: a decoration that would have had to wait."""
        now = self.clock()
        if not self.waiting and self.not_paused.is_set() and self._wait_for(lane, group, now) == 0:
            self._take(group, now)
            return True
        if lane is Lane.DECORATION:
            return False
        waiter = _Waiter(lane, next(self.seq), group, asyncio.get_running_loop().create_future())
        heapq.heappush(self.waiting, waiter)
        self.changed.set()
        if self.scheduler is None or self.scheduler.done():
            self.scheduler = asyncio.create_task(self._schedule())
        try:
            await waiter.granted
        except asyncio.CancelledError:
            if waiter in self.waiting:
                self.waiting.remove(waiter)
                heapq.heapify(self.waiting)
            raise
        return True

    async def _schedule(self) -> None:
        """Grant waiting calls, most urgent lane first; a call held by its group's budget does
        not hold back calls to other chats."""
        while self.waiting:
            await self.not_paused.wait()
            now = self.clock()
            soonest = None
            for waiter in sorted(self.waiting):
                wait = self._wait_for(waiter.lane, waiter.group, now)
                if wait == 0:
                    self._take(waiter.group, now)
                    self.waiting.remove(waiter)
                    heapq.heapify(self.waiting)
                    if not waiter.granted.done():
                        waiter.granted.set_result(None)
                    break
                soonest = wait if soonest is None else min(soonest, wait)
            else:
                self.changed.clear()
                await wait_event(self.changed, soonest)

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, Result]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: Call | int | None,
    ) -> Result:
        chat_id = data.get("chat_id")
        group: int | str | None = None
        with contextlib.suppress(TypeError, ValueError):
            chat_id = int(chat_id)  # type: ignore[arg-type]
        if isinstance(chat_id, str) or (isinstance(chat_id, int) and chat_id < 0):
            group = chat_id
        said = rate_limit_args if isinstance(rate_limit_args, Call) else Call(retries=rate_limit_args)
        lane = said.lane if said.lane is not None else lane_of(endpoint)
        retries = said.retries if said.retries is not None else self.max_retries
        for attempt in range(retries + 1):
            if chat_id is not None and not await self._acquire(lane, group):
                return True  # the chat action Telegram would have shown for 5 s: skipped
            await self.not_paused.wait()
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as error:
                if attempt == retries:
                    raise
                pause = error.retry_after
                seconds = pause if isinstance(pause, int | float) else pause.total_seconds()
                log.info("telegram asked for a %.1f s pause (%s); retrying", seconds, endpoint)
                self.tally.count(API_RETRIED, platform="telegram")
                self.not_paused.clear()
                try:
                    await asyncio.sleep(seconds + 0.1)
                finally:
                    self.not_paused.set()
                    self.changed.set()
        raise AssertionError("unreachable")  # pragma: no cover
