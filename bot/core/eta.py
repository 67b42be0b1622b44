"""When will a job be done: measured seconds per step·frame for its shape × the work ahead.

Timings come from the backend's reports (`Started` → `Encoding`), blended into a moving
average per model and size, and stored so ETAs survive restarts.
"""

from __future__ import annotations

import time

from bot.core.endings import RunningJobs
from bot.core.ports import Cancelled, Encoding, Failed, RenderEvent, Started
from bot.core.queue import JobQueue
from bot.core.types import Job
from bot.store import Store


def timing_key(job: Job) -> str:
    p = job.params
    return f"{job.model}:{p.width}x{p.height}"


class Eta:
    def __init__(self, store: Store, queue: JobQueue, running: RunningJobs) -> None:
        self.store = store
        self.queue = queue
        self.running = running
        self._started: dict[int, float] = {}

    def on_event(self, event: RenderEvent) -> None:
        if isinstance(event, Started):
            self._started[event.job_id] = time.monotonic()
        elif isinstance(event, Encoding):
            started = self._started.pop(event.job_id, None)
            running = self.running.get(event.job_id)
            if started is not None and running is not None:
                p = running.job.params
                self.store.timings.record(
                    timing_key(running.job), (time.monotonic() - started) / (p.steps * p.frames)
                )
        elif isinstance(event, Cancelled | Failed):
            self._started.pop(event.job_id, None)

    def estimate(self, job_id: int) -> tuple[int | None, float | None]:
        """A waiting job's place in line and the seconds until it is done (None: not waiting, or
        a shape ahead of it not timed yet): the running jobs' remaining steps plus the work up to
        it.  One query, however long the queue."""
        waiting = self.store.jobs.work_until(job_id)
        if waiting is None:
            return None, None
        return waiting.place, self._seconds(waiting.step_frames)

    def queue_clears_in(self) -> float | None:
        """Seconds until everything waiting and running is done (None: a shape not timed yet)."""
        return self._seconds(self.store.jobs.work_waiting())

    def _seconds(self, waiting: dict[tuple[str, int, int], int]) -> float | None:
        """The running jobs' remaining steps plus `waiting` (steps × frames by shape), in seconds."""
        work: dict[str, int] = {}
        for (model, width, height), step_frames in waiting.items():
            key = f"{model}:{width}x{height}"
            work[key] = work.get(key, 0) + step_frames
        for running in self.running.jobs.values():
            p = running.job.params
            key = timing_key(running.job)
            work[key] = work.get(key, 0) + p.frames * max(p.steps - running.step, 0)
        total = 0.0
        for key, step_frames in work.items():
            unit = self.store.timings.get(key)
            if unit is None:
                return None
            total += unit * step_frames
        return total
