"""The embedded render backend: one in-process worker that owns the GPU.

It loads the default model at start-up (retrying while the weights are missing) and warms
it, takes a job (or a batch: jobs of one model and shape that fair order handed over back
to back, up to the renderer's `batch_limit()`, a lone one waiting at most `[render]
batch_wait_ms` for company), loads the job's model if another is resident (freeing the old one
first, unless both are in `[render] keep_loaded`), renders it in a worker thread so the
event loop keeps answering chats, encodes the MP4, and reports each step through the
core's event sink.  Progress crosses from the render thread with `call_soon_threadsafe`;
cancelling sets the thread's stop flag, checked by the pipeline's per-step hook.

A model that fails to load is set aside for `model_retry_s` (new jobs do not shorten that);
its jobs go back in line and the dispatcher skips them meanwhile, until the core gives up
on them after `[queue] model_missing_wait_s` and refunds them.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from pathlib import Path
from typing import Any

from bot.core.executors import Executors, run_in
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
from bot.core.tasks import wait_event
from bot.domain import Clip
from bot.encode import encode_clip
from bot.pipelines.clip import RenderedClip
from bot.post.clip import encode_post, post_frames
from bot.post.engine import PostEngine
from bot.provenance import ContentCredentials
from bot.render import ModelPool, ModelUnavailable, OutOfMemory, RenderCancelled, Renderer, batch_shape
from bot.settings.sections import PostConfig, VideoConfig

log = logging.getLogger(__name__)


class LocalBackend:
    """`RenderBackend` on this machine: one job at a time, one model (or a few) in memory."""

    def __init__(
        self,
        models: ModelPool | Renderer,
        clips_dir: Path,
        video: VideoConfig,
        *,
        model_retry_s: float,
        default_model: str | None = None,
        credentials: ContentCredentials | None = None,
        executors: Executors | None = None,
        post: PostEngine | None = None,
    ) -> None:
        self.executors = executors or Executors()  # renders and encodes in pools of their own
        self.pool = models if isinstance(models, ModelPool) else ModelPool({models.name: models})
        self.clips_dir = clips_dir
        self.video = video
        self.model_retry_s = model_retry_s
        self.default_model: str = (
            default_model
            if default_model is not None and default_model in self.pool
            else self.pool.names()[0]
        )
        self.credentials = credentials
        self.post = post or PostEngine(PostConfig())  # 🎞/🔍 jobs: no render, the parent clip's file
        self._problem: str | None = None
        self._unavailable: dict[str, float] = {}  # model → when it may be tried again (monotonic)
        self._broken: set[str] = set()  # models whose last load failed
        self._pending: asyncio.Queue[RenderJob | None] = asyncio.Queue()
        self._cancels: dict[int, threading.Event] = {}
        self._slot_changed = asyncio.Event()
        self._arrived = asyncio.Event()
        self._poked = asyncio.Event()
        self._stopping = False
        self._busy = False  # a batch is rendering: no more jobs until it is done

    @property
    def renderer(self) -> Renderer:
        """The default model's renderer."""
        return self.pool.get(self.default_model)

    @property
    def problem(self) -> str | None:
        return self._problem

    @property
    def loaded(self) -> bool:
        return bool(self.pool.resident())

    def model_state(self) -> ModelState:
        now = time.monotonic()
        waiting = frozenset(name for name, until in self._unavailable.items() if until > now)
        return ModelState(resident=self.pool.resident(), unavailable=waiting, broken=frozenset(self._broken))

    def free_slots(self) -> int:
        """Room for a batch while none renders: the resident model's batch size less jobs held."""
        if self._stopping or not self.loaded or self._busy:
            return 0
        return max(0, self._batch_limit() - len(self._cancels))

    def _batch_limit(self) -> int:
        names = self.pool.resident() or {self.default_model}
        return max(1, *(self.pool.get(name).batch_limit() for name in names))

    def warmth(self) -> dict[str, dict[str, float | None]]:
        """Each loaded model's load and warm-up seconds (for /healthz and the log)."""
        return {
            name: {"load_s": self.pool.get(name).load_s, "warmup_s": self.pool.get(name).warmup_s}
            for name in sorted(self.pool.resident())
        }

    async def wait_for_slot(self) -> None:
        while not self.free_slots() and not self._stopping:
            self._slot_changed.clear()
            await self._slot_changed.wait()

    def submit(self, job: RenderJob) -> None:
        self._cancels[job.job_id] = threading.Event()
        self._pending.put_nowait(job)
        self._arrived.set()

    def cancel(self, job_id: int) -> None:
        stop = self._cancels.get(job_id)
        if stop is not None:
            stop.set()

    def poke(self) -> None:
        """A job arrived. A model known not to load is not tried again for it (each try of a
        broken model costs a load and may unload the one that works): it waits `model_retry_s`."""

    def stop(self) -> None:
        self._stopping = True
        for stop in self._cancels.values():
            stop.set()
        self._pending.put_nowait(None)
        self._slot_changed.set()
        self._poked.set()

    def _model(self, job: RenderJob) -> str:
        """The pool's model for a job (the core hands over configured names)."""
        return job.model if job.model in self.pool else self.default_model

    async def run(self, sink: EventSink) -> None:
        carry: RenderJob | None = None  # handed over after a batch closed: first of the next
        while not self._stopping:
            if not self.loaded and not await self._load_default():
                continue
            job = carry or await self._pending.get()
            if job is None:
                break
            batch = [job]
            carry = None if job.params.post is not None else await self._gather(batch)
            self._busy = True
            try:
                await (self._post(job, sink) if job.params.post is not None else self._render(batch, sink))
            finally:
                for done in batch:
                    self._cancels.pop(done.job_id, None)
                self._busy = False
                self._slot_changed.set()
        left: list[RenderJob | None] = [carry]
        while not self._pending.empty():  # handed over but never started: back in line
            left.append(self._pending.get_nowait())
        for job in left:
            if job is not None:
                self._cancels.pop(job.job_id, None)
                sink(Cancelled(job.job_id))

    def _fits(self, batch: list[RenderJob], job: RenderJob) -> bool:
        first = batch[0]
        if job.params.post is not None:  # a post step is no render: it never joins a batch
            return False
        return self._model(job) == self._model(first) and batch_shape(job.params) == batch_shape(first.params)

    async def _gather(self, batch: list[RenderJob]) -> RenderJob | None:
        """Add the jobs handed over next while they fit `batch[0]` (model and shape), until the
        batch is full or `batch_wait_ms` has passed; the first that does not fit is returned."""
        renderer = self.pool.get(self._model(batch[0]))
        limit = renderer.batch_limit() if renderer.loaded else 1
        if limit <= 1:
            return None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + renderer.tuning.batch_wait_ms / 1000
        self._slot_changed.set()  # the dispatcher may hand over more now
        while len(batch) < limit:
            if self._pending.empty():
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                self._arrived.clear()
                await wait_event(self._arrived, remaining)
                continue
            job = self._pending.get_nowait()
            if job is None:  # stopping: render (cancel) what is here, then stop
                self._pending.put_nowait(None)
                break
            if not self._fits(batch, job):
                return job
            batch.append(job)
        return None

    async def _load_default(self) -> bool:
        try:
            await run_in(self.executors.render, self.pool.load, self.default_model)
        except Exception as error:
            if self._stopping:  # a load that ends after a stop (a rejected token, Ctrl-C): nobody waits
                return False
            self._note_problem(self.default_model, error)
            self._poked.clear()
            await wait_event(self._poked, self.model_retry_s)
            return False
        self._problem = None
        self._broken.discard(self.default_model)
        self._slot_changed.set()
        return True

    def _note_problem(self, name: str, error: Exception) -> str:
        problem = (
            str(error)
            if isinstance(error, ModelUnavailable)
            else f"the video model failed to load: {error!r}"
        )
        if self._problem != problem:
            log.error("model %s: %s", name, problem, exc_info=not isinstance(error, ModelUnavailable))
        self._problem = problem
        self._broken.add(name)
        self._unavailable[name] = time.monotonic() + self.model_retry_s
        return problem

    async def _render(self, batch: list[RenderJob], sink: EventSink) -> None:
        """One pipeline call for `batch` (often of one); each job gets its own progress, clip,
        cancel or failure."""
        loop = asyncio.get_running_loop()
        name = self._model(batch[0])
        stops = [self._cancels[job.job_id] for job in batch]

        def on_step(index: int, step: int, total: int) -> None:
            loop.call_soon_threadsafe(sink, Progress(batch[index].job_id, step, total))

        def fail_all(kind: FailureKind, detail: str) -> None:
            for job in batch:
                sink(Failed(job.job_id, kind, detail))

        for job in batch:
            sink(Started(job.job_id))
        try:
            renderer = await run_in(self.executors.render, self.pool.load, name)
        except Exception as error:
            fail_all(FailureKind.MODEL_MISSING, self._note_problem(name, error))
            return
        self._problem = None
        self._broken.discard(name)
        try:
            clips = await run_in(
                self.executors.render,
                renderer.render_batch,
                [job.params for job in batch],
                on_step,
                [stop.is_set for stop in stops],
            )
        except RenderCancelled:
            for job in batch:
                sink(Cancelled(job.job_id))
            return
        except ModelUnavailable as missing:
            fail_all(FailureKind.MODEL_MISSING, self._note_problem(name, missing))
            return
        except OutOfMemory as error:
            log.warning("jobs %s: %s", [job.job_id for job in batch], error)
            fail_all(FailureKind.OUT_OF_MEMORY, str(error))
            return
        except Exception as error:
            log.exception("jobs %s failed", [job.job_id for job in batch])
            fail_all(FailureKind.INTERNAL, repr(error))
            return
        for job, stop, rendered in zip(batch, stops, clips, strict=True):
            if rendered is None or stop.is_set():
                sink(Cancelled(job.job_id))
                continue
            sink(Encoding(job.job_id))
            try:
                clip = await run_in(self.executors.encode, self._encode, job, rendered)
            except Exception as error:
                log.exception("job %d failed", job.job_id)
                sink(Failed(job.job_id, FailureKind.INTERNAL, repr(error)))
                continue
            # cancelled while encoding: the user was told so
            sink(Cancelled(job.job_id) if stop.is_set() else Rendered(job.job_id, clip))

    def _encode(self, job: RenderJob, rendered: RenderedClip) -> Clip:
        """The MP4 named after the identity the job carries (the one its manifest states); its
        frames and fps are the rendered clip's, and so is the `Clip` the core reports."""
        path = self.clips_dir / f"{job.job_id}.mp4"
        return encode_clip(
            rendered, path, job.params, made_by=job.identity, video=self.video, credentials=self.credentials
        )

    async def _post(self, job: RenderJob, sink: EventSink) -> None:
        """🎞/🔍: the post engine on the parent clip (render pool), then encode and sign (encode pool)."""
        assert job.params.post is not None
        loop = asyncio.get_running_loop()
        stop = self._cancels[job.job_id]
        step = job.params.post

        def on_progress(done: int, total: int) -> None:
            if stop.is_set():
                raise RenderCancelled()
            loop.call_soon_threadsafe(sink, Progress(job.job_id, done, total))

        sink(Started(job.job_id))
        vae = self._resident_vae(job)
        out = self.clips_dir / f"{job.job_id}.mp4"

        def make() -> Any:
            return post_frames(step, job.identity, self.post, vae=vae, progress=on_progress)

        def encode(made: Any) -> Any:
            return encode_post(
                made, step, job.params, job.identity, out, video=self.video, credentials=self.credentials
            )

        try:
            made = await run_in(self.executors.render, make)
            sink(Encoding(job.job_id))
            result = await run_in(self.executors.encode, encode, made)
        except RenderCancelled:
            sink(Cancelled(job.job_id))
            return
        except Exception as error:  # missing weights, a broken parent file: refunded like any failure
            log.warning(
                "post job %d failed: %s", job.job_id, error, exc_info=not isinstance(error, ValueError)
            )
            sink(Failed(job.job_id, FailureKind.INTERNAL, str(error) or repr(error)))
            return
        sink(Cancelled(job.job_id) if stop.is_set() else Rendered(job.job_id, result.clip))

    def _resident_vae(self, job: RenderJob) -> Any:
        """The loaded LTX model's VAE, for the LTX latent upsampler; None when not resident."""
        name = self._model(job)
        if name not in self.pool.resident():
            return None
        pipe = getattr(self.pool.get(name), "pipe", None)
        return getattr(pipe, "vae", None)
