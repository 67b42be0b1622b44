"""SAQ's Redis queue as the bot and its workers use it, and the chores run on it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

from redis import asyncio as aioredis
from redis.exceptions import RedisError
from saq.job import Job as SaqJob
from saq.job import Status
from saq.queue.redis import RedisQueue

from bot.dispatch.remote import BOT_KEY, CANCEL_REASON

log = logging.getLogger(__name__)

REDIS_ERRORS = (RedisError, OSError)


class VideobotQueue(RedisQueue):
    """SAQ's Redis queue; a swept job's dead worker is waited for 1 s, not SAQ's 5 s."""

    @classmethod
    def at(cls, url: str, name: str) -> VideobotQueue:
        # Timeouts: a Redis host that stops answering (not refusing) must not hang the bot's loop.
        # The read timeout stays above the workers' 1 s blocking dequeue.
        return cls(aioredis.from_url(url, socket_connect_timeout=5, socket_timeout=15), name=name)

    async def sweep(self, lock: int = 60, abort: float = 1.0) -> list[str]:
        return await super().sweep(lock, abort)

    async def why_stop(self, job: SaqJob) -> str | None:
        """Why a running job should stop now: the bot cancelled it, or another run of it (SAQ's
        sweep race) already finished it; None to carry on."""
        record, reason = await cast(Awaitable[list[bytes | None]], self.redis.mget(job.id, job.abort_id))
        if reason is not None and reason.decode() == CANCEL_REASON:
            return "cancelled"
        stored = self.deserialize(record) if record is not None else None
        if stored is not None and stored.status == Status.COMPLETE:
            return "finished by another run"
        return None

    async def ping(self) -> None:
        await cast(Awaitable[Any], self.redis.ping())

    async def register_bot(self, fields: dict[str, str]) -> None:
        await cast(Awaitable[Any], self.redis.hset(BOT_KEY, mapping=fields))  # type: ignore[arg-type]

    async def registered(self) -> dict[str, str] | None:
        """The bot's registration (`remote.registration`), unchecked; None if it has not registered."""
        raw = await cast(Awaitable[dict[bytes, bytes]], self.redis.hgetall(BOT_KEY))
        if not raw:
            return None
        return {k.decode(errors="replace"): v.decode(errors="replace") for k, v in raw.items()}


def safe_url(url: str) -> str:
    """A Redis URL fit for logs: no password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


async def sweep_forever(
    queues: Callable[[], Mapping[str, VideobotQueue]], sweep_s: float, paused: Callable[[], bool]
) -> None:
    """Lost jobs (a worker killed mid-render) back in SAQ's queue, even with every worker gone."""
    lock = max(1, round(sweep_s))
    while True:
        await asyncio.sleep(sweep_s)
        if paused():
            continue
        for queue in list(queues().values()):
            with contextlib.suppress(*REDIS_ERRORS):
                await queue.sweep(lock)


async def abort_earlier_runs(queues: Mapping[str, VideobotQueue], run_id: str) -> None:
    """Jobs a crashed run of the bot left in Redis: nobody waits for them any more (this run
    requeued them in SQLite and hands them out under its own keys)."""
    for queue in queues.values():
        async for record in queue.iter_jobs([Status.QUEUED, Status.ACTIVE]):
            if not record.key.endswith(f"-{run_id}"):
                log.info("stopping %s, left in Redis by an earlier run of the bot", record.key)
                await queue.abort(record, "the bot restarted")


__all__ = ["REDIS_ERRORS", "VideobotQueue", "abort_earlier_runs", "safe_url", "sweep_forever"]
