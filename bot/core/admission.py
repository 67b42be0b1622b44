"""Admission: may this person have this clip here, now?  Then charge and store it at once.

The chat's switch, bans, the chat's limits, the prompt policy, then the quota charge and
the job insert in one transaction.  A job is a row before anyone hears "queued".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

from bot.core import messages, roles
from bot.core.boards import GroupBoards
from bot.core.credentials import Upload
from bot.core.enhancing import Drafts, PromptRewriter, carried, kept_note, rewritten, typed_args
from bot.core.eta import Eta
from bot.core.executors import Busy, TooSoon, UntrustedChecks, run_in
from bot.core.models import Models
from bot.core.notify import Notifier
from bot.core.observe import QUOTA_REFUSED, Tally
from bot.core.options import VideoArgs
from bot.core.parsing import CommandError, clean_text, validate_video
from bot.core.pictures import FacePolicy, Kept, PictureFacts, PictureGate, Size, check_faces
from bot.core.ports import Clock, RenderBackend
from bot.core.queue import JobQueue
from bot.core.quota import charge_for, seconds_until_reset
from bot.domain import (
    ButtonAction,
    Challenge,
    ChatRef,
    ChatSettings,
    Extension,
    Job,
    Picture,
    PostKind,
    PostStep,
    QuotaCharge,
    QuotaExceeded,
    RenderParams,
    Request,
    UserRef,
    conditioning,
)
from bot.moderation import PromptPolicy
from bot.pipelines.spec import Pictures
from bot.settings.models import ModelSettings
from bot.settings.root import Config
from bot.settings.sections import VideoConfig
from bot.store import Store

log = logging.getLogger(__name__)


def chat_limits(
    limits: VideoConfig, settings: ChatSettings, model: ModelSettings | None = None
) -> VideoConfig:
    """The model's limits, tightened by what a chat's admins set (the default still fits the model)."""
    if settings.max_frames:
        default = min(limits.default_frames, settings.max_frames)
        if model is not None:
            default = max(model.preset.frame_rule.below(default), min(limits.min_frames, settings.max_frames))
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
    checks: UntrustedChecks | None = None  # where picture checks run (with /verify's); None: a pool of one
    writer: PromptRewriter | None = None  # [enhance]'s prompt writer; None: prompts render as typed
    drafts: Drafts | None = None  # rewrites shown before their render (`--enhance`)

    def __post_init__(self) -> None:
        p = self.config.policy
        self.policy = PromptPolicy(p.blocked_words, p.blocked_patterns, p.protected_names)
        if self.checks is None:
            from concurrent.futures import ThreadPoolExecutor

            self.checks = UntrustedChecks(ThreadPoolExecutor(1, "untrusted"), self.config.provenance)

    async def submit(
        self,
        req: Request,
        args: VideoArgs,
        *,
        parent_id: int | None = None,
        challenge: Challenge | None = None,
        picture: Upload | Picture | None = None,
        extends: Extension | None = None,
        post: PostStep | None = None,
        then: tuple[PostKind, ...] | None = None,
    ) -> Job | None:
        """Queue a clip for `req`, or raise `CommandError` saying why not; None when over quota.

        A challenge entry goes where the challenge's entries go (a thread, or a reply to
        the announcement), obeys the challenge chat's settings, and is free of quota if
        the admin said so.  `picture` is one sent now (an `Upload`, checked here before
        anything is charged) or a job's own (a reroll keeps it).  `extends` makes it a
        continuation of that clip (`bot.core.extend`), `args.loop` a loop, `post` a post step
        on that clip (`bot.core.post`: no render; free of the daily count under `[post] free`);
        `then` the post steps to queue once the clip is delivered (None: `--smooth`/`--hd` and
        `[post] smooth`/`hd`).
        """
        home = challenge.chat if challenge else req.chat
        chat_settings = self.store.chats.get(home.scope_key)  # a Discord server's, for all its channels
        self._check_allowed(req, home, chat_settings)
        # an extension keeps its parent's model; a picture or a loop goes to a model that can make it
        wants_picture = picture is not None and extends is None
        model = self.models.pick(args.model, chat_settings, picture=wants_picture, loop=args.loop)
        self._check_model_loads(model)
        limits = chat_limits(model.limits, chat_settings, model)
        params = carried(args, validate_video(typed_args(args), limits, self.rng, model))
        self._check_policy(req, params.prompt_original or params.prompt)  # what the person typed …
        if extends is None and post is None:  # an extension's picture is its parent's last frame
            self._check_model_takes(model, picture, chat_settings)
        if args.loop:
            self._check_model_loops(model, chat_settings)
        plain = picture is None and extends is None and challenge is None  # a draft keeps text only
        if args.enhance and not args.prompt_writer and plain:  # shown first: nothing queued or charged
            await self._show_rewrite(req, replace(args, prompt=params.prompt), model.family)
            return None
        params, rewrite = await rewritten(
            self.writer, self.config.enhance.mode, req.user.key, params, model.family
        )
        if params.prompt_writer:
            self._check_policy(req, params.prompt)  # … and what the writer made of it
        params = self._with_post(params, args, post, then)
        # A free entry skips the daily count only: the rate limit and the queue caps still hold.
        free = bool(challenge and challenge.free_entries) or (post is not None and self.config.post.free)
        charge = charge_for(
            self.store, self.config.quota, req.user.key, home.scope_key, self.clock(),
            max_total=self.config.queue.max_total, counts_daily=not free,
        )  # fmt: skip
        if isinstance(picture, Upload) and not await self._quota_allows(req, charge):
            return None  # over quota: told so before a byte of the picture is downloaded
        size = (params.width, params.height)
        kept = await self._pictures_in_use(req, picture, extends, chat_settings, size)
        picked = kept.picture if kept is not None else None
        params = replace(params, conditioning=conditioning(picked, extends, args.loop))
        job = self._new_job(req, self._with_forced_negative(params), model, parent_id, challenge)
        try:
            self.store.jobs.insert(job, replace(charge, now=self.clock()))
        except QuotaExceeded as over:
            if kept is not None:
                kept.undo()  # kept only for a job that was accepted
            self.tally.count(QUOTA_REFUSED, limit=over.limit)
            await self.notifier.reply(req, self.over_quota_text(req.user, over), private=True)
            return None
        except BaseException:
            if kept is not None:
                kept.undo()
            raise
        await self._announce(req, job, kept_note(rewrite, req.user.locale))
        return job

    def _check_allowed(self, req: Request, home: ChatRef, chat_settings: ChatSettings) -> None:
        """The chat's switch (admins pass) and bans: one sentence each."""
        if not chat_settings.enabled and not roles.is_admin(req, self.config.admin):
            raise CommandError("disabled_here")
        ban_reason = self.store.bans.reason(req.user.key, home.key, home.scope_key)
        if ban_reason is not None:
            raise CommandError("banned", reason=ban_reason or "—")

    def _with_forced_negative(self, params: RenderParams) -> RenderParams:
        """`[video] forced_negative` once (a reroll/variation/reply copies a negative that ends with it)."""
        forced = clean_text(self.config.video.forced_negative)
        if forced and not params.negative.endswith(forced):
            params = replace(params, negative=", ".join(p for p in (params.negative, forced) if p))
        return params

    def _new_job(
        self, req: Request, params: RenderParams, model: ModelSettings, parent_id: int | None,
        challenge: Challenge | None,
    ) -> Job:  # fmt: skip
        """The job row to insert: a challenge entry goes where the challenge's entries go."""
        return Job(
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

    async def _announce(self, req: Request, job: Job, note: str = "") -> None:
        """The job is stored and charged: from here on nothing may look like a refusal (`note`: a
        line under "queued", such as why the writer's rewrite was not used)."""
        try:
            self.wake()
            if self.boards.is_busy(job.chat):
                self.boards.add(job)  # a busy group: the shared board shows it, no message of its own
                return
            ack = await self._acknowledge(req, job, note)
            if ack is not None:
                job.status_message = ack
                self.store.jobs.update(job.id, status_message=ack)
        except Exception:
            log.exception("job %d is queued, but acknowledging it failed", job.id)

    def _with_post(
        self, params: RenderParams, args: VideoArgs, post: PostStep | None, then: tuple[PostKind, ...] | None
    ) -> RenderParams:
        """A post step's own step, and the steps to queue once the clip is delivered (None:
        `--smooth`/`--hd` and `[post] smooth`/`hd`)."""
        if post is not None:
            params = replace(params, post=post)
        if then is None:
            asked = ((PostKind.SMOOTH, args.smooth or self.config.post.smooth),
                     (PostKind.HD, args.hd or self.config.post.hd))  # fmt: skip
            then = tuple(kind for kind, on in asked if on)
        return replace(params, then_post=",".join(then))

    async def _pictures_in_use(
        self,
        req: Request,
        picture: Upload | Picture | None,
        extends: Extension | None,
        chat: ChatSettings,
        size: Size,
    ) -> Kept | None:
        """Every picture this job animates, checked for this person here and now: one sent now
        (fetched, checked, kept), a kept one used again, and those behind an extension's clips."""
        kept: Kept | None = None
        if isinstance(picture, Upload):
            kept = await self._accept_picture(req, picture, chat, size)
        elif picture is not None:
            await self._recheck_picture(req, picture, chat, size)
            kept = Kept(picture, new=False)
        try:
            for earlier in self._pictures_behind(extends):
                await self._recheck_picture(req, earlier, chat, size)
        except BaseException:
            if kept is not None:
                kept.undo()
            raise
        return kept

    def _check_model_loads(self, model: ModelSettings) -> None:
        """A model whose last load failed takes no new jobs (they would fill `max_total` for
        everyone while it cannot render): one sentence, free.  Jobs queued before it broke wait,
        bounded (`model_missing_wait_s`)."""
        broken = self.backend.model_state().broken
        if model.name in broken:
            raise CommandError("model_broken", model=model.name)

    def _check_policy(self, req: Request, prompt: str) -> None:
        """The prompt policy (a negative prompt names what to avoid, so only the prompt); audited."""
        refusal = self.policy.check(prompt)
        if refusal is not None:
            detail = f"{refusal.matched}: {prompt[:200]}"
            who = req.user.key
            self.store.audit.add(self.clock(), req.chat.key, who, "refused prompt", refusal.kind, detail)
            raise CommandError(f"policy_{refusal.kind}", matched=refusal.matched)

    async def press_draft(self, req: Request, action: ButtonAction, draft_id: int) -> Job | None:
        """▶ Render · ✏️ Use mine · 🔁 Again under a rewrite (`bot.core.enhancing.Drafts`)."""
        if self.writer is None or self.drafts is None:
            raise CommandError("enhance_off")
        return await self.drafts.press(
            req, action, draft_id, self.writer, lambda r, a: self.submit(r, a), self._check_policy
        )

    async def _show_rewrite(self, req: Request, args: VideoArgs, family: str) -> None:
        if self.writer is None or self.drafts is None:
            raise CommandError("enhance_off")
        await self.drafts.show(req, args, family, self.writer, self._check_policy)

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

    async def _quota_allows(self, req: Request, charge: QuotaCharge) -> bool:
        """Would `charge` pass now?  If not, say so (as the insert would) and charge nothing."""
        try:
            self.store.quota.would_charge(charge)
        except QuotaExceeded as over:
            self.tally.count(QUOTA_REFUSED, limit=over.limit)
            await self.notifier.reply(req, self.over_quota_text(req.user, over), private=True)
            return False
        return True

    async def _accept_picture(self, req: Request, upload: Upload, chat: ChatSettings, size: Size) -> Kept:
        """Fetch, check and keep a picture someone sent; every refusal is one sentence, free.

        The size, the pace and the room in the check pool are looked at before the download."""
        gate = self.gate()
        limit = self.config.video.max_image_mb
        if upload.size > limit * 1_000_000:
            raise CommandError("picture_too_big", limit=limit)
        who, every_s = req.user.key, self.config.video.picture_every_s
        with _check_refusals():
            self._checks().ready(who, "picture", every_s)
        try:
            data = await upload.fetch()
        except Exception:
            log.warning("downloading a picture from %s failed", req.user.key, exc_info=True)
            raise CommandError("picture_download_failed") from None
        with _check_refusals():
            checks = self._checks()
            facts = await checks.run(who, gate.check, data, (size,), kind="picture", every_s=every_s)
        self._face_policy(req, chat, facts)
        return await asyncio.to_thread(gate.keep, data, facts)

    async def _recheck_picture(self, req: Request, picture: Picture, chat: ChatSettings, size: Size) -> None:
        """A kept picture, used again (reroll, variation, reply, extension): the face policy as it
        stands now, for this person, on what this model will be given."""
        gate = self.gate()
        with _check_refusals():
            facts = await self._checks().run(
                req.user.key, gate.inspect_stored, picture, (size,), kind="stored", every_s=0.0
            )
        self._face_policy(req, chat, facts)

    async def vet(self, job: Job) -> str | None:
        """The face policy at the point of use, as a queued job is about to render: for its owner
        and chat as they stand now, on every picture it animates (its own, and those behind the
        clips it continues).  None: it may render; else the message key its ending tells the owner
        (the caller ends it, refunded).  Audited.  A picture checked before costs a hash of its file."""
        pictures = [job.params.picture] if job.params.picture is not None else []
        pictures += [p for p in self._pictures_behind(job.params.extends) if p not in pictures]
        if not pictures:
            return None
        challenge = self.store.challenges.get(job.challenge_id) if job.challenge_id is not None else None
        req = Request(job.user, challenge.chat if challenge else job.chat)
        chat = self.store.chats.get(req.chat.scope_key)
        size = (job.params.width, job.params.height)
        try:
            gate = self.gate()
            for picture in pictures:
                self._face_policy(
                    req, chat, await self._stored_facts(gate, picture, size), audit_let_through=False
                )
        except CommandError as refusal:
            if refusal.key == "picture_face":
                return "failed_picture_face"  # audited by `_face_policy`
            detail = f"{refusal.key}, job {job.id}"
            self.store.audit.add(
                self.clock(), req.chat.key, req.user.key, "refused picture", "unchecked", detail
            )
            return "failed_picture_unchecked"
        return None

    async def _stored_facts(self, gate: PictureGate, picture: Picture, size: Size) -> PictureFacts:
        """What the checks found in a kept picture: remembered (a hash of the file), or — not seen
        since the bot started — the whole check, in the pool for files people send."""
        checks = self._checks()
        with _check_refusals():
            facts = await asyncio.to_thread(gate.remembered, picture, (size,))
            if facts is None:
                check = run_in(checks.pool, gate.inspect_stored, picture, (size,))
                facts = await asyncio.wait_for(check, checks.timeout_s)
        return facts

    def gate(self) -> PictureGate:
        """The picture checks; without them (no face detector) no picture is animated, kept or new."""
        if self.pictures is None:
            raise CommandError("picture_unavailable")
        return self.pictures

    def _checks(self) -> UntrustedChecks:
        assert self.checks is not None  # set in __post_init__
        return self.checks

    def _face_policy(
        self, req: Request, chat: ChatSettings, facts: PictureFacts, *, audit_let_through: bool = True
    ) -> None:
        """Refuse (audited) a real face this person may not animate here; audit one let through
        (once, at admission: not again when its job starts)."""
        policy = FacePolicy(self.config.policy.faces).tightened(chat.faces)
        detail = f"{facts.faces} face(s), policy {policy}, sha256 {facts.picture.sha256}"
        try:
            animated_face = check_faces(facts, policy, roles.is_owner(req, self.config.admin))
        except CommandError:
            self.store.audit.add(self.clock(), req.chat.key, req.user.key, "refused picture", "face", detail)
            raise
        if animated_face and audit_let_through:
            self.store.audit.add(self.clock(), req.chat.key, req.user.key, "animated face", "face", detail)

    def _pictures_behind(self, extends: Extension | None) -> list[Picture]:
        """The pictures the clips an extension continues were made from (bounded walk)."""
        found: list[Picture] = []
        parent_id = extends.parent_id if extends is not None else None
        for _ in range(50):
            parent = self.store.jobs.get(parent_id) if parent_id is not None else None
            if parent is None:
                break
            if parent.params.picture is not None and parent.params.picture not in found:
                found.append(parent.params.picture)
            parent_id = parent.params.extends.parent_id if parent.params.extends is not None else None
        return found

    async def _acknowledge(self, req: Request, job: Job, note: str = "") -> str | None:
        """Say "queued" (and `note`); the job is committed, so a failed ack must not look like a refusal."""
        for attempt in range(self.config.queue.delivery_tries):
            try:
                return await self.notifier.reply(req, "\n".join(filter(None, (self.queued_text(job), note))))
            except Exception:
                log.warning("queued reply for job %d failed (try %d)", job.id, attempt + 1, exc_info=True)
                await asyncio.sleep(self.config.queue.delivery_backoff_s * 2**attempt)
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


@contextlib.contextmanager
def _check_refusals() -> Iterator[None]:
    """The check pool's refusals as one sentence each (free); a failing check as "unavailable"."""
    try:
        yield
    except CommandError:
        raise
    except TooSoon as soon:
        raise CommandError("picture_too_soon", seconds=max(1, round(soon.wait_s))) from None
    except Busy:
        raise CommandError("picture_busy") from None
    except TimeoutError:
        raise CommandError("picture_too_slow") from None
    except Exception:
        log.exception("checking a picture failed")
        raise CommandError("picture_unavailable") from None


def _entry_reply_to(challenge: Challenge) -> str | None:
    """Without a thread, entries are posted as replies to the announcement."""
    return challenge.announcement if challenge.entries_chat is None else None
