"""Sending finished clips: fit to the platform's upload limit, post with buttons, mark done.

Subscribes to `Rendered`.  A send that keeps failing leaves the job `delivering`, and the
housekeeping round tries again; a chat that can never be reached fails the job, refunded.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from bot.core import messages
from bot.core.boards import GroupBoards
from bot.core.captions import entry_buttons, entry_caption, result_buttons, result_caption
from bot.core.endings import Endings
from bot.core.executors import run_in
from bot.core.notify import Notifier
from bot.core.observe import DELIVERY_FAILED, Tally
from bot.core.persist import until_written
from bot.core.ports import Clock, Rendered, RenderEvent
from bot.core.progress import ProgressBoard
from bot.core.queue import JobQueue
from bot.core.tasks import Tasks
from bot.domain import Clip, ClipTooLarge, Delivery, Job, JobStatus, Undeliverable
from bot.settings.sections import QueueConfig
from bot.store import Store

log = logging.getLogger(__name__)


MAX_DELIVERY_WAIT_S = 3600.0
# How a clip is made to fit an upload limit (`bot.encode.fit_to_size`); raises `ClipTooLarge`.
Fitter = Callable[[Path, int], Clip]


@dataclass(eq=False)
class Deliveries:
    config: QueueConfig
    store: Store
    notifier: Notifier
    endings: Endings
    progress: ProgressBoard
    queue: JobQueue
    tasks: Tasks
    fit: Fitter
    clock: Clock
    boards: GroupBoards
    model_label: Callable[[str], str] = str  # a job's model as users see it (its name and hub id)
    extendable: Callable[[str], bool] = lambda model: False  # its clips get ⏩ Extend (it takes pictures)
    tally: Tally = field(default_factory=Tally)
    pool: ThreadPoolExecutor | None = None  # re-encodes run here, never in the render or verify pools
    # `--smooth`/`--hd`: what comes after a delivered clip that asked for post steps (bot.core.post)
    after_done: Callable[[Job], Awaitable[None]] | None = None

    def __post_init__(self) -> None:
        self._delivering: set[int] = set()

    def on_event(self, event: RenderEvent) -> None:
        if isinstance(event, Rendered):
            job = self.store.jobs.get(event.job_id)
            if job is not None and job.status == JobStatus.DELIVERING:
                self.tasks.spawn(self.deliver(job))  # uploads must not keep the GPU idle

    async def deliver(self, job: Job) -> None:
        """Send a finished clip; on failure it stays `delivering` and is retried later."""
        if job.id in self._delivering:
            return
        self._delivering.add(job.id)
        try:
            await self._deliver_once(job)
        finally:
            self._delivering.discard(job.id)
            self.progress.forget(job.id)

    async def _deliver_once(self, job: Job) -> None:
        outbox = self.notifier.outbox(job.chat.platform)
        if outbox is None:
            return
        if not job.clip_path or not Path(job.clip_path).exists():
            log.warning("job %d lost its clip file; rendering it again", job.id)
            self.store.jobs.set_status(job.id, JobStatus.QUEUED, clip_path=None)
            self.queue.notify()
            return
        await self.progress.stage(job, "delivering")
        try:
            limit = outbox.upload_limit(job.chat)
            if self.pool is not None:
                clip = await run_in(self.pool, self.fit, Path(job.clip_path), limit)
            else:
                clip = await asyncio.to_thread(self.fit, Path(job.clip_path), limit)
        except ClipTooLarge:
            self.tally.count(DELIVERY_FAILED, platform=job.chat.platform, kind="too_big")
            await self.endings.fail(job, "failed_too_big")
            return
        except Exception:
            log.exception("job %d: its clip could not be prepared for sending", job.id)
            self.tally.count(DELIVERY_FAILED, platform=job.chat.platform, kind="unprepared")
            await self.endings.fail(job, "failed_internal")
            return
        delivery = self._delivery(job, clip)
        for attempt in range(self.config.delivery_tries):
            try:
                if self.boards.quiet_here(job):  # in a busy group the board speaks for everyone
                    await outbox.show_activity(job.chat)
                sent = await outbox.send_video(delivery)
                break
            except Undeliverable as gone:
                self.tally.count(DELIVERY_FAILED, platform=job.chat.platform, kind="undeliverable")
                log.warning("job %d can never reach its chat (%s); giving up", job.id, gone)
                await self._give_up(job)
                return
            except Exception:
                log.warning("delivering job %d failed (try %d)", job.id, attempt + 1, exc_info=True)
                self.tally.count(DELIVERY_FAILED, platform=job.chat.platform, kind="error")
                await asyncio.sleep(self.config.delivery_backoff_s * 2**attempt)
        else:
            await self._round_failed(job)
            return
        # Sent: the `done` must land, or a later round would send the clip twice.
        await self.endings.finish(
            job.id, JobStatus.DONE, result_message=sent, only_from=(JobStatus.DELIVERING,)
        )
        if job.params.then_post and self.after_done is not None:
            self.tasks.spawn(self.after_done(job))
        if self.boards.quiet_here(job):
            await self.notifier.edit_status(job, messages.text("done_status", job.user.locale, job=job.id))

    async def _round_failed(self, job: Job) -> None:
        """A passing failure (a 5xx, a timeout): try again later, backing off, then give up."""
        rounds = job.delivery_rounds + 1
        if rounds >= self.config.delivery_rounds:
            log.warning("job %d: %d sending rounds failed; giving up", job.id, rounds)
            await self._give_up(job)
            return
        wait = min(self.config.redeliver_every_s * 2 ** (rounds - 1), MAX_DELIVERY_WAIT_S)
        due = self.clock() + wait
        await until_written(
            lambda: self.store.jobs.update(job.id, delivery_rounds=rounds, next_delivery_at=due),
            f"job {job.id}'s next sending round",
        )

    async def _give_up(self, job: Job) -> None:
        """The clip cannot be sent: fail it (refunded, the owner told if that is possible), delete it."""
        if job.clip_path:
            remove_clip_files(job.clip_path)
            await until_written(
                lambda: self.store.jobs.update(job.id, clip_path=None), f"job {job.id}'s clip"
            )
        await self.endings.fail(job, "failed_undeliverable")

    def _delivery(self, job: Job, clip: Clip) -> Delivery:
        self.notifier.status_message_of(job)  # the ack may have been stored after this job was read
        challenge = self.store.challenges.get(job.challenge_id) if job.challenge_id else None
        if challenge is not None:
            votes = self.store.challenges.vote_count(job.id)
            caption, buttons = entry_caption(job, challenge), entry_buttons(job, votes)
        else:
            caption, buttons = result_caption(job, clip), result_buttons(job, self.extendable(job.model))
        return Delivery(job, clip, caption, buttons, model=self.model_label(job.model))


def remove_clip_files(clip_path: str) -> None:
    """A clip and the smaller copies made to fit upload limits (`<id>.fit-<n>.mp4` beside it)."""
    clip = Path(clip_path)
    for path in [clip, *clip.parent.glob(f"{clip.stem}.fit-*.mp4")]:
        path.unlink(missing_ok=True)
