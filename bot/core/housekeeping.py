"""Keeping promises over time: recovery at start-up, catching up when a platform connects,
sending clips that could not be sent, and forgetting what `[storage]` says to forget."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.core.delivery import Deliveries, remove_clip_files
from bot.core.endings import Endings
from bot.core.notify import Notifier
from bot.core.pictures import forget_picture, forget_unused_pictures
from bot.core.ports import Clock
from bot.core.queue import JobQueue
from bot.core.quota import quota_day
from bot.core.tasks import Tasks
from bot.domain import JobStatus
from bot.settings.root import Config
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

    async def recover(self) -> None:
        """Start-up, before any platform is up: requeue interrupted renders, fail tired ones.

        Telling users and delivering finished clips waits for `platform_ready`.
        """
        found = self.queue.recover(self.config.queue.max_attempts)
        self.forget_old_data()
        for job in found.tired:  # ended, refunded and its notice kept in one write: told once it is up
            await self.endings.finish(
                job.id, JobStatus.FAILED, error="interrupted too often", notice="failed_attempts"
            )
        if found.requeued or found.tired:
            log.info("recovered: %d requeued, %d failed", len(found.requeued), len(found.tired))

    async def platform_ready(self, platform: str) -> None:
        """An adapter is connected: catch up on what was promised to its users while down."""
        await self.endings.tell_pending(platform)
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
                await self.round()
            except Exception:
                log.exception("housekeeping failed; trying again in %s s", every)

    async def round(self) -> None:
        for job in self.store.jobs.due_for_delivery(self.clock()):
            await self.deliveries.deliver(job)
        for platform in list(self.notifier.outboxes):
            await self.endings.tell_pending(platform)  # e.g. jobs `videobot admin` cancelled
        self.forget_old_data()

    def forget_old_data(self) -> None:
        """Keep clips, prompts and audit entries only as long as the config promises."""
        storage, now = self.config.storage, self.clock()
        for job in self.store.retention.expired_clips(now - storage.keep_clips_hours * 3600):
            if job.clip_path:
                remove_clip_files(job.clip_path)
            self.store.jobs.update(job.id, clip_path=None)
            picture = job.params.picture
            if picture is not None:  # the picture goes with the last clip made from it
                forget_picture(picture, self.store.retention.picture_in_use(picture.sha256))
        # and pictures of jobs that ended without a clip (refused later, cancelled, failed)
        forget_unused_pictures(
            self.config.data_dir / "pictures",
            self.store.retention.picture_in_use,
            older_than=now - storage.keep_clips_hours * 3600,
        )
        jobs_before = now - storage.keep_jobs_days * 86400
        self.store.forget_before(
            jobs_before=jobs_before,
            audit_before=now - storage.keep_audit_days * 86400,
            day_before=quota_day(jobs_before, self.config.quota),
            now=now,
        )
