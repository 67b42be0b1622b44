"""`videobot worker`: render the bot's jobs on this machine's GPU, taken from SAQ on Redis.

One job at a time (the GPU's), from one SAQ queue per model in `[worker] models`.  Before
joining, the worker waits for the bot to register in Redis and checks that both hold the
same `VIDEOBOT_WORKER_SECRET` (a worker with another secret says so in one line and
exits).  A job renders with the same code as the bot's own backend (`clips.render_clip`),
reports its step through `job.update(progress=…, meta=…)` (also SAQ's heartbeat), and
PUTs its MP4 to the bot; the result it returns holds only the clip's key, size and hash.
SAQ's abort (a `/cancel`) cancels the job's task, which turns into the step callback's
stop: the render ends after its current step.  Redis going away pauses the worker, which
reconnects on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import signal
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp
from saq.job import Job as SaqJob
from saq.worker import Worker

from bot.config import WORKER_SECRET_ENV, Config
from bot.core.ports import FailureKind
from bot.dispatch.clips import failure_kind, render_clip
from bot.dispatch.remote import (
    RENDER_FUNCTION,
    SIGNATURE_HEADER,
    RemoteJob,
    Uploaded,
    clip_key,
    queue_name,
    secret_check,
    upload_signature,
)
from bot.dispatch.saq_backend import REDIS_ERRORS, VideobotQueue, safe_url
from bot.render import ModelMissing, RenderCancelled, Renderer

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


class Renders:
    """The job function and what it needs: the loaded models, the GPU lock, the secret."""

    def __init__(self, renderers: dict[str, Renderer], secret: str, config: Config) -> None:
        self.renderers = renderers
        self.secret = secret
        self.upload_timeout_s = config.queue.upload_timeout_s
        self.gpu = asyncio.Lock()  # one job at a time, whichever model's queue it came from
        self.session: aiohttp.ClientSession | None = None

    async def render(self, ctx: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """SAQ's job function: render, encode, upload; the result names the clip the bot holds."""
        saq_job: SaqJob = ctx["job"]
        remote = RemoteJob.from_kwargs(kwargs)
        job = remote.job
        renderer = self.renderers.get(job.model)
        if renderer is None:
            return {"failed": FailureKind.MODEL_MISSING.value, "detail": f"this worker has no {job.model}"}
        state: dict[str, Any] = {"step": 0, "total": job.params.steps, "phase": "rendering"}
        changed = asyncio.Event()
        loop = asyncio.get_running_loop()

        def report(step: int, total: int) -> None:
            state.update(step=step, total=total)
            changed.set()

        def on_step(step: int, total: int) -> None:
            loop.call_soon_threadsafe(report, step, total)

        def encoding() -> None:
            state["phase"] = "encoding"
            changed.set()

        def on_encoding() -> None:
            loop.call_soon_threadsafe(encoding)

        stop = threading.Event()
        beat = asyncio.create_task(self._heartbeat(saq_job, state, changed, stop))
        try:
            async with self.gpu:
                with tempfile.TemporaryDirectory(prefix="videobot-worker-") as folder:
                    path = Path(folder) / clip_key(job.job_id)
                    rendering = asyncio.ensure_future(
                        asyncio.to_thread(
                            render_clip,
                            renderer,
                            job,
                            path,
                            video=remote.video,
                            credentials=None,  # the bot signs what it receives
                            on_step=on_step,
                            should_stop=stop.is_set,
                            on_encoding=on_encoding,
                        )
                    )
                    try:
                        await asyncio.shield(rendering)
                    except asyncio.CancelledError:
                        # SAQ's abort (a /cancel) or timeout: the thread stops after this step.
                        stop.set()
                        with contextlib.suppress(Exception):
                            await rendering
                        log.info("job %d stopped after step %d", job.job_id, state["step"])
                        raise
                    except RenderCancelled:  # the heartbeat saw the bot's cancel (or another run end)
                        log.info("job %d stopped after step %d", job.job_id, state["step"])
                        return {"cancelled": True}
                    except Exception as error:
                        kind = failure_kind(error)
                        if kind == FailureKind.INTERNAL:
                            raise  # SAQ retries it, up to the bot's [queue] max_attempts
                        log.warning("job %d failed: %s", job.job_id, error)
                        return {"failed": kind.value, "detail": str(error)}
                    state["phase"] = "uploading"
                    changed.set()
                    try:
                        uploaded = await self._upload(remote, path)
                    except NotWanted:
                        log.info("job %d: the bot no longer wants this clip", job.job_id)
                        return {"dropped": True}
            log.info("job %d rendered and delivered to the bot (%d bytes)", job.job_id, uploaded.size)
            return uploaded.to_result()
        finally:
            beat.cancel()
            await asyncio.wait([beat])  # its last write lands before SAQ records the end

    async def _heartbeat(
        self, saq_job: SaqJob, state: dict[str, Any], changed: asyncio.Event, stop: threading.Event
    ) -> None:
        """Progress to Redis as steps finish (at most every `PROGRESS_EVERY_S`, at least three
        times a heartbeat period), and the bot's cancel from Redis to the render."""
        every = max(saq_job.heartbeat / 3, PROGRESS_EVERY_S) if saq_job.heartbeat else 5.0
        queue = saq_job.get_queue()
        assert isinstance(queue, VideobotQueue)
        while True:
            changed.clear()
            total = max(int(state["total"]), 1)
            with contextlib.suppress(*REDIS_ERRORS):
                await saq_job.update(progress=min(state["step"] / total, 1.0), meta=dict(state))
                if not stop.is_set() and (why := await queue.why_stop(saq_job)):
                    log.info("stopping %s: %s", saq_job.key, why)
                    stop.set()
            await asyncio.sleep(PROGRESS_EVERY_S)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), every)

    async def _upload(self, remote: RemoteJob, path: Path) -> Uploaded:
        """PUT the clip to the bot, retrying while it cannot be reached (it may be restarting)."""
        job_id = remote.job.job_id
        data = path.read_bytes()
        mine = hashlib.sha256(data).hexdigest()
        url = f"{remote.upload_url}/clips/{job_id}"
        headers = {SIGNATURE_HEADER: upload_signature(self.secret, job_id), "Content-Type": "video/mp4"}
        if self.session is None:
            self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120))
        deadline = time.monotonic() + self.upload_timeout_s
        pause = 0.2
        while True:
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
        if self.session is not None:
            await self.session.close()


