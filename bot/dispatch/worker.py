"""`videobot worker`: render the bot's jobs on this machine's GPU, taken from SAQ on Redis.

One job at a time (the GPU's), from one SAQ queue per model in `[worker] models`.  Before
joining, the worker waits for the bot to register in Redis and checks that both hold the
same `VIDEOBOT_WORKER_SECRET` (a worker with another secret says so in one line and
exits).  A job renders with the same code as the bot's own backend (`LocalBackend`),
reports its step through `job.update(progress=…, meta=…)` (also SAQ's heartbeat), and
PUTs its MP4 to the bot; the result it returns holds only the clip's key, size and hash.
SAQ's abort (a `/cancel`) cancels the job's task, which turns into the step callback's
stop: the render ends after its current step.  Redis going away pauses the worker, which
reconnects on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import logging
import os
import shutil
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from saq.job import Job as SaqJob
from saq.worker import Worker

from bot.core.ports import Cancelled, Encoding, Failed, FailureKind, Progress, Rendered, RenderEvent
from bot.core.tasks import wait_event
from bot.dispatch.local import LocalBackend
from bot.dispatch.remote import (
    RENDER_FUNCTION,
    REWRITE_FUNCTION,
    SIGNATURE_HEADER,
    WRITER_QUEUE,
    RemoteJob,
    Untrusted,
    Uploaded,
    UploadGrant,
    WorkerKeys,
    queue_name,
    registered_url,
    seal_result,
)
from bot.dispatch.rewrites import Rewrites
from bot.dispatch.saq_queue import REDIS_ERRORS, VideobotQueue, safe_url
from bot.pictures import file_intact, picture_intact
from bot.post.engine import PostEngine
from bot.render import ModelPool, Renderer
from bot.settings.root import Config
from bot.settings.sections import WORKER_SECRET_ENV
from bot.signals import stop_on_signals

log = logging.getLogger(__name__)

BOT_WAIT_LOG_S = 60.0
PROGRESS_EVERY_S = 0.2


class SecretMismatch(Exception):
    """The bot registered in Redis holds another VIDEOBOT_WORKER_SECRET."""


class NotWanted(Exception):
    """The bot answered 409: it no longer waits for this clip (cancelled, or delivered already)."""


class QuietRedisErrors(logging.Filter):
    """SAQ logs a traceback per upkeep round while Redis is down; `RedisWatch` says it once."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, REDIS_ERRORS)


class RedisWatch:
    """Whether Redis answers; says so once when it goes and once when it is back."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.down = False
        self._backoff = 0.2

    async def up(self, queue: VideobotQueue) -> bool:
        try:
            await asyncio.wait_for(queue.ping(), 5)
        except (*REDIS_ERRORS, TimeoutError) as error:
            if not self.down:
                log.warning("Redis at %s cannot be reached (%s); waiting for it", safe_url(self.url), error)
                self.down = True
            await asyncio.sleep(self._backoff)
            self._backoff = min(self._backoff * 2, 2.0)
            return False
        if self.down:
            log.warning("Redis at %s is back; taking jobs again", safe_url(self.url))
            self.down = False
        self._backoff = 0.2
        return True


class VideobotWorker(Worker[Any]):
    """SAQ's worker, pausing (not spinning) while Redis is away; signals are ours."""

    def __init__(self, queue: VideobotQueue, watch: RedisWatch, **kwargs: Any) -> None:
        super().__init__(queue, **kwargs)
        self.SIGNALS = []
        self.watch = watch
        self.videobot_queue = queue

    async def process(self) -> bool:
        if not await self.watch.up(self.videobot_queue):
            return False
        try:
            return await super().process()
        except REDIS_ERRORS:
            return False  # the job's record could not be written: SAQ's sweep or the bot picks it up


def _input_changed(remote: RemoteJob) -> str | None:
    """Which file read from the shared disk is not the one the bot checked (its SHA-256): the
    job's picture, or a post step's parent clip; None when all are (blocking)."""
    params = remote.job.params
    if params.picture is not None and not picture_intact(params.picture):
        return "picture"
    if params.post is not None and not file_intact(params.post.clip_path, remote.parent_sha256):
        return "parent clip"
    return None


