"""The core: every command and the render worker, written once for every platform.

Adapters turn platform events into calls here (`video`, `cancel`, `queue`, `quota`,
`info`, `help`, `button`) and implement `Outbox` so the core can answer.  Message refs
are opaque strings the adapter made; the core stores them and hands them back, which is
how a reply reaches the right message after a restart.  The core never imports
discord or telegram.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ParamSpec, Protocol, TypeVar

from bot import __version__
from bot.config import Config
from bot.core import messages
from bot.core.admin import AdminTools
from bot.core.challenges import Challenges
from bot.core.moderation import PromptPolicy
from bot.core.parsing import (
    CommandError,
    VideoArgs,
    clean_text,
    parse_job_id,
    parse_video_text,
    validate_video,
)
from bot.core.queue import JobQueue, QueueClosed
from bot.core.quota import charge_for, daily_limit, quota_day, seconds_until_reset
from bot.core.types import Button, Challenge, ChatRef, Clip, Job, JobStatus, Request, Undeliverable, UserRef
from bot.encode import TooLarge, encode_mp4, fit_to_size, provenance_for
from bot.render import ModelMissing, OutOfMemory, RenderCancelled, Renderer
from bot.store import QuotaExceeded, Store

log = logging.getLogger(__name__)

BUTTON_ACTIONS = ("reroll", "variation", "info", "delete")
DELIVERY_TRIES = 3
REDELIVER_EVERY_S = 30.0
MODEL_RETRY_S = 60.0


class Outbox(Protocol):
    """What an adapter does for the core.  Refs are the adapter's own message ids."""

    def upload_limit(self, chat: ChatRef) -> int: ...

    async def send_text(
        self,
        chat: ChatRef,
        text: str,
        *,
        reply_to: str | None = None,
        private: bool = False,
        user: UserRef | None = None,
    ) -> str | None: ...

    async def edit_text(self, chat: ChatRef, message: str, text: str) -> bool | None:
        """Edit a message; False when it can no longer be edited (a Discord token past 15 min)."""
        ...

    async def send_video(
        self,
        chat: ChatRef,
        clip: Clip,
        *,
        caption: str,
        buttons: Sequence[Button],
        reply_to: str | None,
        user: UserRef,
        status_message: str | None,
    ) -> str: ...

    async def delete(self, chat: ChatRef, message: str) -> None: ...

    async def show_activity(self, chat: ChatRef) -> None: ...

    async def edit_buttons(self, chat: ChatRef, message: str, buttons: Sequence[Button]) -> None: ...

    async def open_thread(self, chat: ChatRef, message: str, name: str) -> ChatRef | None:
        """A thread for a challenge's entries under `message`, where the platform has them."""
        ...


P = ParamSpec("P")
R = TypeVar("R")


def answers_errors(
    method: Callable[..., Awaitable[R]],
) -> Callable[..., Awaitable[R | None]]:
    """Turn bad input into its sentence and surprises into an apology, never a traceback."""

    @functools.wraps(method)
    async def wrapper(self: VideoService, req: Request, *args: Any, **kwargs: Any) -> R | None:
        try:
            return await method(self, req, *args, **kwargs)
        except CommandError as error:
            await self.reply(req, messages.text(error.key, req.user.locale, **error.values), private=True)
        except Exception:
            log.exception("command %s from %s failed", method.__name__, req.user.key)
            await self.reply(req, messages.text("internal_error", req.user.locale), private=True)
        return None

    return wrapper


@dataclass
class _Running:
    job: Job
    cancel: threading.Event
    step: int = 0


