"""Running jobs: hand queued jobs to the render backend in fair order, and move each job
through its states as the backend reports (`queued → running → encoding → delivering`,
or failed / cancelled / back in line).

The backend decides how many jobs it takes at once (`free_slots`); nothing here assumes
a single running job.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any

from bot.core.endings import Endings, RunningJob, RunningJobs
from bot.core.models import Models
from bot.core.persist import is_transient, until_written
from bot.core.ports import (
    Cancelled,
    Clock,
    Encoding,
    Failed,
    FailureKind,
    Progress,
    RenderBackend,
    Rendered,
    RenderEvent,
    RenderJob,
)
from bot.core.queue import JobQueue, QueueClosed
from bot.core.tasks import Tasks
from bot.domain import Job, JobStatus
from bot.store import Store

log = logging.getLogger(__name__)

CLAIM_RETRY_S = 1.0
_RUNNING = (JobStatus.RUNNING,)
FAILURE_MESSAGES = {
    FailureKind.OUT_OF_MEMORY: "failed_oom",
    FailureKind.TOO_BIG: "failed_too_big",
    FailureKind.INTERNAL: "failed_internal",
}


class JobRunner:
    def __init__(
        self,
        store: Store,
        queue: JobQueue,
        backend: RenderBackend,
        running: RunningJobs,
        endings: Endings,
        tasks: Tasks,
        *,
        clock: Clock | None = None,
        max_model_wait_s: float = 0.0,
        recheck_s: float = 60.0,
        models: Models,
        model_missing_wait_s: float = 900.0,
    ) -> None:
        self.models = models
        self.clock = clock
        self.max_model_wait_s = max_model_wait_s
        self.recheck_s = recheck_s
        self.model_missing_wait_s = model_missing_wait_s
        self.store = store
        self.queue = queue
        self.backend = backend
        self.running = running
        self.endings = endings
        self.tasks = tasks
        self.stopping = False
        # the last word before a job renders (`Admission.vet`: the face policy at the point of use):
        # None lets it render, a message key ends it failed and refunded
        self.vet: Callable[[Job], Awaitable[str | None]] | None = None

    def wake(self) -> None:
        """A job was queued: look at the queue, and let the backend retry a failed model load."""
        self.queue.notify()
        self.backend.poke()

    async def dispatch(self) -> None:
        """Forever: wait for a free backend slot, claim the next job fairly, hand it over."""
        while not self.stopping:
            await self.backend.wait_for_slot()
            if self.stopping:
                break
            try:
                job = await self.queue.next_job(self.pick, recheck_s=self.recheck_s)
            except QueueClosed:
                break
            except sqlite3.OperationalError as error:
                if not is_transient(error):
                    raise
                log.warning("could not claim the next job (%s); trying again shortly", error)
                await self.queue.wait_for_change(CLAIM_RETRY_S)
                continue
            if self.stopping:
                self.store.jobs.requeue(job.id)
                break
            running = self.running.jobs[job.id] = RunningJob(job)
            if not await self._vetted(running):
                continue
            name = self.models.name_of(job.model)
            self.backend.submit(RenderJob(job.id, name, job.params, self.models.identity(name)))

    async def _vetted(self, running: RunningJob) -> bool:
        """Whether a claimed job may go to the backend now (`vet`); if not, it ends here through
        `Endings`, refunded, its owner told in one sentence — never handed over.  A cancel that
        came while it was being looked at ends it as cancelled; a stop puts it back in line."""
        job = running.job
        try:
            refusal = await self.vet(job) if self.vet is not None else None
        except Exception:
            log.exception("checking job %d before its render failed", job.id)
            refusal = "failed_internal"
        if refusal is None and running.cancel_notice is None and not self.stopping:
            return True
        del self.running.jobs[job.id]
        if running.cancel_notice is not None:
            self.tasks.spawn(self.endings.cancelled(running))
        elif self.stopping:
            self._write(lambda: self.store.jobs.requeue(job.id), job)
        else:
            log.warning("job %d refused as it was about to render: %s", job.id, refusal)
            self.tasks.spawn(self.endings.fail(job, refusal or "failed_internal"))
        return False

    def pick(self, ordered: list[Job]) -> Job | None:
        """The job to run next, from the queue in fair order: the head, unless the model in memory
        has jobs waiting too and the head has waited less than `max_model_wait_s` (so the GPU does
        not reload between every clip, and nobody waits forever behind another model's queue).
        Jobs whose model cannot load now are skipped; None when that leaves nothing."""
        state = self.backend.model_state()
        names = {job.id: self.models.name_of(job.model) for job in ordered}
        usable = [job for job in ordered if names[job.id] not in state.unavailable]
        if not usable:
            return None
        head = usable[0]
        if not state.resident or names[head.id] in state.resident:
            return head
        same = next((job for job in usable if names[job.id] in state.resident), None)
        if same is None or self.clock is None:
            return head
        return head if self.clock() - head.created_at >= self.max_model_wait_s else same

    def waited_too_long(self, job: Job) -> bool:
        """A job for a model that cannot load has waited its bounded time."""
        return self.clock is not None and self.clock() - job.created_at >= self.model_missing_wait_s

    async def give_up_on_broken_models(self) -> list[Job]:
        """Fail and refund the queued jobs of models that do not load, once they waited too long."""
        broken = self.backend.model_state().broken
        if not broken:
            return []
        failed = []
        for job in self.queue.ordered():
            if (
                (self.models.configured(job.model) or job.model) in broken
                and self.waited_too_long(job)
                and await self.endings.give_up_waiting(job, "failed_model_missing")
            ):
                log.warning("job %d failed: its model %s did not load in time", job.id, job.model)
                failed.append(job)
        return failed

    async def watch_broken_models(self) -> None:
        """Forever: every `recheck_s`, give up on jobs that waited too long for a broken model."""
        every = min(self.recheck_s, self.model_missing_wait_s)
        while not self.stopping:
            try:
                await self.give_up_on_broken_models()
            except sqlite3.OperationalError as error:
                log.warning("could not fail jobs of a broken model (%s); trying again", error)
            await asyncio.sleep(every)  # a timer of its own: the queue's event wakes the dispatcher

    def stop(self) -> None:
        """No more dispatching; the backend stops running jobs after their current step."""
        self.stopping = True
        self.queue.close()
        self.backend.stop()

    def _write(self, write: Callable[[], object], job: Job) -> None:
        """A job's new state: now, or — the database locked or full — as soon as it takes it."""
        try:
            write()
        except sqlite3.OperationalError as error:
            if not is_transient(error):
                raise
            self.tasks.spawn(until_written(write, f"the new state of job {job.id}"))

    def on_event(self, event: RenderEvent) -> None:
        """The job's state follows what the backend reports."""
        running = self.running.get(event.job_id)
        if running is None:
            log.warning("render report for a job not handed out: %r", event)
            return
        job = running.job
        if isinstance(event, Progress):
            running.step = event.step
        elif isinstance(event, Encoding):
            self._write(
                lambda: self.store.jobs.set_status(job.id, JobStatus.ENCODING, only_from=_RUNNING), job
            )
            job.status = JobStatus.ENCODING
        elif isinstance(event, Rendered):
            del self.running.jobs[job.id]
            made = event.clip  # the file's facts, read from it: /info states them
            # a post step's clip has a size and frame rate of its own too (its request's are its parent's)
            facts: dict[str, Any] = {} if job.params.post is None else {
                "frames": made.frames, "fps": made.fps, "width": made.width, "height": made.height
            }  # fmt: skip
            self._write(
                lambda: self.store.jobs.set_status(
                    job.id,
                    JobStatus.DELIVERING,
                    clip_path=made.path,
                    clip_frames=made.frames,
                    clip_fps=made.fps,
                    **facts,
                ),
                job,
            )
        elif isinstance(event, Cancelled):
            del self.running.jobs[job.id]
            if running.cancel_notice is None:  # nobody asked: the backend is stopping
                self._write(lambda: self.store.jobs.requeue(job.id), job)
            else:
                self.tasks.spawn(self.endings.cancelled(running))
        elif isinstance(event, Failed):
            del self.running.jobs[job.id]
            if event.kind == FailureKind.MODEL_MISSING and not self.waited_too_long(job):
                self._write(lambda: self.store.jobs.requeue(job.id), job)  # it waits for the model too
                self.queue.notify()
            elif event.kind == FailureKind.MODEL_MISSING:
                log.warning("job %d failed: its model %s did not load in time", job.id, job.model)
                self.tasks.spawn(self.endings.fail(job, "failed_model_missing"))
            else:
                log.warning("job %d failed: %s %s", job.id, event.kind, event.detail)
                self.tasks.spawn(self.endings.fail(job, FAILURE_MESSAGES[event.kind]))