class Renders:
    """The job function around the bot's own in-process backend (`LocalBackend`: model pool,
    render thread, step hook, encoder), which it drives one job at a time."""

    def __init__(self, config: Config, secret: str, clips_dir: Path) -> None:
        names = config.worker_models
        # one job at a time (`self.gpu`): a batch would never fill, so a lone job must not wait for one
        tuning = dataclasses.replace(config.render, max_batch=1)
        renderers = {name: Renderer.for_model(config.model_named(name), tuning) for name in names}
        self.backend = LocalBackend(
            ModelPool(renderers, config.render.keep_loaded),
            clips_dir,
            config.video,
            model_retry_s=config.queue.model_retry_s,
            default_model=names[0],
            credentials=None,  # the bot signs what it receives: no key on this machine
            post=PostEngine(config.post, memory=config.render.memory),  # this machine's [post] weights
        )
        self.keys = WorkerKeys.of(secret)
        # Clips go only to the URL in this machine's own config, or to the one the bot registered
        # under the secret's MAC: never to a URL read from job data.
        self.own_upload_url = config.queue.upload_url.rstrip("/")
        self.upload_timeout_s = config.queue.upload_timeout_s
        self.gpu = asyncio.Lock()  # one job at a time, whichever model's queue it came from
        self.session: aiohttp.ClientSession | None = None
        self._events: dict[int, asyncio.Queue[RenderEvent]] = {}
        self._running: asyncio.Task[None] | None = None

    async def start(self) -> str | None:
        """Load the first model; why it cannot be loaded, or None."""
        self._running = asyncio.create_task(self.backend.run(self._on_event), name="render")
        while not self.backend.loaded and self.backend.problem is None:
            await asyncio.sleep(0.05)
        return None if self.backend.loaded else self.backend.problem

    def _on_event(self, event: RenderEvent) -> None:
        events = self._events.get(event.job_id)
        if events is not None:
            events.put_nowait(event)

    async def render(self, ctx: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """SAQ's job function: render, encode, upload; the result (MAC'd) names the clip the bot holds."""
        saq_job: SaqJob = ctx["job"]
        try:
            remote = RemoteJob.from_kwargs(self.keys, saq_job.id, kwargs)
        except Untrusted as error:
            log.warning("refused %s: %s (someone else wrote it into Redis)", saq_job.key, error)
            return {"refused": True}  # no MAC: the bot never follows such a job
        return seal_result(self.keys, saq_job.id, await self._render(saq_job, remote))

    async def _render(self, saq_job: SaqJob, remote: RemoteJob) -> dict[str, Any]:
        job = remote.job
        if job.model not in self.backend.pool:
            return {"failed": FailureKind.MODEL_MISSING.value, "detail": f"this worker has no {job.model}"}
        if (changed_input := await asyncio.to_thread(_input_changed, remote)) is not None:
            log.warning("job %d: its %s on the shared disk is not the bot's", job.job_id, changed_input)
            return {
                "failed": FailureKind.INTERNAL.value,
                "detail": f"the {changed_input} changed since it was checked",
            }
        state: dict[str, Any] = {"step": 0, "total": job.params.steps, "phase": "rendering"}
        changed, ended = asyncio.Event(), asyncio.Event()
        events: asyncio.Queue[RenderEvent] = asyncio.Queue()
        beat = asyncio.create_task(self._heartbeat(saq_job, state, changed, ended, job.job_id))
        try:
            async with self.gpu:
                self._events[job.job_id] = events
                self.backend.video = remote.video  # the bot's [video] for this clip
                await self.backend.wait_for_slot()
                self.backend.submit(job)
                try:
                    end = await self._follow(events, state, changed)
                except asyncio.CancelledError:
                    # SAQ's abort (a /cancel) or timeout: the render stops after its current step.
                    self.backend.cancel(job.job_id)
                    await asyncio.shield(self._until_end(events))
                    log.info("job %d stopped after step %d", job.job_id, state["step"])
                    raise
                if isinstance(end, Cancelled):  # the heartbeat saw the bot's cancel (or another run end)
                    log.info("job %d stopped after step %d", job.job_id, state["step"])
                    return {"cancelled": True}
                if isinstance(end, Failed):
                    if end.kind == FailureKind.INTERNAL:
                        raise RuntimeError(end.detail)  # SAQ retries it, up to the bot's max_attempts
                    log.warning("job %d failed: %s", job.job_id, end.detail)
                    return {"failed": end.kind.value, "detail": end.detail}
                path = Path(end.clip.path)
                state["phase"] = "uploading"
                changed.set()
                try:
                    uploaded = await self._upload(remote, path, saq_job)
                except NotWanted:
                    log.info("job %d: the bot no longer wants this clip", job.job_id)
                    return {"dropped": True}
                finally:
                    path.unlink(missing_ok=True)
            log.info("job %d rendered and delivered to the bot (%d bytes)", job.job_id, uploaded.size)
            return uploaded.to_result()
        finally:
            self._events.pop(job.job_id, None)
            # Told by `ended`, not only cancelled: redis-py turns a cancel that lands mid-command
            # into a connection error, which the heartbeat must survive, so a cancel alone can
            # be lost and the job would never finish.
            ended.set()
            changed.set()
            beat.cancel()
            await asyncio.wait([beat])  # its last write lands before SAQ records the end

    async def _follow(
        self, events: asyncio.Queue[RenderEvent], state: dict[str, Any], changed: asyncio.Event
    ) -> Rendered | Failed | Cancelled:
        """The backend's reports into `state` (what the heartbeat writes), until the job's end."""
        while True:
            event = await events.get()
            if isinstance(event, Progress):
                state.update(step=event.step, total=event.total)
            elif isinstance(event, Encoding):
                state["phase"] = "encoding"
            elif isinstance(event, Rendered | Failed | Cancelled):
                return event
            changed.set()

    async def _until_end(self, events: asyncio.Queue[RenderEvent]) -> None:
        while not isinstance(await events.get(), Rendered | Failed | Cancelled):
            pass

    async def _heartbeat(
        self,
        saq_job: SaqJob,
        state: dict[str, Any],
        changed: asyncio.Event,
        ended: asyncio.Event,
        job_id: int,
    ) -> None:
        """Progress to Redis as steps finish (at most every `PROGRESS_EVERY_S`, at least three
        times a heartbeat period), and the bot's cancel from Redis to the render."""
        every = max(saq_job.heartbeat / 3, PROGRESS_EVERY_S) if saq_job.heartbeat else 5.0
        queue = saq_job.get_queue()
        assert isinstance(queue, VideobotQueue)
        stopping = False
        while not ended.is_set():
            changed.clear()
            total = max(int(state["total"]), 1)
            with contextlib.suppress(*REDIS_ERRORS):
                await saq_job.update(progress=min(state["step"] / total, 1.0), meta=dict(state))
                if not stopping and (why := await queue.why_stop(saq_job)):
                    log.info("stopping %s: %s", saq_job.key, why)
                    stopping = True
                    self.backend.cancel(job_id)
            if await wait_event(ended, PROGRESS_EVERY_S):
                return
            await wait_event(changed, every)

    async def _upload_url(self, saq_job: SaqJob) -> str:
        """Where clips go: `[queue] upload_url` here, else the URL the bot registered (MAC checked)."""
        if self.own_upload_url:
            return self.own_upload_url
        queue = saq_job.get_queue()
        assert isinstance(queue, VideobotQueue)
        fields = await queue.registered()
        if fields is None:
            raise RuntimeError("the bot has not registered its upload URL in Redis")
        return registered_url(self.keys, fields).rstrip("/")

    async def _upload(self, remote: RemoteJob, path: Path, saq_job: SaqJob) -> Uploaded:
        """PUT the clip to the bot, retrying while it cannot be reached (it may be restarting)."""
        job_id = remote.job.job_id
        data = path.read_bytes()
        mine = hashlib.sha256(data).hexdigest()
        if self.session is None:
            self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120))
        deadline = time.monotonic() + self.upload_timeout_s
        pause = 0.2
        while True:
            url = f"{await self._upload_url(saq_job)}/clips/{job_id}"  # again each try: the bot may restart
            grant = UploadGrant(remote.run, job_id, max(saq_job.attempts, 1), mine, int(time.time() + 600))
            headers = {SIGNATURE_HEADER: grant.token(self.keys), "Content-Type": "video/mp4"}
            try:
                async with self.session.put(url, data=data, headers=headers) as response:
                    if response.status == 200:
                        held = Uploaded.from_result(await response.json())
                        if held is None:
                            raise RuntimeError(f"the bot at {url} answered without the clip's hash")
                        if held.sha256 != mine:
                            log.info("job %d: the bot already held a clip from another run", job_id)
                        return held
                    if response.status == 409:
                        raise NotWanted()
                    reason = f"HTTP {response.status}: {(await response.text())[:200]}"
                    if response.status < 500:
                        raise RuntimeError(f"the bot at {url} refused the clip of job {job_id} ({reason})")
            except aiohttp.ClientConnectionError as error:
                reason = str(error)
            if time.monotonic() > deadline:
                raise RuntimeError(f"could not upload the clip of job {job_id} to {url}: {reason}")
            log.warning("uploading the clip of job %d failed (%s); trying again", job_id, reason)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 10.0)

    async def close(self) -> None:
        self.backend.stop()
        if self._running is not None:
            await asyncio.wait([self._running], timeout=30)
        if self.session is not None:
            await self.session.close()


