"""The scale-out render backend: jobs render on `videobot worker` processes (other GPU
machines) through SAQ on Redis.

Admission, fairness, cancelling a waiting job and the ETA stay in the bot's SQLite: the
core hands over a job only when `free_slots()` says a worker is idle (live workers minus
the jobs SAQ holds, queued or active), so SAQ only carries it to a free worker, and
retries it on another when its worker dies (heartbeat + sweep).  The bot follows its jobs
by reading their SAQ records every `poll_s`: status, `progress` and `meta` (step, phase),
which become the core's events.  Clips come back over HTTP (`uploads.ClipInbox`); the SAQ
result holds only their key, size and SHA-256, checked here before `Rendered` is reported,
once per job, whatever SAQ did twice.

Redis down: `problem` says rendering is paused, `free_slots()` is 0 (jobs wait in SQLite),
and the jobs it held are enqueued again when Redis is back with its data gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

from aiohttp import web
from redis import asyncio as aioredis
from redis.exceptions import RedisError
from saq.job import TERMINAL_STATUSES, Status
from saq.job import Job as SaqJob
from saq.queue.redis import RedisQueue

from bot.config import Config
from bot.core.ports import (
    Cancelled,
    Encoding,
    EventSink,
    Failed,
    FailureKind,
    ModelState,
    Progress,
    Rendered,
    RenderEvent,
    RenderJob,
    Started,
)
from bot.core.tasks import wait_event
from bot.core.types import Clip
from bot.dispatch.remote import (
    BOT_KEY,
    CANCEL_REASON,
    RENDER_FUNCTION,
    RemoteJob,
    Untrusted,
    Uploaded,
    WorkerKeys,
    clip_key,
    job_key,
    open_result,
    queue_name,
    registration,
)
from bot.dispatch.uploads import ClipInbox, file_digest, remove_partials
from bot.encode import probe_clip
from bot.listen import ConnectionLimits, LimitedSite
from bot.provenance import ContentCredentials

log = logging.getLogger(__name__)

RESULT_TTL_S = 24 * 3600  # finished SAQ records (a few hundred bytes each) kept this long
REDIS_ERRORS = (RedisError, OSError)
UPLOAD_RETRY_S = 5.0
ABORT_TTL_S = 60  # how long a worker can still find out that its job was cancelled


class VideobotQueue(RedisQueue):
    """SAQ's Redis queue; a swept job's dead worker is waited for 1 s, not SAQ's 5 s."""

    @classmethod
    def at(cls, url: str, name: str) -> VideobotQueue:
        # Timeouts: a Redis host that stops answering (not refusing) must not hang the bot's loop.
        # The read timeout stays above the workers' 1 s blocking dequeue.
        return cls(aioredis.from_url(url, socket_connect_timeout=5, socket_timeout=15), name=name)

    async def sweep(self, lock: int = 60, abort: float = 1.0) -> list[str]:
        return await super().sweep(lock, abort)

    async def why_stop(self, job: SaqJob) -> str | None:
        """Why a running job should stop now: the bot cancelled it, or another run of it (SAQ's
        sweep race) already finished it; None to carry on."""
        record, reason = await cast(Awaitable[list[bytes | None]], self.redis.mget(job.id, job.abort_id))
        if reason is not None and reason.decode() == CANCEL_REASON:
            return "cancelled"
        stored = self.deserialize(record) if record is not None else None
        if stored is not None and stored.status == Status.COMPLETE:
            return "finished by another run"
        return None

    async def ping(self) -> None:
        await cast(Awaitable[Any], self.redis.ping())

    async def register_bot(self, fields: dict[str, str]) -> None:
        await cast(Awaitable[Any], self.redis.hset(BOT_KEY, mapping=fields))  # type: ignore[arg-type]

    async def registered(self) -> dict[str, str] | None:
        """The bot's registration (`remote.registration`), unchecked; None if it has not registered."""
        raw = await cast(Awaitable[dict[bytes, bytes]], self.redis.hgetall(BOT_KEY))
        if not raw:
            return None
        return {k.decode(errors="replace"): v.decode(errors="replace") for k, v in raw.items()}