class VideoService:
    """Platform-neutral bot: admission, quota, queue, render, encode, delivery."""

    def __init__(
        self,
        config: Config,
        store: Store,
        renderer: Renderer,
        *,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.renderer = renderer
        self.clock = clock
        self.rng = rng or random.Random()
        self.queue = JobQueue(store, clock)
        self.outboxes: dict[str, Outbox] = {}
        self.clips_dir = config.data_dir / "clips"
        self.running: _Running | None = None
        self.model_error: str | None = None
        self._stopping = False
        self._progress = _ProgressThrottle(self)
        self._delivering: set[int] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.job_finished = asyncio.Event()
        self._untold_failures: list[Job] = []
        self.policy = PromptPolicy(
            config.policy.blocked_words, config.policy.blocked_patterns, config.policy.protected_names
        )
        self.admin_tools = AdminTools(store, config, clock)
        self.challenges = Challenges(self)

    def add_outbox(self, platform: str, outbox: Outbox) -> None:
        self.outboxes[platform] = outbox

    def is_owner(self, req: Request) -> bool:
        """The bot's owners from config: admins in every chat."""
        return req.user.key in self.config.admin.owners

    def is_admin(self, req: Request) -> bool:
        """An admin of the chat `req` comes from: platform admins, admin roles, owners."""
        a = self.config.admin
        return req.is_admin or self.is_owner(req) or bool(set(req.roles) & set(a.admin_roles))

    def may_moderate(self, req: Request, job: Job) -> bool:
        """Owners anywhere; a chat's admins only for jobs in their chat."""
        return self.is_owner(req) or (self.is_admin(req) and job.chat.key == req.chat.key)

    @answers_errors
    async def challenge(self, req: Request, argument: str) -> None:
        """`/challenge start|enter|status|end|cancel …`."""
        await self.challenges.command(req, argument)

    @answers_errors
    async def leaderboard(self, req: Request) -> None:
        await self.challenges.leaderboard(req)

    @answers_errors
    async def admin(self, req: Request, argument: str, mentioned: UserRef | None = None) -> None:
        """`/admin …`: refused to non-admins in plain words; everything else in `AdminTools`."""
        if not self.is_admin(req):
            raise CommandError("admin_only")
        result = self.admin_tools.run(
            req.user.key,
            req.chat.key,
            argument,
            mentioned.key if mentioned else None,
            req.user.locale,
            everywhere=self.is_owner(req),
        )
        await self.reply(req, result.text, private=True)
        for job in result.cancelled:
            await self._tell(job, messages.text("purged_notice", job.user.locale, job=job.id))
        if result.cancelled:
            self.job_finished.set()

    async def reply(self, req: Request, text: str, *, private: bool = False) -> str | None:
        return await self.outboxes[req.chat.platform].send_text(
            req.chat, text, reply_to=req.reply_to, private=private, user=req.user
        )

    # commands -----------------------------------------------------------------------

    @answers_errors
    async def video_text(self, req: Request, argument: str, based_on: Job | None = None) -> Job | None:
        """`/video` from a text platform: parse, then as `video`.

        With `based_on` (a `/video` sent as a reply to a clip) the clip's settings fill
        whatever the user did not type, its prompt included.
        """
        args = parse_video_text(argument)
        if based_on is not None:
            p = based_on.params
            args = VideoArgs(
                prompt=args.prompt or p.prompt,
                seed=p.seed if args.seed is None else args.seed,
                negative=p.negative if args.negative is None else args.negative,
                frames=p.frames if args.frames is None else args.frames,
                steps=p.steps if args.steps is None else args.steps,
                guidance=p.guidance if args.guidance is None else args.guidance,
            )
        return await self.submit(req, args, parent_id=based_on.id if based_on else None)

    @answers_errors
    async def video(self, req: Request, args: VideoArgs, parent_id: int | None = None) -> Job | None:
        return await self.submit(req, args, parent_id=parent_id)

    async def submit(
        self,
        req: Request,
        args: VideoArgs,
        *,
        parent_id: int | None = None,
        challenge: Challenge | None = None,
    ) -> Job | None:
        """Admission: chat switch, ban, limits, policy, then quota and insert in one transaction.

        A challenge entry goes where the challenge's entries go (a thread, or a reply to
        the announcement) and is free of quota if the admin said so.
        """
        is_admin = self.is_admin(req)
        # An entry sent from the challenge's thread obeys the challenge chat's settings and quota.
        home = challenge.chat if challenge else req.chat
        chat_settings = self.store.chat_settings(home.key)
        if not chat_settings.enabled and not is_admin:
            raise CommandError("disabled_here")
        ban_reason = self.store.ban_reason(req.user.key, home.key)
        if ban_reason is not None:
            raise CommandError("banned", reason=ban_reason or "—")
        limits = self.config.video
        if chat_settings.max_frames:
            limits = replace(
                limits,
                max_frames=chat_settings.max_frames,
                default_frames=min(limits.default_frames, chat_settings.max_frames),
            )
        if chat_settings.max_steps:
            limits = replace(
                limits,
                max_steps=chat_settings.max_steps,
                default_steps=min(limits.default_steps, chat_settings.max_steps),
            )
        params = validate_video(args, limits, self.rng)
        refusal = self.policy.check(params.prompt)  # a negative prompt names what to avoid
        if refusal is not None:
            self.store.audit(
                self.clock(),
                req.chat.key,
                req.user.key,
                "refused prompt",
                refusal.kind,
                f"{refusal.matched}: {params.prompt[:200]}",
            )
            raise CommandError(f"policy_{refusal.kind}", matched=refusal.matched)
        forced = clean_text(self.config.video.forced_negative)
        # a reroll/variation/reply copies a negative that already ends with it: add it once
        if forced and not params.negative.endswith(forced):
            params = replace(params, negative=", ".join(p for p in (params.negative, forced) if p))
        job = Job(
            id=0,
            user=req.user,
            chat=challenge.where_entries_go if challenge else req.chat,
            params=params,
            model=self.renderer.source,
            created_at=self.clock(),
            reply_to=self.challenges.entry_reply_to(challenge) if challenge else req.reply_to,
            parent_id=parent_id,
            priority=self._priority(req),
            challenge_id=challenge.id if challenge else None,
        )
        free = challenge is not None and challenge.free_entries
        charge = charge_for(self.store, self.config.quota, req.user.key, home.key, self.clock())
        try:
            self.store.insert_job(job, None if free else charge)
        except QuotaExceeded as over:
            await self.reply(req, self._over_quota_text(req.user, over), private=True)
            return None
        self.queue.notify()
        ack = await self._acknowledge(req, job)
        if ack is not None:
            self.store.update_job(job.id, status_message=ack)
            job.status_message = ack
        return job

    async def _acknowledge(self, req: Request, job: Job) -> str | None:
        """Say "queued"; the job is committed, so a failed ack must not look like a refusal."""
        for attempt in range(DELIVERY_TRIES):
            try:
                return await self.reply(req, self._queued_text(job))
            except Exception:
                log.warning("queued reply for job %d failed (try %d)", job.id, attempt + 1, exc_info=True)
                await asyncio.sleep(0.5 * 2**attempt)
        return None  # the clip still comes, as a reply to the command

    def _priority(self, req: Request) -> int:
        """0 goes first: owners (if configured) and members of priority roles.

        Not a chat's admins: anyone can make a chat of their own and jump the shared queue.
        """
        a = self.config.admin
        if (self.is_owner(req) and a.owners_first) or set(req.roles) & set(a.priority_roles):
            return 0
        return 1

    def quota_day(self) -> str:
        return quota_day(self.clock(), self.config.quota)

    def seconds_until_reset(self) -> float:
        return seconds_until_reset(self.clock(), self.config.quota)

    def _over_quota_text(self, user: UserRef, over: QuotaExceeded) -> str:
        if over.limit == "daily":
            wait = messages.duration(self.seconds_until_reset())
            return messages.text("quota_daily", user.locale, limit=over.allowed, wait=wait)
        if over.limit == "rate":
            wait = messages.duration(over.retry_after)
            return messages.text("quota_rate", user.locale, limit=over.allowed, wait=wait)
        return messages.text("quota_queued", user.locale, queued=over.used, limit=over.allowed)

    def _queued_text(self, job: Job) -> str:
        locale = job.user.locale
        position = self.queue.position(job.id) or 1
        if not self.renderer.loaded and self.model_error:
            return messages.text("waiting_for_model", locale, position=position)
        eta = self.eta_seconds(job.id)
        if eta is None:
            return messages.text("queued_no_eta", locale, position=position)
        return messages.text("queued", locale, position=position, eta=messages.duration(eta))

    @answers_errors
    async def cancel(self, req: Request, job_ref: str | None = None) -> None:
        if job_ref:
            job = self._find_job(job_ref)
        else:
            mine = [
                j
                for j in self.store.user_jobs(req.user, 50)
                if j.status in (JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.ENCODING)
            ]
            if not mine:
                raise CommandError("cancel_nothing")
            job = mine[0]
        if job.user.key != req.user.key and not self.may_moderate(req, job):
            raise CommandError("cancel_not_owner", job=job.id)
        if self.running and self.running.job.id == job.id:
            self.running.cancel.set()
        elif not self._finish(job.id, JobStatus.CANCELLED, only_from=(JobStatus.QUEUED,)):
            raise CommandError("cancel_finished", job=job.id)
        else:
            self.store.refund(job.id)
            await self._edit_status(job, messages.text("cancelled", job.user.locale, job=job.id))
        await self.reply(req, messages.text("cancelled", req.user.locale, job=job.id), private=True)

    def _find_job(self, job_ref: str | int) -> Job:
        job_id = job_ref if isinstance(job_ref, int) else parse_job_id(job_ref)
        job = self.store.get_job(job_id)
        if job is None:
            raise CommandError("job_not_found", job=job_id)
        return job

    @answers_errors
    async def queue_status(self, req: Request) -> None:
        locale = req.user.locale
        ordered = self.queue.ordered()
        lines = [
            messages.text("queue_status", locale, waiting=len(ordered), running=int(self.running is not None))
        ]
        if self.running and self.running.job.user.key == req.user.key:
            lines.append(messages.text("queue_yours_running", locale, job=self.running.job.id))
        for place, job in enumerate(ordered, start=1):
            if job.user.key == req.user.key:
                eta = self.eta_seconds(job.id)
                lines.append(
                    messages.text(
                        "queue_yours",
                        locale,
                        job=job.id,
                        position=place,
                        eta=messages.duration(eta) if eta is not None else "?",
                    )
                )
        if len(lines) == 1:
            lines.append(messages.text("queue_none_yours", locale))
        await self.reply(req, "\n".join(lines), private=True)

    @answers_errors
    async def quota(self, req: Request) -> None:
        q = self.config.quota
        used = self.store.used_today(req.user.key, self.quota_day())
        limit = daily_limit(self.store, q, req.user.key, req.chat.key)
        queued = sum(1 for j in self.store.user_jobs(req.user, 50) if j.status == JobStatus.QUEUED)
        await self.reply(
            req,
            messages.text(
                "quota_status",
                req.user.locale,
                left=max(limit - used, 0),
                limit=limit,
                wait=messages.duration(self.seconds_until_reset()),
                queued=queued,
                max_queued=q.max_queued,
            ),
            private=True,
        )

    @answers_errors
    async def info(self, req: Request, job_ref: str | int | None = None) -> None:
        if job_ref:
            job = self._find_job(job_ref)
        else:
            recent = self.store.user_jobs(req.user, 1)
            if not recent:
                raise CommandError("info_none")
            job = recent[0]
        await self.reply(req, self.info_text(job, req.user.locale), private=True)

    def info_text(self, job: Job, locale: str) -> str:
        p = job.params
        return messages.text(
            "info",
            locale,
            job=job.id,
            status=job.status,
            prompt=p.prompt,
            negative=p.negative or "—",
            seed=p.seed,
            frames=p.frames,
            steps=p.steps,
            guidance=p.guidance,
            width=p.width,
            height=p.height,
            fps=p.fps,
            model=job.model,
            version=__version__,
        )

    @answers_errors
    async def help(self, req: Request) -> None:
        v, q = self.config.video, self.config.quota
        await self.reply(
            req,
            messages.text(
                "help",
                req.user.locale,
                min_frames=v.min_frames,
                max_frames=v.max_frames,
                min_steps=v.min_steps,
                max_steps=v.max_steps,
                min_guidance=v.min_guidance,
                max_guidance=v.max_guidance,
                daily=q.daily,
                max_queued=q.max_queued,
                max_prompt_chars=v.max_prompt_chars,
                model=self.renderer.source,
            ),
            private=True,
        )

    @answers_errors
    async def button(self, req: Request, action: str, job_id: int) -> None:
        """A press on 🔁 🎲 ℹ 🗑 under a result; anyone may press, rules apply per action."""
        job = self._find_job(job_id)
        if action == "info":
            await self.reply(req, self.info_text(job, req.user.locale), private=True)
        elif action == "delete":
            if job.user.key != req.user.key and not self.may_moderate(req, job):
                raise CommandError("delete_refused")
            if job.result_message:
                await self.outboxes[job.chat.platform].delete(job.chat, job.result_message)
            await self.reply(req, messages.text("deleted", req.user.locale), private=True)
        elif action == "vote":
            await self.challenges.vote(req, job)
        elif action in ("reroll", "variation"):
            p = job.params
            args = VideoArgs(prompt=p.prompt, negative=p.negative, frames=p.frames, steps=p.steps)
            if action == "variation":
                v = self.config.video
                jitter = self.rng.uniform(-1.5, 1.5)
                guidance = min(max(p.guidance + jitter, v.min_guidance), v.max_guidance)
                args = replace(args, seed=p.seed, guidance=round(guidance, 2))
            else:
                args = replace(args, guidance=p.guidance)
            await self.submit(req, args, parent_id=job.id)
        else:
            raise CommandError("unknown_command")

    def job_for_message(self, chat: ChatRef, message_ref: str) -> Job | None:
        """The job whose clip is the message `message_ref` in `chat`, if any."""
        return self.store.job_by_result_message(chat.platform, chat.id, message_ref)

    # ETA ----------------------------------------------------------------------------------

    def _timing_key(self, job: Job) -> str:
        p = job.params
        return f"{job.model}:{p.width}x{p.height}"

    def eta_seconds(self, job_id: int) -> float | None:
        """Seconds until `job_id` is done: measured seconds per step·frame × work ahead."""
        ordered = self.queue.ordered()
        ahead: list[tuple[Job, int]] = []
        if self.running:
            ahead.append((self.running.job, self.running.step))
        for job in ordered:
            ahead.append((job, 0))
            if job.id == job_id:
                break
        else:
            return None
        total = 0.0
        for job, done_steps in ahead:
            unit = self.store.timing(self._timing_key(job))
            if unit is None:
                return None
            total += unit * job.params.frames * max(job.params.steps - done_steps, 0)
        return total

    # the worker -----------------------------------------------------------------------------

    async def recover(self) -> None:
        """Start-up, before any platform is up: requeue interrupted renders, fail tired ones.

        Telling users and delivering finished clips waits for `platform_ready`.
        """
        found = self.queue.recover(self.config.queue.max_attempts)
        self.forget_old_data()
        for job in found.failed:
            self.store.refund(job.id)
        self._untold_failures.extend(found.failed)
        if found.requeued or found.to_deliver or found.failed:
            log.info(
                "recovered: %d requeued, %d to deliver, %d failed",
                len(found.requeued),
                len(found.to_deliver),
                len(found.failed),
            )

    async def platform_ready(self, platform: str) -> None:
        """An adapter is connected: catch up on what was promised to its users while down."""
        for job in [j for j in self._untold_failures if j.chat.platform == platform]:
            self._untold_failures.remove(job)
            await self._tell(
                job, messages.text("failed_attempts", job.user.locale, job=job.id, attempts=job.attempts)
            )
        for job in self.store.jobs_with_status(JobStatus.DELIVERING):
            if job.chat.platform == platform:
                self.spawn(self._deliver(job))
        await self.challenges.rearm(platform)

    async def run_worker(self) -> None:
        """The single GPU worker: load the model, then render jobs one at a time, forever."""
        housekeeping = self.spawn(self._housekeeping_loop())
        try:
            while not self._stopping:
                if not self.renderer.loaded and not await self._load_model():
                    continue
                try:
                    job = await self.queue.next_job()
                except QueueClosed:
                    break
                await self._run(job)
        finally:
            housekeeping.cancel()

    async def _load_model(self) -> bool:
        try:
            await asyncio.to_thread(self.renderer.load)
        except Exception as error:
            problem = (
                str(error)
                if isinstance(error, ModelMissing)
                else f"the video model failed to load: {error!r}"
            )
            if self.model_error != problem:
                log.error("%s", problem, exc_info=not isinstance(error, ModelMissing))
            self.model_error = problem
            await self.queue.wait_for_change(MODEL_RETRY_S)
            return False
        self.model_error = None
        return True

    def stop(self) -> None:
        """Ask the worker to stop: the running render ends after its current step."""
        self._stopping = True
        self.challenges.disarm()
        if self.running:
            self.running.cancel.set()
        self.queue.close()

    async def _run(self, job: Job) -> None:
        running = self.running = _Running(job, threading.Event())
        loop = asyncio.get_running_loop()
        started = time.monotonic()

        def on_step(step: int, total: int) -> None:
            running.step = step
            loop.call_soon_threadsafe(self._progress.rendering, job, step, total)

        try:
            frames = await asyncio.to_thread(self.renderer.render, job.params, on_step, running.cancel.is_set)
            self.store.record_timing(
                self._timing_key(job), (time.monotonic() - started) / (job.params.steps * job.params.frames)
            )
            self.store.set_status(job.id, JobStatus.ENCODING)
            await self._progress.stage(job, "encoding")
            await self._show_activity(job)
            clip = await asyncio.to_thread(self._encode, job, frames)
            if running.cancel.is_set() and not self._stopping:
                raise RenderCancelled()  # cancelled while encoding: the user was told so
        except RenderCancelled:
            if self._stopping:
                self.store.requeue(job.id)
            else:
                self._finish(job.id, JobStatus.CANCELLED)
                self.store.refund(job.id)
                await self._edit_status(job, messages.text("cancelled", job.user.locale, job=job.id))
            return
        except ModelMissing as missing:
            self.model_error = str(missing)
            self.store.requeue(job.id)
            return
        except OutOfMemory:
            log.warning("job %d ran out of memory", job.id)
            await self._fail(job, "failed_oom")
            return
        except Exception:
            log.exception("job %d failed", job.id)
            await self._fail(job, "failed_internal")
            return
        finally:
            self.running = None
        self.store.set_status(job.id, JobStatus.DELIVERING, clip_path=clip.path)
        job.clip_path = clip.path
        self.spawn(self._deliver(job))  # uploads must not keep the GPU idle

    def _encode(self, job: Job, frames: Any) -> Clip:
        p = job.params
        metadata = provenance_for(p, job.model, prompt_hash_only=self.config.video.hash_prompt_in_metadata)
        path = self.clips_dir / f"{job.id}.mp4"
        return encode_mp4(frames, path, fps=p.fps, metadata=metadata, crf=self.config.video.crf)

    def _finish(self, job_id: int, status: JobStatus, **kwargs: Any) -> bool:
        changed = self.store.set_status(job_id, status, **kwargs)
        if changed:
            self.job_finished.set()
        return changed

    async def _show_activity(self, job: Job) -> None:
        outbox = self.outboxes.get(job.chat.platform)
        if outbox is not None:
            try:
                await outbox.show_activity(job.chat)
            except Exception:
                log.debug("activity indicator failed", exc_info=True)

    async def _fail(self, job: Job, key: str) -> None:
        self._finish(job.id, JobStatus.FAILED, error=key)
        self.store.refund(job.id)
        await self._tell(job, messages.text(key, job.user.locale, job=job.id))

    async def _deliver(self, job: Job) -> None:
        """Send a finished clip; on failure it stays `delivering` and is retried later."""
        if job.id in self._delivering:
            return
        self._delivering.add(job.id)
        try:
            await self._deliver_once(job)
        finally:
            self._delivering.discard(job.id)
            self._progress.forget(job.id)

    async def _deliver_once(self, job: Job) -> None:
        outbox = self.outboxes.get(job.chat.platform)
        if outbox is None:
            return
        if not job.clip_path or not Path(job.clip_path).exists():
            log.warning("job %d lost its clip file; rendering it again", job.id)
            self.store.set_status(job.id, JobStatus.QUEUED, clip_path=None)
            self.queue.notify()
            return
        await self._progress.stage(job, "delivering")
        try:
            clip = await asyncio.to_thread(fit_to_size, Path(job.clip_path), outbox.upload_limit(job.chat))
        except TooLarge:
            await self._fail(job, "failed_too_big")
            return
        except Exception:
            log.exception("job %d: its clip could not be prepared for sending", job.id)
            await self._fail(job, "failed_internal")
            return
        challenge = self.store.get_challenge(job.challenge_id) if job.challenge_id else None
        if challenge is not None:
            caption = self.challenges.entry_caption(job, challenge)
            buttons = self.challenges.entry_buttons(job)
        else:
            caption = messages.text(
                "caption",
                job.user.locale,
                prompt=job.params.prompt,
                seed=job.params.seed,
                frames=job.params.frames,
                steps=job.params.steps,
                job=job.id,
            )
            buttons = [
                Button(action, job.id, messages.text(f"button_{action}", job.user.locale))
                for action in BUTTON_ACTIONS
            ]
        for attempt in range(DELIVERY_TRIES):
            try:
                await outbox.show_activity(job.chat)
                sent = await outbox.send_video(
                    job.chat,
                    clip,
                    caption=caption,
                    buttons=buttons,
                    reply_to=job.reply_to,
                    user=job.user,
                    status_message=job.status_message,
                )
                break
            except Undeliverable as gone:
                log.warning("job %d can never reach its chat (%s); giving up", job.id, gone)
                self._finish(job.id, JobStatus.FAILED, error="undeliverable")
                self.store.refund(job.id)
                return
            except Exception:
                log.warning("delivering job %d failed (try %d)", job.id, attempt + 1, exc_info=True)
                await asyncio.sleep(0.5 * 2**attempt)
        else:
            return
        self._finish(job.id, JobStatus.DONE, result_message=sent, only_from=(JobStatus.DELIVERING,))
        await self._edit_status(job, messages.text("done_status", job.user.locale, job=job.id))

    async def _housekeeping_loop(self) -> None:
        while True:
            await asyncio.sleep(REDELIVER_EVERY_S)
            try:
                for job in self.store.jobs_with_status(JobStatus.DELIVERING):
                    await self._deliver(job)
                self.forget_old_data()
            except Exception:
                log.exception("housekeeping failed; trying again in %s s", REDELIVER_EVERY_S)

    def forget_old_data(self) -> None:
        """Keep clips, prompts and audit entries only as long as the config promises."""
        storage, now = self.config.storage, self.clock()
        for job in self.store.expired_clips(now - storage.keep_clips_hours * 3600):
            if job.clip_path:
                clip = Path(job.clip_path)
                for path in [clip, *clip.parent.glob(f"{clip.stem}.fit-*.mp4")]:
                    path.unlink(missing_ok=True)
            self.store.update_job(job.id, clip_path=None)
        jobs_before = now - storage.keep_jobs_days * 86400
        self.store.forget_before(
            jobs_before=jobs_before,
            audit_before=now - storage.keep_audit_days * 86400,
            day_before=quota_day(jobs_before, self.config.quota),
            now=now,
        )

    def status_message_of(self, job: Job) -> str | None:
        """The job's status message; the worker may claim a job before its ack is stored."""
        if job.status_message is None:
            stored = self.store.get_job(job.id)
            job.status_message = stored.status_message if stored else None
        return job.status_message

    async def _edit_status(self, job: Job, text: str) -> None:
        outbox = self.outboxes.get(job.chat.platform)
        status_message = self.status_message_of(job)
        if outbox is None or status_message is None:
            return
        try:
            await outbox.edit_text(job.chat, status_message, text)
        except Exception:
            log.info("could not edit status message of job %d", job.id, exc_info=True)

    async def _tell(self, job: Job, text: str) -> None:
        """Tell a job's owner something, in the chat it came from, whatever happens."""
        outbox = self.outboxes.get(job.chat.platform)
        if outbox is None:
            return
        status_message = self.status_message_of(job)
        try:
            if (
                status_message is not None
                and await outbox.edit_text(job.chat, status_message, text) is not False
            ):
                return
        except Exception:
            log.info("could not edit the status of job %d; sending a message instead", job.id, exc_info=True)
        try:
            await outbox.send_text(job.chat, text, reply_to=job.reply_to, user=job.user)
        except Exception:
            log.warning("could not tell the owner of job %d", job.id, exc_info=True)

    def spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def drain(self) -> None:
        """Wait for background sends (progress edits, deliveries) to finish."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


class _ProgressThrottle:
    """Status-message edits at most once per interval per job; unchanged text is skipped."""

    def __init__(self, service: VideoService) -> None:
        self.service = service
        self.last_sent: dict[int, tuple[float, str]] = {}
        self.in_flight: set[int] = set()

    def interval(self, job: Job) -> float:
        q = self.service.config.queue
        return q.group_progress_interval_s if job.chat.is_group else q.progress_interval_s

    def rendering(self, job: Job, step: int, total: int) -> None:
        text = messages.text(
            "rendering", job.user.locale, bar=messages.progress_bar(step, total), step=step, total=total
        )
        if self._due(job, text):
            self._claim(job, text)
            self.service.spawn(self._send(job, text))

    async def stage(self, job: Job, stage: str) -> None:
        text = messages.text(stage, job.user.locale)
        if self._due(job, text):
            self._claim(job, text)
            await self._send(job, text)

    def _due(self, job: Job, text: str) -> bool:
        if job.id in self.in_flight or not self.service.status_message_of(job):
            return False
        when, last_text = self.last_sent.get(job.id, (float("-inf"), ""))
        return text != last_text and time.monotonic() - when >= self.interval(job)

    def _claim(self, job: Job, text: str) -> None:
        """Take the interval's slot before any await: a burst of steps must not spawn an edit each."""
        self.in_flight.add(job.id)
        self.last_sent[job.id] = (time.monotonic(), text)

    async def _send(self, job: Job, text: str) -> None:
        try:
            await self.service._edit_status(job, text)
        finally:
            self.in_flight.discard(job.id)

    def forget(self, job_id: int) -> None:
        self.last_sent.pop(job_id, None)


__all__ = ["Outbox", "VideoService", "answers_errors"]