async def wait_for_bot(queue: VideobotQueue, watch: RedisWatch, secret: str, stop: asyncio.Event) -> bool:
    """Wait until the bot has registered in Redis; raise `SecretMismatch` if its secret differs."""
    said = 0.0
    while not stop.is_set():
        if await watch.up(queue):
            registered = await queue.registered()
            if registered is not None:
                try:
                    registered_url(WorkerKeys.of(secret), registered)
                except Untrusted:
                    raise SecretMismatch() from None
                return True
            if time.monotonic() - said > BOT_WAIT_LOG_S:
                log.info(
                    "waiting for the bot to start (nothing registered in Redis at %s yet)",
                    safe_url(watch.url),
                )
                said = time.monotonic()
        await wait_event(stop, 0.5)
    return False


def saq_timers(config: Config) -> dict[str, int]:
    """SAQ's timers for each of this worker's queues: sweeps, aborts, and its heartbeat (half the
    bot's `[queue] heartbeat_s`, so the bot never sees a live worker as gone)."""
    heartbeat = max(1, round(config.queue.heartbeat_s / 2))
    return {"sweep": max(1, round(config.queue.sweep_s)), "abort": 1, "worker_info": heartbeat}


def writer_worker(
    config: Config, queue: VideobotQueue, watch: RedisWatch, rewrites: Rewrites, name: str
) -> VideobotWorker:
    """The SAQ worker that runs the bot's prompt rewrites (`bot.dispatch.rewrites`), one at a time."""
    return VideobotWorker(
        queue,
        watch,
        functions=[(REWRITE_FUNCTION, rewrites.rewrite)],
        id=f"{name}:writer",
        concurrency=1,
        dequeue_timeout=1.0,
        timers=saq_timers(config),
        metadata={"models": [], "name": name, "writer": config.enhance.model},
    )


