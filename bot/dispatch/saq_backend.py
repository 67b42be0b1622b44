"""The scale-out render backend: jobs render on `videobot worker` processes (other GPU
machines) through SAQ on Redis.

Admission, fairness, cancelling a waiting job and the ETA stay in the bot's SQLite: the
core hands over a job only when `free_slots()` says a worker is idle (live workers minus
the jobs SAQ holds, queued or active), so SAQ only carries it to a free worker, and
retries it on another when its worker dies (heartbeat + sweep).  The bot follows its jobs
by reading their SAQ records every `poll_s`: status, `progress` and `meta` (step, phase),
which become the core's events.  Clips come back over HTTP (`uploads.ClipInbox`); the SAQ
result holds only their key, size and SHA-256, checked (`saq_results`) before `Rendered` is reported,
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
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from saq.job import TERMINAL_STATUSES, Status
from saq.job import Job as SaqJob

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
from bot.dispatch.remote import (
    CANCEL_REASON,
    RENDER_FUNCTION,
    RemoteJob,
    WorkerKeys,
    clip_key,
    job_key,
    queue_name,
    registration,
)
from bot.dispatch.saq_queue import REDIS_ERRORS, VideobotQueue, abort_earlier_runs, safe_url, sweep_forever
from bot.dispatch.saq_results import ResultCheck, Unusable
from bot.dispatch.upload_port import UploadPort
from bot.dispatch.uploads import ClipInbox, file_digest, remove_partials
from bot.provenance import ContentCredentials
from bot.settings.root import Config

log = logging.getLogger(__name__)

RESULT_TTL_S = 24 * 3600  # finished SAQ records (a few hundred bytes each) kept this long
MAX_POST_FRAMES = 100_000  # a post step's progress counts frames, never more than this
ABORT_TTL_S = 60  # how long a worker can still find out that its job was cancelled


def _not_running(event: RenderEvent) -> None:
    raise RuntimeError(f"the SAQ backend reported {event!r} before it ran")


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


def _total(job: RenderJob, meta: dict[str, Any]) -> int:
    """The steps a job's progress counts: a render's steps, a post step's frames (as its worker
    says, bounded)."""
    total = meta.get("total")
    if job.params.post is None or not isinstance(total, int) or isinstance(total, bool):
        return job.params.steps
    return min(max(total, 1), MAX_POST_FRAMES)


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
        inbox = ClipInbox(
            clips_dir,
            self.keys,
            self.run_id,
            self._expects,
            max_bytes=self.q.max_upload_mb * 1_000_000,
            body_timeout_s=self.q.upload_body_s,
            max_attempts=self.q.max_attempts,
        )
        self.inbox = inbox
        self.uploads = UploadPort(self.q, inbox, config.upload_url)
        self.results = ResultCheck(self.keys, self.run_id, clips_dir, inbox, credentials)
        self.upload_url = config.upload_url
        self._queues: dict[str, VideobotQueue] = {}
        self._jobs: dict[int, Remote] = {}
        self._sink: EventSink = _not_running
        self._capacity: dict[str, int] = dict.fromkeys(self.models, 0)  # idle workers less their backlog
        self._workers: dict[str, int] = dict.fromkeys(self.models, 0)
        self._paused: str | None = None  # why nothing renders now: Redis away
        self._looked = False
        self._wake = asyncio.Event()
        self._slot_changed = asyncio.Event()
        self._stopping = False

    # the port ---------------------------------------------------------------------------

    @property
    def problem(self) -> str | None:
        if self.uploads.problem is not None:
            return self.uploads.problem
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
        return self._paused is None and self.uploads.problem is None and self.workers() > 0

    def workers(self) -> int:
        """Live workers, all models together (a worker of two models counts twice)."""
        return sum(self._workers.values())

    def free_slots(self) -> int:
        if self._stopping or self._paused is not None or self.uploads.problem is not None:
            return 0
        return sum(max(0, idle) for idle in self._capacity.values())

    def model_state(self) -> ModelState:
        """Models with an idle worker are "resident"; the others' jobs wait in SQLite."""
        resident = frozenset(name for name, idle in self._capacity.items() if idle > 0)
        return ModelState(resident=resident, unavailable=frozenset(self.models) - resident)

    def warmth(self) -> dict[str, dict[str, float | None]]:
        """Models load on the workers, not here: nothing to say."""
        return {}

    async def wait_for_slot(self) -> None:
        while not self.free_slots() and not self._stopping:
            self._slot_changed.clear()
            await self._slot_changed.wait()

    def submit(self, job: RenderJob) -> None:
        model = job.model if job.model in self._capacity else self.default_model  # configured names
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
        except Exception:
            log.exception("the SAQ backend stopped on an error; nothing renders until a restart")
            raise

    async def _run(self, sink: EventSink) -> None:
        self._sink = sink
        if self.clips_dir.exists():
            await asyncio.to_thread(remove_partials, self.clips_dir)
        await self.uploads.open(self._wake, lambda: self._stopping)
        self.upload_url = self.uploads.url
        self._queues = {name: VideobotQueue.at(self.q.redis_url, queue_name(name)) for name in self.models}
        for queue in self._queues.values():
            await queue.connect()
        sweeper = asyncio.create_task(
            sweep_forever(lambda: self._queues, self.q.sweep_s, lambda: self._paused is not None),
            name="saq-sweep",
        )
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
            await self.uploads.close()

    # following the jobs -------------------------------------------------------------------

    def _drop(self, remote: Remote, event: RenderEvent) -> None:
        """The job's last word: reported once, and no longer followed."""
        self.inbox.accepted.pop(remote.job.job_id, None)
        if self._jobs.pop(remote.job.job_id, None) is not None:
            self._sink(event)
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
            await abort_earlier_runs(self._queues, self.run_id)
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
            and self.results.names_clip(remote.job.job_id, existing)
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
        post = remote.job.params.post  # the worker reads the parent clip only if it is the bot's
        try:
            parent = await asyncio.to_thread(file_digest, Path(post.clip_path)) if post is not None else None
        except OSError as error:  # not Redis's: this job only
            gone = Failed(remote.job.job_id, FailureKind.INTERNAL, f"its parent clip is gone: {error}")
            self._drop(remote, gone)
            return
        sha256 = parent.sha256 if parent is not None else ""
        sealed = RemoteJob(replace(remote.job, model=remote.model), self.run_id, self.config.video, sha256)
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
                self._sink(Started(job_id))
            meta = record.meta if isinstance(record.meta, dict) else {}
            total = _total(remote.job, meta)  # meta is untrusted: only a step within the job counts
            step = meta.get("step", 0)
            step = step if isinstance(step, int) and not isinstance(step, bool) and 0 <= step <= total else 0
            if step > remote.step:
                remote.step = step
                self._sink(Progress(job_id, step, total))
            if meta.get("phase") in ("encoding", "uploading") and not remote.encoding:
                remote.encoding = True
                self._sink(Encoding(job_id))
        elif status == Status.COMPLETE:
            outcome = await self.results.outcome(remote.job, record, cancelling=remote.cancel)
            if isinstance(outcome, Unusable):
                self._bad_result(remote, outcome.why)
            elif outcome is None:
                self._lost_record(remote)  # not uploaded (told it was no longer wanted): again, bounded
            else:
                if isinstance(outcome, Rendered) and remote.started and not remote.encoding:
                    self._sink(Encoding(job_id))
                self._drop(remote, outcome)
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


__all__ = ["REDIS_ERRORS", "SaqBackend", "VideobotQueue", "safe_url"]
