"""Admission: may this person have this clip here, now?  Then charge and store it at once.

The chat's switch, bans, the chat's limits, the prompt policy, then the quota charge and
the job insert in one transaction.  A job is a row before anyone hears "queued".
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from bot.config import Config, ModelSettings, VideoConfig
from bot.core import messages, roles
from bot.core.boards import GroupBoards
from bot.core.credentials import Upload
from bot.core.eta import Eta
from bot.core.models import Models
from bot.core.notify import Notifier
from bot.core.observe import QUOTA_REFUSED, Tally
from bot.core.options import VideoArgs
from bot.core.parsing import CommandError, clean_text, validate_video
from bot.core.pictures import FacePolicy, PictureGate, check_faces
from bot.core.ports import Clock, RenderBackend
from bot.core.queue import JobQueue
from bot.core.quota import charge_for, seconds_until_reset
from bot.core.types import (
    Challenge,
    ChatSettings,
    Extension,
    Job,
    Picture,
    QuotaExceeded,
    Request,
    UserRef,
)
from bot.moderation import PromptPolicy
from bot.pipelines.spec import Pictures
from bot.store import Store

log = logging.getLogger(__name__)


def chat_limits(
    limits: VideoConfig, settings: ChatSettings, model: ModelSettings | None = None
) -> VideoConfig:
    """The model's limits, tightened by what a chat's admins set (the default still fits the model)."""
    if settings.max_frames:
        default = min(limits.default_frames, settings.max_frames)
        if model is not None:
            default = max(
                model.preset.family.frames.below(default), min(limits.min_frames, settings.max_frames)
            )
        limits = replace(
            limits,
            max_frames=min(settings.max_frames, limits.max_frames)
            if model is not None
            else settings.max_frames,
            default_frames=default,
        )
    if settings.max_steps:
        limits = replace(
            limits, max_steps=settings.max_steps, default_steps=min(limits.default_steps, settings.max_steps)
        )
    return limits


@dataclass(eq=False)
class Admission:
    config: Config
    store: Store
    notifier: Notifier
    queue: JobQueue
    eta: Eta
    backend: RenderBackend
    wake: Callable[[], None]
    clock: Clock
    rng: random.Random
    models: Models
    boards: GroupBoards
    tally: Tally = field(default_factory=Tally)
    pictures: PictureGate | None = None  # checks and keeps pictures to animate; None: pictures are off

    def __post_init__(self) -> None:
        p = self.config.policy
        self.policy = PromptPolicy(p.blocked_words, p.blocked_patterns, p.protected_names)

    async def submit(
        self,
        req: Request,
        args: VideoArgs,
        *,
        parent_id: int | None = None,
        challenge: Challenge | None = None,
        picture: Upload | Picture | None = None,
        extends: Extension | None = None,
    ) -> Job | None:
        """Queue a clip for `req`, or raise `CommandError` saying why not; None when over quota.

        A challenge entry goes where the challenge's entries go (a thread, or a reply to
        the announcement), obeys the challenge chat's settings, and is free of quota if
        the admin said so.  `picture` is one sent now (an `Upload`, checked here before
        anything is charged) or a job's own (a reroll keeps it).  `extends` makes it a
        continuation of that clip (`bot.core.extend`), `args.loop` a loop.
        """
        home = challenge.chat if challenge else req.chat
        chat_settings = self.store.chats.get(home.scope_key)  # a Discord server's, for all its channels
        if not chat_settings.enabled and not roles.is_admin(req, self.config.admin):
            raise CommandError("disabled_here")
        ban_reason = self.store.bans.reason(req.user.key, home.key, home.scope_key)
        if ban_reason is not None:
            raise CommandError("banned", reason=ban_reason or "—")
        # an extension keeps its parent's model; a picture or a loop goes to a model that can make it
        wants_picture = picture is not None and extends is None
        model = self.models.pick(args.model, chat_settings, picture=wants_picture, loop=args.loop)
        params = validate_video(args, chat_limits(model.limits, chat_settings, model), self.rng, model)
        self._check_prompt(req, params.prompt)
        if extends is None:  # an extension's picture is its parent's last frame
            self._check_model_takes(model, picture, chat_settings)
        if args.loop:
            self._check_model_loops(model, chat_settings)
            params = replace(params, loop=True)
        if extends is not None:
            params = replace(params, extends=extends)
        if isinstance(picture, Upload):
            picture = await self._accept_picture(req, picture, chat_settings)
        if picture is not None:
            params = replace(params, picture=picture)
        forced = clean_text(self.config.video.forced_negative)
        # a reroll/variation/reply copies a negative that already ends with it: add it once
        if forced and not params.negative.endswith(forced):
            params = replace(params, negative=", ".join(p for p in (params.negative, forced) if p))
        job = Job(
            id=0,
            user=req.user,
            chat=challenge.where_entries_go if challenge else req.chat,
            params=params,
            model=model.key,
            created_at=self.clock(),
            reply_to=_entry_reply_to(challenge) if challenge else req.reply_to,
            parent_id=parent_id,
            priority=roles.priority(req, self.config.admin),
            challenge_id=challenge.id if challenge else None,
        )
        # A free entry skips the daily count only: the rate limit and the queue caps still hold.
        free = challenge is not None and challenge.free_entries
        charge = charge_for(
            self.store,
            self.config.quota,
            req.user.key,
            home.scope_key,
            self.clock(),
            max_total=self.config.queue.max_total,
            counts_daily=not free,
        )
        try:
            self.store.jobs.insert(job, charge)
        except QuotaExceeded as over:
            self.tally.count(QUOTA_REFUSED, limit=over.limit)
            await self.notifier.reply(req, self.over_quota_text(req.user, over), private=True)
            return None
        await self._announce(req, job)
        return job

    def _check_prompt(self, req: Request, prompt: str) -> None:
        """The prompt policy (a negative prompt names what to avoid, so only the prompt): a refusal
        is audited and said in one sentence."""
        refusal = self.policy.check(prompt)
        if refusal is None:
            return
        self.store.audit.add(
            self.clock(), req.chat.key, req.user.key, "refused prompt", refusal.kind,
            f"{refusal.matched}: {prompt[:200]}",
        )  # fmt: skip
        raise CommandError(f"policy_{refusal.kind}", matched=refusal.matched)

    async def _announce(self, req: Request, job: Job) -> None:
        """The job is stored and charged: wake the worker and say "queued" (or add it to a busy
        group's board); from here on nothing may look like a refusal."""
        try:
            self.wake()
            if self.boards.is_busy(job.chat):
                self.boards.add(job)  # a busy group: the shared board shows it, no message of its own
                return
            ack = await self._acknowledge(req, job)
            if ack is not None:
                job.status_message = ack
                self.store.jobs.update(job.id, status_message=ack)
        except Exception:
            log.exception("job %d is queued, but acknowledging it failed", job.id)

    def _check_model_loops(self, model: ModelSettings, chat: ChatSettings) -> None:
        """`--loop` for a model that conditions frame 0 only: one sentence, free."""
        if model.preset.loops:
            return
        able = [name for name in self.models.allowed(chat) if self.models.settings(name).preset.loops]
        raise CommandError("loop_unsupported", model=model.name, models=", ".join(able) or "—")

    def _check_model_takes(
        self, model: ModelSettings, picture: Upload | Picture | None, chat: ChatSettings
    ) -> None:
        """A picture for a model that takes none (or none for one that needs one): one sentence."""
        takes = model.preset.pictures
        if picture is None:
            if takes == Pictures.ONLY:
                raise CommandError("picture_needed", model=model.name)
            return
        if takes.taken:
            return
        able = [
            name for name in self.models.allowed(chat) if self.models.settings(name).preset.pictures.taken
        ]
        if not able:
            raise CommandError("picture_nowhere")
        raise CommandError("picture_text_only", model=model.name, models=", ".join(able))

    async def _accept_picture(self, req: Request, upload: Upload, chat: ChatSettings) -> Picture:
        """Fetch, check and keep a picture someone sent; every refusal is one sentence, free."""
        gate = self.pictures
        if gate is None:
            raise CommandError("picture_unavailable")
        limit = self.config.video.max_image_mb
        if upload.size > limit * 1_000_000:
            raise CommandError("picture_too_big", limit=limit)
        try:
            data = await upload.fetch()
        except Exception:
            log.warning("downloading a picture from %s failed", req.user.key, exc_info=True)
            raise CommandError("picture_download_failed") from None
        try:
            facts = await gate.inspect(data)
        except CommandError:
            raise
        except Exception:
            log.exception("checking a picture from %s failed", req.user.key)
            raise CommandError("picture_unavailable") from None
        policy = FacePolicy(self.config.policy.faces).tightened(chat.faces)
        try:
            check_faces(facts, policy, roles.is_owner(req, self.config.admin))
        except CommandError:
            self.store.audit.add(
                self.clock(),
                req.chat.key,
                req.user.key,
                "refused picture",
                "face",
                f"{facts.faces} face(s), policy {policy}, sha256 {facts.picture.sha256}",
            )
            raise
        return await asyncio.to_thread(gate.keep, data, facts)

    async def _acknowledge(self, req: Request, job: Job) -> str | None:
        """Say "queued"; the job is committed, so a failed ack must not look like a refusal."""
        for attempt in range(self.config.queue.delivery_tries):
            try:
                return await self.notifier.reply(req, self.queued_text(job))
            except Exception:
                log.warning("queued reply for job %d failed (try %d)", job.id, attempt + 1, exc_info=True)
                await asyncio.sleep(0.5 * 2**attempt)
        return None  # the clip still comes, as a reply to the command

    def over_quota_text(self, user: UserRef, over: QuotaExceeded) -> str:
        if over.limit == "daily":
            wait = messages.duration(seconds_until_reset(self.clock(), self.config.quota))
            return messages.text("quota_daily", user.locale, limit=over.allowed, wait=wait)
        if over.limit == "rate":
            wait = messages.duration(over.retry_after)
            return messages.text("quota_rate", user.locale, limit=over.allowed, wait=wait)
        if over.limit == "full":
            return messages.text("queue_full", user.locale, waiting=over.used)
        return messages.text("quota_queued", user.locale, queued=over.used, limit=over.allowed)

    def queued_text(self, job: Job) -> str:
        locale = job.user.locale
        place, eta = self.eta.estimate(job.id)
        position = place or 1
        broken = self.backend.model_state().broken
        if (self.models.name_of(job.model) or job.model) in broken:
            wait = messages.duration(self.config.queue.model_missing_wait_s)
            return messages.text("model_not_installed", locale, position=position, wait=wait)
        if not self.backend.loaded and self.backend.problem:
            return messages.text("waiting_for_model", locale, position=position)
        if eta is None:
            return messages.text("queued_no_eta", locale, position=position)
        return messages.text("queued", locale, position=position, eta=messages.duration(eta))


def _entry_reply_to(challenge: Challenge) -> str | None:
    """Without a thread, entries are posted as replies to the announcement."""
    return challenge.announcement if challenge.entries_chat is None else None
