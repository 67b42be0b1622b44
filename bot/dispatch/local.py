"""The embedded render backend: one in-process worker that owns the GPU.

It loads the model at start-up (retrying while the weights are missing), takes one job
at a time, renders it in a worker thread so the event loop keeps answering chats,
encodes the MP4, and reports each step through the core's event sink.  Progress crosses
from the render thread with `call_soon_threadsafe`; cancelling sets the thread's stop
flag, checked by the pipeline's per-step callback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from pathlib import Path

from bot.config import VideoConfig
from bot.core.ports import (
    Cancelled,
    Encoding,
    EventSink,
    Failed,
    FailureKind,
    Progress,
    Rendered,
    RenderJob,
    Started,
)
from bot.dispatch.clips import failure_kind, render_clip
from bot.provenance import ContentCredentials
from bot.render import ModelMissing, RenderCancelled, Renderer

log = logging.getLogger(__name__)


class LocalBackend:
    """`RenderBackend` on this machine: one job at a time on one pipeline."""

    def __init__(
        self,
        renderer: Renderer,
        clips_dir: Path,
        video: VideoConfig,
        *,
        model_retry_s: float,
        credentials: ContentCredentials | None = None,
    ) -> None:
        self.renderer = renderer
        self.clips_dir = clips_dir
        self.video = video
        self.model_retry_s = model_retry_s
        self.credentials = credentials
        self._problem: str | None = None
        self._pending: asyncio.Queue[RenderJob | None] = asyncio.Queue()
        self._cancels: dict[int, threading.Event] = {}
        self._slot_changed = asyncio.Event()
        self._poked = asyncio.Event()
        self._stopping = False

    @property
    def problem(self) -> str | None:
        return self._problem

    @property
    def loaded(self) -> bool:
        return self.renderer.loaded

    def free_slots(self) -> int:
        if self._stopping or not self.renderer.loaded or self._cancels:
            return 0
        return 1

    async def wait_for_slot(self) -> None:
        while not self.free_slots() and not self._stopping:
            self._slot_changed.clear()
            await self._slot_changed.wait()

    def submit(self, job: RenderJob) -> None:
        self._cancels[job.job_id] = threading.Event()
        self._pending.put_nowait(job)

    def cancel(self, job_id: int) -> None:
        stop = self._cancels.get(job_id)
        if stop is not None:
            stop.set()

    def poke(self) -> None:
        self._poked.set()

    def stop(self) -> None:
        self._stopping = True
        for stop in self._cancels.values():
            stop.set()
        self._pending.put_nowait(None)
        self._slot_changed.set()
        self._poked.set()

    async def run(self, sink: EventSink) -> None:
        while not self._stopping:
            if not self.renderer.loaded and not await self._load():
                continue
            job = await self._pending.get()
            if job is None:
                break
            try:
                await self._render(job, sink)
            finally:
                self._cancels.pop(job.job_id, None)
                self._slot_changed.set()
        while not self._pending.empty():  # handed over but never started: back in line
            job = self._pending.get_nowait()
            if job is not None:
                self._cancels.pop(job.job_id, None)
                sink(Cancelled(job.job_id))

    async def _load(self) -> bool:
        try:
            await asyncio.to_thread(self.renderer.load)
        except Exception as error:
            problem = (
                str(error)
                if isinstance(error, ModelMissing)
                else f"the video model failed to load: {error!r}"
            )
            if self._problem != problem:
                log.error("%s", problem, exc_info=not isinstance(error, ModelMissing))
            self._problem = problem
            self._poked.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._poked.wait(), self.model_retry_s)
            return False
        self._problem = None
        self._slot_changed.set()
        return True

    async def _render(self, job: RenderJob, sink: EventSink) -> None:
        stop = self._cancels[job.job_id]
        loop = asyncio.get_running_loop()

        def on_step(step: int, total: int) -> None:
            loop.call_soon_threadsafe(sink, Progress(job.job_id, step, total))

        def on_encoding() -> None:
            loop.call_soon_threadsafe(sink, Encoding(job.job_id))

        sink(Started(job.job_id))
        try:
            clip = await asyncio.to_thread(
                render_clip,
                self.renderer,
                job,
                self.clips_dir / f"{job.job_id}.mp4",
                video=self.video,
                credentials=self.credentials,
                on_step=on_step,
                should_stop=stop.is_set,
                on_encoding=on_encoding,
            )
        except RenderCancelled:
            sink(Cancelled(job.job_id))
        except Exception as error:
            kind = failure_kind(error)
            if kind == FailureKind.MODEL_MISSING:
                self._problem = str(error)
            elif kind == FailureKind.INTERNAL:
                log.exception("job %d failed", job.job_id)
            sink(Failed(job.job_id, kind, str(error) if kind != FailureKind.INTERNAL else repr(error)))
        else:
            sink(Rendered(job.job_id, clip))
