"""When will a job be done: measured seconds per step for its shape × the work ahead.

Timings come from the backend's reports (the first `Progress` → the first `Encoding`: a model
loaded, switched or compiled after `Started` does not count as rendering), blended into
moving averages and stored so ETAs survive restarts.  Two keys per render:

- `model:WxH:Ff:bB` — seconds per denoising step of a call rendering B clips of F frames
  at W×H together (a batch: jobs of one shape the backend started at the same moment);
- `model:WxH` — seconds per step·frame of one clip, the fallback for a frame count not timed yet.

Waiting jobs of one shape are costed at the largest batch timed that is no bigger than
their number (a backend batches them up to its own limit; fewer never share a call).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from bot.core.endings import RunningJobs
from bot.core.ports import Cancelled, Encoding, Failed, Progress, RenderEvent, Started
from bot.core.queue import JobQueue
from bot.domain import Job, RenderParams
from bot.store import Store

BATCH_WINDOW_S = 0.05  # jobs of one shape started within this of each other render together

Shape = tuple[str, int, int, int]  # model, width, height, frames


def timing_key(job: Job) -> str:
    """The per step·frame fallback key: model and size."""
    p = job.params
    return f"{job.model}:{p.width}x{p.height}"


def shape_key(model: str, width: int, height: int, frames: int) -> str:
    """The prefix of a shape's per-batch keys (`…:b1`, `…:b4`)."""
    return f"{model}:{width}x{height}:{frames}f:b"


def batch_key(job: Job, batch: int) -> str:
    p = job.params
    return f"{shape_key(job.model, p.width, p.height, p.frames)}{batch}"


def _same_call(a: RenderParams, b: RenderParams) -> bool:
    return (a.frames, a.width, a.height, a.steps, a.guidance) == (
        b.frames,
        b.width,
        b.height,
        b.steps,
        b.guidance,
    )


@dataclass
class _Group:
    """Jobs started together: one pipeline call (a batch of one, mostly)."""

    started: float
    jobs: list[int]
    timed: bool = False
    first_step: tuple[float, int] | None = None  # when the first step report came, and its step


def _render_seconds(group: _Group, now: float, steps: int) -> float:
    """A call's denoising seconds: from its first step report on, scaled to all its steps; from
    `Started` only when no step came before the last (loading then counts, for want of better)."""
    if group.first_step is not None and group.first_step[1] < steps:
        at, step = group.first_step
        return (now - at) * steps / (steps - step)
    return now - group.started


class Eta:
    def __init__(self, store: Store, queue: JobQueue, running: RunningJobs) -> None:
        self.store = store
        self.queue = queue
        self.running = running
        self._groups: dict[int, _Group] = {}

    def on_event(self, event: RenderEvent) -> None:
        if isinstance(event, Started):
            self._started(event.job_id, time.monotonic())
        elif isinstance(event, Progress):
            group = self._groups.get(event.job_id)
            if group is not None and group.first_step is None:
                group.first_step = (time.monotonic(), event.step)
        elif isinstance(event, Encoding):
            group = self._groups.pop(event.job_id, None)
            running = self.running.get(event.job_id)
            if group is not None and running is not None and not group.timed:
                group.timed = True  # the batch's denoising ends at its first clip's encoding
                p = running.job.params
                batch = len(group.jobs)
                elapsed = _render_seconds(group, time.monotonic(), p.steps)
                self.store.timings.record(batch_key(running.job, batch), elapsed / p.steps)
                self.store.timings.record(timing_key(running.job), elapsed / (p.steps * p.frames * batch))
        elif isinstance(event, Cancelled | Failed):
            group = self._groups.pop(event.job_id, None)
            if group is not None and not group.timed and event.job_id in group.jobs:
                group.jobs.remove(event.job_id)  # a batch-mate failed before any clip was timed

    def _started(self, job_id: int, now: float) -> None:
        mine = self.running.get(job_id)
        for other_id, group in self._groups.items():
            other = self.running.get(other_id)
            if (
                mine is not None
                and other is not None
                and not group.timed
                and now - group.started <= BATCH_WINDOW_S
                and mine.job.model == other.job.model
                and _same_call(mine.job.params, other.job.params)
            ):
                group.jobs.append(job_id)
                self._groups[job_id] = group
                return
        self._groups[job_id] = _Group(now, [job_id])

    def estimate(self, job_id: int) -> tuple[int | None, float | None]:
        """A waiting job's place in line and the seconds until it is done (None: not waiting, or
        a shape ahead of it not timed yet): the running jobs' remaining steps plus the work up to
        it."""
        waiting = self.store.backlog.work_until(job_id)
        if waiting is None:
            return None, None
        return waiting.place, self._seconds(waiting.step_frames, waiting.clips)

    def queue_clears_in(self) -> float | None:
        """Seconds until everything waiting and running is done (None: a shape not timed yet)."""
        work = self.store.backlog.work_waiting()
        return self._seconds(work.step_frames, work.clips)

    def _per_clip_step(self, shape: Shape, clips: int) -> float | None:
        """Seconds a step costs each clip of `shape` when `clips` of them wait (None: not timed)."""
        model, width, height, frames = shape
        prefix = shape_key(model, width, height, frames)
        timed = {int(key[len(prefix) :]): value for key, value in self.store.timings.starting(prefix).items()}
        fitting = [batch for batch in timed if batch <= max(clips, 1)]
        if fitting:
            batch = max(fitting)
            return timed[batch] / batch
        fallback = self.store.timings.get(f"{model}:{width}x{height}")
        return None if fallback is None else fallback * frames

    def _seconds(self, step_frames: dict[Shape, int], clips: dict[Shape, int]) -> float | None:
        """The running jobs' remaining steps plus the waiting work, in seconds."""
        steps: dict[Shape, float] = {}
        count: dict[Shape, int] = dict(clips)
        for shape, work in step_frames.items():
            steps[shape] = steps.get(shape, 0) + work / max(shape[3], 1)
            count.setdefault(shape, 1)
        running_batch: dict[Shape, int] = {}
        for running in self.running.jobs.values():
            p = running.job.params
            shape = (running.job.model, p.width, p.height, p.frames)
            steps[shape] = steps.get(shape, 0) + max(p.steps - running.step, 0)
            running_batch[shape] = running_batch.get(shape, 0) + 1
        total = 0.0
        for shape, shape_steps in steps.items():
            unit = self._per_clip_step(shape, max(count.get(shape, 0), running_batch.get(shape, 0), 1))
            if unit is None:
                return None
            total += unit * shape_steps
        return total
