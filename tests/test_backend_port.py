"""The render-backend port: a backend that runs two jobs at once needs nothing from the core
but the port (no single "running" slot), and its events drive state, progress and delivery."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from bot.core.ports import Cancelled, Encoding, EventSink, ModelState, Progress, Rendered, RenderJob, Started
from bot.core.quota import quota_day
from bot.core.service import VideoService
from bot.domain import ChatRef, JobStatus, Request, UserRef
from bot.encode import encode_mp4, fit_to_size
from bot.settings.root import Config
from bot.store import DB_FILE, Store
from tests.harness.outbox import RecordingOutbox
from tests.harness.polling import eventually

CHAT = ChatRef("telegram", "-1")


class TwoSlotBackend:
    """Two renders at a time, each held until the test releases it; the clip is a real MP4."""

    def __init__(self, clips: Path) -> None:
        self.clips = clips
        self.running: dict[int, RenderJob] = {}
        self.released: dict[int, asyncio.Event] = {}
        self.cancelled: set[int] = set()
        self.slot_freed = asyncio.Event()
        self.stopped = asyncio.Event()
        self.stopping = False
        self.sink: EventSink | None = None

    problem: str | None = None
    loaded = True

    def free_slots(self) -> int:
        return 0 if self.stopping else 2 - len(self.running)

    def model_state(self) -> ModelState:
        return ModelState()  # says nothing of models: plain fair order

    def warmth(self) -> dict[str, dict[str, float | None]]:
        return {}

    async def wait_for_slot(self) -> None:
        while not self.free_slots() and not self.stopping:
            self.slot_freed.clear()
            await self.slot_freed.wait()

    def submit(self, job: RenderJob) -> None:
        self.running[job.job_id] = job
        self.released[job.job_id] = asyncio.Event()
        asyncio.get_running_loop().create_task(self._render(job))

    async def _render(self, job: RenderJob) -> None:
        assert self.sink is not None
        self.sink(Started(job.job_id))
        self.sink(Progress(job.job_id, 1, job.params.steps))
        await self.released[job.job_id].wait()
        del self.running[job.job_id]
        self.slot_freed.set()
        if self.stopping or job.job_id in self.cancelled:
            self.sink(Cancelled(job.job_id))
            return
        self.sink(Encoding(job.job_id))
        frames = np.zeros((job.params.frames, job.params.height, job.params.width, 3), dtype=np.uint8)
        clip = encode_mp4(frames, self.clips / f"{job.job_id}.mp4", fps=job.params.fps, metadata={})
        self.sink(Rendered(job.job_id, clip))

    def cancel(self, job_id: int) -> None:
        self.cancelled.add(job_id)
        self.released[job_id].set()

    def poke(self) -> None:
        return None

    async def run(self, sink: EventSink) -> None:
        self.sink = sink
        await self.stopped.wait()

    def stop(self) -> None:
        self.stopping = True
        self.stopped.set()
        for released in self.released.values():
            released.set()
        self.slot_freed.set()


@pytest.mark.asyncio
async def test_a_backend_with_two_slots_renders_two_jobs_at_once_and_each_is_delivered(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    config = make_config()
    backend = TwoSlotBackend(tmp_path)
    store = Store(config.data_dir / DB_FILE)
    service = VideoService(config, store, backend, fit=fit_to_size)
    outbox = RecordingOutbox()
    service.add_outbox("telegram", outbox)
    worker = asyncio.create_task(service.run_worker())
    try:
        users = [UserRef("telegram", str(n), f"U{n}") for n in range(3)]
        jobs = [
            await service.video_text(Request(user, CHAT, reply_to=f"c{user.id}"), "a cat") for user in users
        ]
        assert all(job is not None for job in jobs)
        await eventually(lambda: len(backend.running) == 2, what="two renders at once")
        statuses = [stored.status for job in jobs if job and (stored := store.jobs.get(job.id))]
        assert statuses == [JobStatus.RUNNING, JobStatus.RUNNING, JobStatus.QUEUED]
        assert len(service.rooms.running) == 2

        probe = Request(users[2], CHAT, reply_to="q")
        await service.queue_status(probe)
        assert "2 rendering" in outbox.texts[-1]

        first, second, third = (job.id for job in jobs if job)
        await service.cancel(Request(users[1], CHAT, reply_to="x"), str(second))

        def status(job_id: int) -> JobStatus | None:
            job = store.jobs.get(job_id)
            return job.status if job else None

        await eventually(lambda: status(second) == JobStatus.CANCELLED, what="the cancel")
        await eventually(lambda: third in backend.running, what="the freed slot taken by the third job")
        backend.released[first].set()
        backend.released[third].set()

        await eventually(
            lambda: status(first) == status(third) == JobStatus.DONE, what="both clips delivered"
        )
        assert sorted(v.clip.path for v in outbox.videos if v.clip) == sorted(
            str(tmp_path / f"{j}.mp4") for j in (first, third)
        )
        assert (
            store.quota.used_today(users[1].key, quota_day(service.clock(), service.config.quota)) == 0
        )  # the cancel refunded
    finally:
        service.stop()
        await asyncio.wait_for(worker, 10)
        await service.drain()
        store.close()
