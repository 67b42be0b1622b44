"""A render backend at the ports level, for the core's rules: the events a real backend sends, a
small valid MP4 for each clip, and no diffusers.

Queue order, quotas, admission, endings, commands, challenges, admin and messages do not depend on
what a clip looks like, only on the events a backend sends (`Started`, `Progress`, `Encoding`,
`Rendered`, `Failed`, `Cancelled`) and on a playable file at the end. `StubBackend` sends exactly
those, one job at a time like the embedded backend on the CPU, and hands over an MP4 encoded once
per test session for each clip shape (real H.264 that PyAV decodes, at the job's size, frame count
and fps). Tests where rendering is what is tested use the real `LocalBackend` with a tiny model.

A story that needs something to happen *during* a render holds it at its first step (`hold()`,
`wait_paused()`, `release()`); one that needs the GPU to let it down queues a failure
(`fail_next(FailureKind.OUT_OF_MEMORY)`).
"""

from __future__ import annotations

import asyncio
import collections
import io
import shutil
import threading
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from bot.core.extend import clip_frames
from bot.core.ports import (
    Cancelled,
    Encoding,
    EventSink,
    Failed,
    FailureKind,
    ModelState,
    Progress,
    Rendered,
    RenderJob,
    Started,
)
from bot.domain import Clip


@dataclass(frozen=True)
class ClipShape:
    frames: int
    width: int
    height: int
    fps: int


_prepared: dict[ClipShape, bytes] = {}
_prepared_lock = threading.Lock()


def prepared_mp4(shape: ClipShape) -> bytes:
    """A playable H.264 MP4 of `shape`, encoded once per session per shape: coloured noise, as the
    tiny models make, so its size is a real clip's (the fit-to-upload-limit rules depend on it)."""
    with _prepared_lock:
        if shape not in _prepared:
            _prepared[shape] = _encode_noise(shape)
        return _prepared[shape]


def _encode_noise(shape: ClipShape) -> bytes:
    width, height = shape.width + shape.width % 2, shape.height + shape.height % 2  # yuv420p needs even sides
    noise = np.random.default_rng(shape.frames * 7919 + width).integers(
        0, 256, (shape.frames, height, width, 3), dtype=np.uint8
    )
    out = io.BytesIO()
    with av.open(out, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=Fraction(shape.fps))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for frame in noise:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out.getvalue()


class StubBackend:
    """`RenderBackend` without a model: one job at a time, `steps` progress events
    each, then the prepared clip in `clips_dir`."""

    def __init__(
        self,
        clips_dir: Path,
        *,
        models: tuple[str, ...] = ("default",),
        step_s: float = 0.002,
        problem: str | None = None,
    ) -> None:
        self.clips_dir = clips_dir
        self.models = frozenset(models)
        self.step_s = step_s  # about a tiny model's step on the CPU: long jobs stay long enough to act on
        self._problem = problem
        self._pending: asyncio.Queue[RenderJob | None] = asyncio.Queue()
        self._held: set[int] = set()  # handed over, not yet finished
        self._cancels: set[int] = set()
        self._failures: collections.deque[FailureKind] = collections.deque()
        self._slot = asyncio.Event()
        self._stopping = False
        self._holding = False
        self._paused = asyncio.Event()
        self._released = asyncio.Event()
        self.submitted: list[RenderJob] = []  # every job handed over, in order

    # the port ------------------------------------------------------------------------------

    @property
    def problem(self) -> str | None:
        return self._problem

    @property
    def loaded(self) -> bool:
        return self._problem is None

    def warmth(self) -> dict[str, dict[str, float | None]]:
        return {}

    def model_state(self) -> ModelState:
        if self._problem is not None:
            return ModelState(unavailable=self.models, broken=self.models)
        return ModelState(resident=self.models)

    def free_slots(self) -> int:
        return 0 if self._stopping or not self.loaded or self._held else 1

    async def wait_for_slot(self) -> None:
        while not self.free_slots() and not self._stopping:
            self._slot.clear()
            await self._slot.wait()

    def submit(self, job: RenderJob) -> None:
        self.submitted.append(job)
        self._held.add(job.job_id)
        self._pending.put_nowait(job)

    def cancel(self, job_id: int) -> None:
        if job_id in self._held:
            self._cancels.add(job_id)

    def poke(self) -> None:
        return None

    def stop(self) -> None:
        self._stopping = True
        self._cancels.update(self._held)
        self._released.set()
        self._pending.put_nowait(None)
        self._slot.set()

    async def run(self, sink: EventSink) -> None:
        while not self._stopping:
            job = await self._pending.get()
            if job is None:
                break
            try:
                await self._render(job, sink)
            finally:
                self._held.discard(job.job_id)
                self._cancels.discard(job.job_id)
                self._slot.set()
        while not self._pending.empty():  # handed over but never started: back in line
            left = self._pending.get_nowait()
            if left is not None:
                self._held.discard(left.job_id)
                sink(Cancelled(left.job_id))

    # what a story controls ------------------------------------------------------------------

    def fail_next(self, kind: FailureKind, detail: str = "") -> None:
        """The next job to render fails with `kind` after its last step (e.g. the GPU runs out of memory)."""
        self._failures.append(kind)

    def set_problem(self, problem: str | None) -> None:
        """The model cannot load (`problem`) or can again (None)."""
        self._problem = problem
        self._slot.set()

    def hold(self) -> None:
        """Hold the next render at its first step until `release()`."""
        self._holding = True
        self._paused.clear()
        self._released.clear()

    async def wait_paused(self) -> None:
        await asyncio.wait_for(self._paused.wait(), 30)

    def release(self) -> None:
        self._holding = False
        self._released.set()

    # one job ---------------------------------------------------------------------------------

    async def _render(self, job: RenderJob, sink: EventSink) -> None:
        sink(Started(job.job_id))
        total = job.params.steps
        for step in range(1, total + 1):
            await asyncio.sleep(self.step_s)
            if job.job_id in self._cancels:
                sink(Cancelled(job.job_id))
                return
            sink(Progress(job.job_id, step, total))
            if step == 1 and self._holding:
                self._paused.set()
                await self._released.wait()
        if job.job_id in self._cancels:
            sink(Cancelled(job.job_id))
            return
        if self._failures:
            kind = self._failures.popleft()
            sink(Failed(job.job_id, kind, f"stub: {kind}"))
            return
        sink(Encoding(job.job_id))
        await asyncio.sleep(self.step_s)  # the encode: a cancel may still arrive, as on the real backend
        if job.job_id in self._cancels:
            sink(Cancelled(job.job_id))
            return
        sink(Rendered(job.job_id, self._write(job)))

    def _write(self, job: RenderJob) -> Clip:
        params = job.params
        shape = ClipShape(
            clip_frames(params), params.width, params.height, params.fps
        )  # an extension's whole length
        path = self.clips_dir / f"{job.job_id}.mp4"
        path.parent.mkdir(parents=True, exist_ok=True)
        data = prepared_mp4(shape)
        with path.open("wb") as out:
            shutil.copyfileobj(io.BytesIO(data), out)
        return Clip(
            path=str(path),
            size_bytes=len(data),
            width=shape.width + shape.width % 2,
            height=shape.height + shape.height % 2,
            frames=shape.frames,
            fps=shape.fps,
        )