async def wait_for_bot(queue: VideobotQueue, watch: RedisWatch, secret: str, stop: asyncio.Event) -> bool:
    """Wait until the bot has registered in Redis; raise `SecretMismatch` if its secret differs."""
    said = 0.0
    while not stop.is_set():
        if await watch.up(queue):
            registered = await queue.registered_check()
            if registered is not None:
                if registered != secret_check(secret):
                    raise SecretMismatch()
                return True
            if time.monotonic() - said > BOT_WAIT_LOG_S:
                log.info(
                    "waiting for the bot to start (nothing registered in Redis at %s yet)",
                    safe_url(watch.url),
                )
                said = time.monotonic()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)
    return False


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
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
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
    renderers = {
        model: Renderer(
            model,
            device=config.model.device,
            cpu_offload=config.model.cpu_offload,
            cpu_threads=config.model.cpu_threads,
        )
        for model in queues
    }
    for renderer in renderers.values():
        try:
            await asyncio.to_thread(renderer.load)
        except ModelMissing as missing:
            log.error("%s", missing)
            return 2
    renders = Renders(renderers, secret, config)
    heartbeat = max(1, round(config.queue.heartbeat_s / 2))
    workers = [
        VideobotWorker(
            queue,
            watch,
            functions=[(RENDER_FUNCTION, renders.render)],
            id=name if len(queues) == 1 else f"{name}:{model}",
            concurrency=1,
            dequeue_timeout=1.0,
            timers={"sweep": max(1, round(config.queue.sweep_s)), "abort": 1, "worker_info": heartbeat},
            metadata={"models": list(queues), "name": name},
        )
        for model, queue in queues.items()
    ]
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
        for queue in queues.values():
            with contextlib.suppress(Exception):
                await queue.disconnect()
    return 0