def clip_misfits(clip: Clip, job: RenderJob) -> str | None:
    """Why an uploaded clip cannot be this job's (checked from its headers, before anything
    decodes it): more frames, a bigger picture or a longer duration than the job asked for."""
    params = job.params
    if clip.frames < 1 or clip.frames > params.frames:
        return f"{clip.frames} frames where the job asked for {params.frames}"
    if clip.width > params.width + 16 or clip.height > params.height + 16:  # encoders pad to 16
        return f"{clip.width}x{clip.height} where the job asked for {params.width}x{params.height}"
    if clip.fps < 1 or clip.duration_s > params.frames / max(params.fps, 1) + 1:
        return (
            f"{clip.duration_s:.1f} s long where the job asked for {params.frames} frames at {params.fps} fps"
        )
    return None


def safe_url(url: str) -> str:
    """A Redis URL fit for logs: no password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


@dataclass
class Remote:
    """One job handed to SAQ, as far as the bot has seen it go."""

    job: RenderJob
    key: str
    model: str  # the configured name: which SAQ queue it goes to
    enqueued: bool = False
    started: bool = False
    encoding: bool = False
    step: int = 0
    attempts: int = 0  # SAQ executions seen for the current SAQ record
    spent: int = 0  # executions used up by earlier records (Redis lost them)
    cancel: bool = False
    abort_sent_at: float | None = None
    bad_clips: int = 0
    rounds: int = 0  # times handed to SAQ again without a clip (bounded: lying results)
    submitted_at: float = field(default_factory=time.monotonic)
    touched: int = 0  # the record's last heartbeat (the worker's clock) ...
    beat_seen_at: float = field(default_factory=time.monotonic)  # ... and when we saw it change


class SaqBackend:
    """`RenderBackend` over SAQ: the bot side of `videobot worker`."""

    def __init__(
        self, config: Config, clips_dir: Path, *, credentials: ContentCredentials | None = None
    ) -> None:
        self.config = config
        self.q = config.queue
        self.clips_dir = clips_dir
        self.models = list(config.model_settings)  # one SAQ queue each
        self.default_model = config.default_model
        self.keys = WorkerKeys.of(config.secrets.worker_secret)
        self.credentials = credentials  # clips are signed here, after the upload checks out
        self.run_id = uuid.uuid4().hex[:12]
        self.inbox = ClipInbox(
            clips_dir,
            self.keys,
            self.run_id,
            self._expects,
            max_bytes=self.q.max_upload_mb * 1_000_000,
            body_timeout_s=self.q.upload_body_s,
            max_attempts=self.q.max_attempts,
        )
        self.upload_url = config.upload_url
        self.died: str | None = None  # why the backend loop stopped on its own (healthz says 503)
        self._queues: dict[str, VideobotQueue] = {}
        self._jobs: dict[int, Remote] = {}
        self._sink: EventSink | None = None
        self._capacity: dict[str, int] = dict.fromkeys(self.models, 0)  # idle workers less their backlog
        self._workers: dict[str, int] = dict.fromkeys(self.models, 0)
        self._paused: str | None = None  # why nothing renders now: Redis away, no upload port
        self._looked = False
        self._wake = asyncio.Event()
        self._slot_changed = asyncio.Event()
        self._stopping = False

    # the port ---------------------------------------------------------------------------

    @property
    def problem(self) -> str | None:
        if self._paused is not None:
            return self._paused
        if self._looked and not self.workers():
            return (
                f"No `videobot worker` is connected to Redis at "
                f"{safe_url(self.q.redis_url)}; jobs wait in the queue until one is."
            )
        return None

    @property
    def loaded(self) -> bool:
        return self._paused is None and self.workers() > 0

    def workers(self) -> int:
        """Live workers, all models together (a worker of two models counts twice)."""
        return sum(self._workers.values())

    def free_slots(self) -> int:
        if self._stopping or self._paused is not None:
            return 0
        return sum(max(0, idle) for idle in self._capacity.values())

    def model_state(self) -> ModelState:
        """Models with an idle worker are "resident"; the others' jobs wait in SQLite."""
        resident = frozenset(name for name, idle in self._capacity.items() if idle > 0)
        return ModelState(resident=resident, unavailable=frozenset(self.models) - resident)

    def _model(self, job: RenderJob) -> str:
        """The SAQ queue for a job (the core hands over configured names)."""
        return job.model if job.model in self._capacity else self.default_model

    async def wait_for_slot(self) -> None:
        while not self.free_slots() and not self._stopping:
            self._slot_changed.clear()
            await self._slot_changed.wait()

    def submit(self, job: RenderJob) -> None:
        model = self._model(job)
        self._jobs[job.job_id] = Remote(job, job_key(job.job_id, self.run_id), model)
        self._capacity[model] -= 1  # held until the next look at Redis counts it
        self._wake.set()

    def cancel(self, job_id: int) -> None:
        remote = self._jobs.get(job_id)
        if remote is not None:
            remote.cancel = True
            self._wake.set()

    def poke(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        self._slot_changed.set()

    async def run(self, sink: EventSink) -> None:
        try:
            await self._run(sink)
        except Exception as error:
            self.died = f"the SAQ backend stopped: {type(error).__name__}: {error}"
            log.exception("the SAQ backend stopped on an error; nothing renders until a restart")
            raise

    async def _run(self, sink: EventSink) -> None:
        self._sink = sink
        if self.clips_dir.exists():
            await asyncio.to_thread(remove_partials, self.clips_dir)
        runner = web.AppRunner(
            self.inbox.app(),
            handle_signals=False,
            shutdown_timeout=2.0,
            access_log=None,
            keepalive_timeout=15,
        )
        await runner.setup()
        try:
            await self._listen(runner)
        except BaseException:
            await runner.cleanup()
            raise
        self._queues = {name: VideobotQueue.at(self.q.redis_url, queue_name(name)) for name in self.models}
        for queue in self._queues.values():
            await queue.connect()
        sweeper = asyncio.create_task(self._sweep_forever(), name="saq-sweep")
        try:
            while not self._stopping:
                try:
                    await self._look()
                except REDIS_ERRORS as error:
                    self._lost_redis(error)
                except Exception:  # a surprise in one round must not end remote rendering
                    log.exception("the SAQ backend's round failed; trying again next round")
                self._wake.clear()
                await wait_event(self._wake, self.q.poll_s)
        finally:
            sweeper.cancel()
            await self._stop_remote_jobs()
            for queue in self._queues.values():
                with contextlib.suppress(Exception):
                    await queue.disconnect()
            await runner.cleanup()

    async def _listen(self, runner: web.AppRunner) -> None:
        """Open the upload endpoint; while its port is taken, say so and try again."""
        where = f"{self.q.upload_listen}:{self.q.upload_port}"
        while not self._stopping:
            try:
                limits = ConnectionLimits(
                    per_address=self.q.max_upload_connections, lifetime_s=self.q.upload_body_s + 30
                )
                await LimitedSite(runner, self.q.upload_listen, self.q.upload_port, limits).start()
            except OSError as error:
                if self._paused is None:
                    log.error("cannot take clips from workers on %s (%s); trying again", where, error)
                self._paused = (
                    f"Rendering is paused: the bot cannot listen for clips on {where} ({error}); "
                    "set [queue] upload_listen / upload_port to a free address."
                )
                self._wake.clear()
                await wait_event(self._wake, UPLOAD_RETRY_S)
                continue
            self._paused = None
            if not self.q.upload_url and self.q.upload_port == 0:
                self.upload_url = f"http://{self.q.upload_listen}:{runner.addresses[0][1]}"
            log.info("taking clips from workers at %s", self.upload_url)
            return

    # following the jobs -------------------------------------------------------------------

    def _emit(self, event: RenderEvent) -> None:
        assert self._sink is not None
        self._sink(event)

    def _drop(self, remote: Remote, event: RenderEvent) -> None:
        """The job's last word: reported once, and no longer followed."""
        self.inbox.accepted.pop(remote.job.job_id, None)
        if self._jobs.pop(remote.job.job_id, None) is not None:
            self._emit(event)
        self._slot_changed.set()

    def _expects(self, job_id: int) -> bool:
        remote = self._jobs.get(job_id)
        return remote is not None and not remote.cancel

    async def _look(self) -> None:
        """One round: enqueue, abort, read every job's record, count idle workers."""
        first = self._queues[self.models[0]]
        await first.register_bot(registration(self.keys, self.run_id, self.upload_url))
        if self._paused is not None:
            log.warning("Redis at %s is reachable again: rendering resumes", safe_url(self.q.redis_url))
            self._paused = None
        if not self._looked:
            await self._abort_earlier_runs()
        for remote in list(self._jobs.values()):
            if self._out_of_time(remote):
                continue
            if remote.cancel and not remote.enqueued:
                self._drop(remote, Cancelled(remote.job.job_id))
            elif not remote.enqueued:
                await self._enqueue(remote)
            elif remote.cancel and remote.abort_sent_at is None:
                queue = self._queues[remote.model]
                record = await queue.job(remote.key)
                if record is not None and record.status not in TERMINAL_STATUSES:
                    await queue.abort(record, CANCEL_REASON, ttl=ABORT_TTL_S)
                remote.abort_sent_at = time.monotonic()
        for name, queue in self._queues.items():
            followed = [remote for remote in self._jobs.values() if remote.enqueued and remote.model == name]
            if followed:
                for remote, record in zip(followed, await queue.jobs(r.key for r in followed), strict=True):
                    try:
                        await self._follow(remote, record)
                    except REDIS_ERRORS:
                        raise
                    except Exception as error:  # untrusted input from Redis or a worker: this job only
                        self._bad_result(remote, f"{type(error).__name__}: {error}")
            info = await queue.info()
            waiting = sum(1 for r in self._jobs.values() if not r.enqueued and r.model == name)
            self._workers[name] = len(info["workers"])
            self._capacity[name] = len(info["workers"]) - info["active"] - info["queued"] - waiting
        self._looked = True
        if self.free_slots():
            self._slot_changed.set()

    async def _abort_earlier_runs(self) -> None:
        """Jobs a crashed run of the bot left in Redis: nobody waits for them any more (this run
        requeued them in SQLite and hands them out under its own keys)."""
        for queue in self._queues.values():
            async for record in queue.iter_jobs([Status.QUEUED, Status.ACTIVE]):
                if not record.key.endswith(f"-{self.run_id}"):
                    log.info("stopping %s, left in Redis by an earlier run of the bot", record.key)
                    await queue.abort(record, "the bot restarted")

    def _lost_redis(self, error: BaseException) -> None:
        if self._paused is None:
            log.warning(
                "Redis at %s cannot be reached (%s): rendering is paused; jobs wait in the queue",
                safe_url(self.q.redis_url),
                error,
            )
        self._paused = (
            f"Rendering is paused: Redis at {safe_url(self.q.redis_url)} cannot be reached ({error}). "
            "Jobs wait in the queue and render once it is back."
        )
        self._workers = dict.fromkeys(self.models, 0)
        self._capacity = dict.fromkeys(self.models, 0)

    async def _enqueue(self, remote: Remote) -> None:
        """Hand a job to SAQ, or take up the record already there (same key: same job)."""
        queue = self._queues[remote.model]
        existing = await queue.job(remote.key)
        if existing is not None and existing.status in (Status.QUEUED, Status.ACTIVE):
            remote.enqueued = True  # SAQ retried it, or it survived a bot restart: follow it
            return
        if (
            existing is not None
            and existing.status == Status.COMPLETE
            and not remote.bad_clips
            and self._clip_named(remote, existing)
        ):
            remote.enqueued = True  # finished while we looked away: its clip may be here
            await self._follow(remote, existing)
            return
        if remote.rounds >= self.config.queue.max_attempts + 2:
            self._drop(
                remote, Failed(remote.job.job_id, FailureKind.INTERNAL, "the workers never sent its clip")
            )
            return
        remote.rounds += 1
        sealed = RemoteJob(replace(remote.job, model=remote.model), self.run_id, self.config.video)
        job = SaqJob(
            function=RENDER_FUNCTION,
            kwargs=sealed.to_kwargs(self.keys, queue.job_id(remote.key)),
            key=remote.key,
            timeout=self.q.job_timeout_s,
            heartbeat=math.ceil(self.q.heartbeat_s),
            retries=max(1, self.config.queue.max_attempts - remote.spent - remote.attempts),
            ttl=RESULT_TTL_S,
        )
        if await queue.enqueue(job) is not None:
            remote.spent += remote.attempts  # a new record counts its executions from 0
            remote.enqueued, remote.attempts = True, 0
        # else: an old record of this key is still being aborted; try again next round

    async def _follow(self, remote: Remote, record: SaqJob | None) -> None:
        job_id = remote.job.job_id
        if record is None:
            # Redis restarted without its data (or the record expired): enqueue it again.
            log.warning("job %d vanished from Redis; handing it to the workers again", job_id)
            self._lost_record(remote)
            return
        if record.touched != remote.touched:  # its worker's heartbeat, timed by our clock
            remote.touched, remote.beat_seen_at = record.touched, time.monotonic()
        if record.attempts > remote.attempts:
            if remote.attempts:
                log.warning(
                    "job %d: attempt %d, on worker %s (the last one stopped answering)",
                    job_id,
                    remote.spent + record.attempts,
                    record.worker_id,
                )
            remote.attempts = record.attempts
        status = record.status
        silent = time.monotonic() - remote.beat_seen_at
        if status == Status.ACTIVE and silent > 3 * self.q.heartbeat_s + self.q.sweep_s + 5:
            # SAQ's sweep sees only its "active" list; a record Redis lost track of (a restart
            # mid-job) would wait forever.
            log.warning("job %d: no word from its worker for %.0f s; handing it out again", job_id, silent)
            await self._queues[remote.model].abort(record, "lost", ttl=1)
            self._lost_record(remote)
            return
        if status == Status.ACTIVE:
            sent = remote.abort_sent_at
            if remote.cancel and sent is not None and time.monotonic() - sent > 1 + 2 * self.q.poll_s:
                remote.abort_sent_at = None  # a heartbeat overwrote the abort: ask again
            if not remote.started:
                remote.started = True
                self._emit(Started(job_id))
            meta = record.meta if isinstance(record.meta, dict) else {}
            total = remote.job.params.steps  # meta is untrusted: only a step within the job counts
            step = meta.get("step", 0)
            step = step if isinstance(step, int) and not isinstance(step, bool) and 0 <= step <= total else 0
            if step > remote.step:
                remote.step = step
                self._emit(Progress(job_id, step, total))
            if meta.get("phase") in ("encoding", "uploading") and not remote.encoding:
                remote.encoding = True
                self._emit(Encoding(job_id))
        elif status == Status.COMPLETE:
            await self._complete(remote, record)
        elif status == Status.ABORTED and remote.cancel:
            self._drop(remote, Cancelled(job_id))
        elif status == Status.ABORTING and remote.cancel:
            # Its worker confirms after the current step; a dead worker never does (nor beats).
            if time.monotonic() - remote.beat_seen_at > 2 * self.q.heartbeat_s + 1:
                self._drop(remote, Cancelled(job_id))
        elif status in (Status.FAILED, Status.ABORTED):
            if remote.spent + record.attempts < self.config.queue.max_attempts:
                self._lost_record(remote)  # SAQ may be between giving up and retrying (a sweep race)
            else:
                last_line = (record.error or "").strip().splitlines()[-1:]
                detail = f"{status.value}: {' '.join(last_line)}"
                self._drop(remote, Failed(job_id, FailureKind.INTERNAL, detail))

    def _lost_record(self, remote: Remote) -> None:
        """Look for the job's record again next round: take it up, or enqueue it anew."""
        remote.enqueued, remote.started, remote.step = False, False, 0

    def _clip_named(self, remote: Remote, record: SaqJob) -> bool:
        """Whether a finished record carries an authentic result naming this job's clip."""
        try:
            result = open_result(self.keys, record.id, record.result)
        except Untrusted:
            return False
        uploaded = Uploaded.from_result(result)
        return uploaded is not None and uploaded.key == clip_key(remote.job.job_id, self.run_id)

    def _out_of_time(self, remote: Remote) -> bool:
        """Every path is bounded in time: a job the workers hold past its limit fails."""
        q = self.q
        limit = (q.job_timeout_s or 24 * 3600) * q.max_attempts + q.upload_timeout_s + 3 * q.heartbeat_s
        if time.monotonic() - remote.submitted_at <= limit:
            return False
        log.warning("job %d: no clip after %.0f s on the workers; giving up", remote.job.job_id, limit)
        self._drop(remote, Failed(remote.job.job_id, FailureKind.INTERNAL, "no clip in time"))
        return True

    def _bad_result(self, remote: Remote, why: str) -> None:
        """A result, meta or upload that cannot be used: this job tries again, a bounded number of times."""
        job_id = remote.job.job_id
        remote.bad_clips += 1
        log.warning("job %d: unusable word from its worker (%s)", job_id, why[:300])
        (self.clips_dir / clip_key(job_id, self.run_id)).unlink(missing_ok=True)
        self.inbox.accepted.pop(job_id, None)
        if remote.bad_clips >= self.config.queue.max_attempts:
            self._drop(
                remote, Failed(job_id, FailureKind.INTERNAL, f"the workers' results did not verify: {why}")
            )
        else:
            self._lost_record(remote)

    async def _complete(self, remote: Remote, record: SaqJob) -> None:
        job_id = remote.job.job_id
        try:
            result = open_result(self.keys, record.id, record.result)
        except Untrusted as error:
            # A second run of the job (SAQ's sweep race) can overwrite the record without the result;
            # what the inbox took from the first upload stands in for it.
            if job_id not in self.inbox.accepted:
                self._bad_result(remote, str(error))
                return
            result = {}
        if "failed" in result:
            try:
                kind = FailureKind(result["failed"])
            except ValueError:  # a newer worker's failure kind: still this job's failure only
                kind = FailureKind.INTERNAL
            self._drop(remote, Failed(job_id, kind, str(result.get("detail", ""))[:500]))
            return
        if result.get("cancelled") and remote.cancel:
            self._drop(remote, Cancelled(job_id))
            return
        uploaded = Uploaded.from_result(result) or self.inbox.accepted.get(job_id)
        if uploaded is None or uploaded.key != clip_key(job_id, self.run_id):
            self._lost_record(remote)  # it was not uploaded (told it was no longer wanted): again, bounded
            return
        path = self.clips_dir / uploaded.key
        held = await asyncio.to_thread(file_digest, path) if path.exists() else None
        if held is None or (held.size, held.sha256) != (uploaded.size, uploaded.sha256):
            self._bad_result(remote, f"the clip held does not match what the worker reported ({held})")
            return
        try:
            clip = await asyncio.to_thread(probe_clip, path)
        except Exception as error:  # not an MP4 at all
            self._bad_result(remote, f"the upload is not a readable clip ({type(error).__name__})")
            return
        if (why := clip_misfits(clip, remote.job)) is not None:
            self._bad_result(remote, why)
            return
        clip = await asyncio.to_thread(self._signed, path, remote.job)
        if remote.started and not remote.encoding:
            self._emit(Encoding(job_id))
        self._drop(remote, Rendered(job_id, clip))

    def _signed(self, path: Path, job: RenderJob) -> Clip:
        """Content Credentials go on at the bot (workers need no signing key), naming the identity
        the job carried, as the worker's tags do (blocking)."""
        if self.credentials is not None:
            self.credentials.sign(path, self.credentials.record(job.params, job.identity))
        return probe_clip(path)

    async def _sweep_forever(self) -> None:
        """Lost jobs (a worker killed mid-render) back in SAQ's queue, even with every worker gone."""
        lock = max(1, round(self.q.sweep_s))
        while True:
            await asyncio.sleep(self.q.sweep_s)
            if self._paused is not None:
                continue
            for queue in list(self._queues.values()):
                with contextlib.suppress(*REDIS_ERRORS):
                    await queue.sweep(lock)

    async def _stop_remote_jobs(self) -> None:
        """Stopping: remote jobs are aborted (they stop after their step) and go back in line."""
        for remote in list(self._jobs.values()):
            queue = self._queues.get(remote.model)
            if remote.enqueued and queue is not None and self._paused is None:
                with contextlib.suppress(*REDIS_ERRORS, TimeoutError):
                    record = await asyncio.wait_for(queue.job(remote.key), 2)
                    if record is not None and record.status in (Status.QUEUED, Status.ACTIVE):
                        await asyncio.wait_for(queue.abort(record, "the bot is stopping"), 2)
            self._drop(remote, Cancelled(remote.job.job_id))
