"""Keeping promises over time: recovery at start-up, catching up when a platform connects,
sending clips that could not be sent, and forgetting what `[storage]` says to forget."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from bot.config import Config
from bot.core import messages
from bot.core.delivery import Deliveries
from bot.core.endings import Endings
from bot.core.notify import Notifier
from bot.core.ports import Clock
from bot.core.queue import JobQueue
from bot.core.quota import quota_day
from bot.core.tasks import Tasks
from bot.core.types import Job, JobStatus
from bot.store import Store

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Housekeeping:
    config: Config
    store: Store
    queue: JobQueue
    notifier: Notifier
    endings: Endings
    deliveries: Deliveries
    tasks: Tasks
    clock: Clock
    rearm_challenges: Callable[[str], Awaitable[None]]

    def __post_init__(self) -> None:
        self._untold_failures: list[Job] = []

    async def recover(self) -> None:
        """Start-up, before any platform is up: requeue interrupted renders, fail tired ones.

        Telling users and delivering finished clips waits for `platform_ready`.
        """
        found = self.queue.recover(self.config.queue.max_attempts)
        self.forget_old_data()
        for job in found.failed:
            self.store.quota.refund(job.id)
        self._untold_failures.extend(found.failed)
        if found.requeued or found.to_deliver or found.failed:
            log.info(
                "recovered: %d requeued, %d to deliver, %d failed",
                len(found.requeued),
                len(found.to_deliver),
                len(found.failed),
            )

    async def platform_ready(self, platform: str) -> None:
        """An adapter is connected: catch up on what was promised to its users while down."""
        for job in [j for j in self._untold_failures if j.chat.platform == platform]:
            self._untold_failures.remove(job)
            await self.notifier.tell(
                job, messages.text("failed_attempts", job.user.locale, job=job.id, attempts=job.attempts)
            )
        for job in self.store.jobs.with_status(JobStatus.DELIVERING):
            if job.chat.platform == platform:
                self.tasks.spawn(self.deliveries.deliver(job))
        await self.rearm_challenges(platform)

    async def run(self) -> None:
        """Every `redeliver_every_s`: send what could not be sent, forget what is too old."""
        every = self.config.queue.redeliver_every_s
        while True:
            await asyncio.sleep(every)
            try:
                for job in self.store.jobs.with_status(JobStatus.DELIVERING):
                    await self.deliveries.deliver(job)
                self.forget_old_data()
            except Exception:
                log.exception("housekeeping failed; trying again in %s s", every)

    def forget_old_data(self) -> None:
        """Keep clips, prompts and audit entries only as long as the config promises."""
        storage, now = self.config.storage, self.clock()
        for job in self.store.jobs.expired_clips(now - storage.keep_clips_hours * 3600):
            if job.clip_path:
                clip = Path(job.clip_path)
                for path in [clip, *clip.parent.glob(f"{clip.stem}.fit-*.mp4")]:
                    path.unlink(missing_ok=True)
            self.store.jobs.update(job.id, clip_path=None)
        jobs_before = now - storage.keep_jobs_days * 86400
        self.store.forget_before(
            jobs_before=jobs_before,
            audit_before=now - storage.keep_audit_days * 86400,
            day_before=quota_day(jobs_before, self.config.quota),
            now=now,
        )
