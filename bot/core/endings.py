"""How a job ends: done, failed or cancelled, each with its refund and its word to the owner.

One path for every door: `/cancel`, `/admin purge`, bans, a cancelled challenge, delivery
giving up, start-up recovery and the render backend's own reports all end jobs here, through
the store's one `end` (status, `finished_at`, refund in one transaction; never out of an
ended state), so each refunds once and tells the owner once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from bot.core import messages
from bot.core.notify import Notifier
from bot.core.persist import until_written
from bot.domain import Job, JobStatus
from bot.store import Store


@dataclass
class RunningJob:
    job: Job
    step: int = 0
    cancel_notice: str | None = None  # set when someone asked to cancel it: what to tell its owner
    tell_owner: bool = True


@dataclass
class RunningJobs:
    """Jobs handed to the render backend and not yet reported back: none, one or many."""

    cancel_in_backend: Callable[[int], None]
    jobs: dict[int, RunningJob] = field(default_factory=dict)

    def get(self, job_id: int) -> RunningJob | None:
        return self.jobs.get(job_id)

    def of_user(self, user_key: str) -> list[Job]:
        return [r.job for r in self.jobs.values() if r.job.user.key == user_key]

    def __len__(self) -> int:
        return len(self.jobs)


class Endings:
    def __init__(self, store: Store, notifier: Notifier, running: RunningJobs) -> None:
        self.store = store
        self.notifier = notifier
        self.running = running
        self.job_finished = asyncio.Event()  # set whenever a job reaches done, failed or cancelled

    async def finish(self, job_id: int, status: JobStatus, **columns: Any) -> bool:
        """End a job through the store's one ending (status, `finished_at`, refund together),
        retried while the database is locked; False if it had already ended."""
        ended = await until_written(
            lambda: self.store.jobs.end(job_id, status, **columns), f"job {job_id} {status}"
        )
        if ended:
            self.job_finished.set()
        return ended

    async def fail(self, job: Job, key: str) -> None:
        """Failed for the bot's reasons: refunded, and the owner told in words (`key`)."""
        if await self.finish(job.id, JobStatus.FAILED, error=key):
            await self._say(job, key, tell_owner=True)

    async def give_up_waiting(self, job: Job, key: str) -> bool:
        """A queued job that cannot run (its model does not load): failed, refunded, owner told.
        False if it had left the queue meanwhile (claimed, cancelled)."""
        if not await self.finish(job.id, JobStatus.FAILED, only_from=(JobStatus.QUEUED,), error=key):
            return False  # the refund went with the ending, in its transaction
        await self._say(job, key, tell_owner=True)
        return True

    async def cancel(
        self, job: Job, notice: str, *, tell_owner: bool = True, error: str | None = None
    ) -> bool:
        """Cancel a waiting or rendering job, refund it and tell its owner `notice` (a message key).

        A job in the backend is asked to stop; its `Cancelled` report finishes it (`cancelled`).
        `tell_owner=False` only edits its status message: the owner asked, and hears the answer.
        False if the job had already finished.
        """
        running = self.running.get(job.id)
        if running is not None:
            running.cancel_notice, running.tell_owner = notice, tell_owner
            self.running.cancel_in_backend(job.id)
            return True
        if not await self.finish(job.id, JobStatus.CANCELLED, only_from=(JobStatus.QUEUED,), error=error):
            return False
        await self._say(job, notice, tell_owner)
        return True

    async def tell_pending(self, platform: str) -> None:
        """Tell owners on `platform` what happened to their jobs while nobody could say so."""
        for job in self.store.jobs.with_notice(platform):
            if job.notice is not None:
                self.store.jobs.update(job.id, notice=None)
                await self.notifier.tell(job, notice_text(job, job.notice))

    async def cancel_all(self, jobs: Iterable[Job], notice: str, *, error: str | None = None) -> list[Job]:
        return [job for job in jobs if await self.cancel(job, notice, error=error)]

    async def cancelled(self, running: RunningJob) -> None:
        """The backend stopped a job someone cancelled."""
        job = running.job
        if await self.finish(job.id, JobStatus.CANCELLED):
            await self._say(job, running.cancel_notice or "cancelled", running.tell_owner)

    async def _say(self, job: Job, notice: str, tell_owner: bool) -> None:
        if self.notifier.outbox(job.chat.platform) is None:
            # Not connected here (the shell's `videobot admin`, a platform still starting): the
            # bot tells them once the platform is up (`tell_pending`).
            self.store.jobs.update(job.id, notice=notice)
            return
        text = notice_text(job, notice)
        if tell_owner:
            await self.notifier.tell(job, text)
        else:
            await self.notifier.edit_status(job, text)


def notice_text(job: Job, notice: str) -> str:
    """A notice about `job` in its owner's language: every notice names the job, some its tries."""
    return messages.text(notice, job.user.locale, job=job.id, attempts=job.attempts)