def worker_id(config: Config) -> str:
    return config.worker.name or f"{socket.gethostname()}-{os.getpid()}"


async def run_worker(config: Config) -> int:
    """`videobot worker` until SIGINT/SIGTERM; returns the exit status."""
    secret = config.secrets.worker_secret
    if not secret:
        log.error("%s is not set: set it to the same value as on the bot", WORKER_SECRET_ENV)
        return 2
    logging.getLogger("saq").addFilter(QuietRedisErrors())
    stop = asyncio.Event()
    stop_on_signals(stop)
    name = worker_id(config)
    watch = RedisWatch(config.queue.redis_url)
    queues = {
        model: VideobotQueue.at(config.queue.redis_url, queue_name(model)) for model in config.worker_models
    }
    first = next(iter(queues.values()))
    try:
        if not await wait_for_bot(first, watch, secret, stop):
            return 0
    except SecretMismatch:
        log.error(
            "refused: the bot registered in Redis at %s uses another %s; this worker takes no jobs",
            safe_url(config.queue.redis_url),
            WORKER_SECRET_ENV,
        )
        return 2
    clips = Path(tempfile.mkdtemp(prefix="videobot-worker-"))
    renders = Renders(config, secret, clips)
    problem = await renders.start()
    if problem is not None:
        log.error("%s", problem)
        await renders.close()
        return 2
    rewrites = Rewrites(config.enhance, secret) if config.enhance.mode != "off" else None
    workers = [
        VideobotWorker(
            queue,
            watch,
            functions=[(RENDER_FUNCTION, renders.render)],
            id=name if len(queues) == 1 else f"{name}:{model}",
            concurrency=1,
            dequeue_timeout=1.0,
            timers=saq_timers(config),
            metadata={"models": list(queues), "name": name},
        )
        for model, queue in queues.items()
    ]
    if rewrites is not None:  # its own queue and slot: a rewrite never waits behind a render
        queues[WRITER_QUEUE] = VideobotQueue.at(config.queue.redis_url, WRITER_QUEUE)
        workers.append(writer_worker(config, queues[WRITER_QUEUE], watch, rewrites, name))
    redis_at = safe_url(config.queue.redis_url)
    log.info("worker %s serving %s from Redis at %s", name, ", ".join(queues), redis_at)
    tasks = [asyncio.create_task(worker.start(), name=f"saq-{i}") for i, worker in enumerate(workers)]
    waiter = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
        for worker in workers:
            await worker.stop()
        await asyncio.gather(*tasks, return_exceptions=True)
        await renders.close()
        if rewrites is not None:
            rewrites.close()
        shutil.rmtree(clips, ignore_errors=True)
        for queue in queues.values():
            with contextlib.suppress(Exception):
                await queue.disconnect()
    return 0
