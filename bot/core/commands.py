"""Everyday commands: /cancel, /queue, /quota, /info, /help, and the buttons under a clip."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, replace
from pathlib import Path

from bot import __version__
from bot.core import messages, roles
from bot.core.admission import Admission, chat_limits
from bot.core.credentials import ClipChecker, Upload, credentials_line
from bot.core.endings import Endings, RunningJobs
from bot.core.eta import Eta
from bot.core.extend import chain, extend, extend_words
from bot.core.menu import command_list
from bot.core.models import Models, model_extras, model_line, seconds, shown_name
from bot.core.notify import Notifier
from bot.core.options import VideoArgs, usage
from bot.core.parsing import MAX_JOB_ID, CommandError, parse_job_id
from bot.core.persist import until_written
from bot.core.ports import Clock, RenderBackend
from bot.core.post import post_chain, post_step, then_steps
from bot.core.queue import JobQueue
from bot.core.quota import daily_limit, quota_day, seconds_until_reset
from bot.domain import ButtonAction, ChatRef, Job, JobStatus, Picture, PostKind, Request, UserRef
from bot.settings.root import Config
from bot.store import Store
from bot.store.public import JOB

RECENT = 50  # how far back "your latest job" looks


@dataclass(eq=False)
class Commands:
    config: Config
    store: Store
    notifier: Notifier
    admission: Admission
    endings: Endings
    running: RunningJobs
    queue: JobQueue
    eta: Eta
    clock: Clock
    rng: random.Random
    models: Models
    backend: RenderBackend
    check_clip: ClipChecker | None = None  # Content Credentials for /info

    def find_job(self, req: Request, job_ref: str | int) -> Job:
        """The job `job_ref` names, if `req` may see it: ids are sequential, so a job is shown
        only in its own chat, to its owner, and to the bot's owners; elsewhere it does not exist."""
        job_id = job_ref if isinstance(job_ref, int) else parse_job_id(job_ref)
        if not 0 < job_id <= MAX_JOB_ID:
            raise CommandError("bad_job_id", value=str(job_id)[:24])
        job = self.store.jobs.get(job_id)
        if job is None:
            raise CommandError("job_not_found", job=job_id)
        visible = job.chat.key == req.chat.key or job.user.key == req.user.key
        if not visible and not roles.is_owner(req, self.config.admin):
            raise CommandError("job_not_found", job=job_id)
        return job

    def recent_jobs(self, user: UserRef, limit: int = 10) -> list[Job]:
        return self.store.jobs.of_user(user, limit)

    def job_for_message(self, chat: ChatRef, message_ref: str) -> Job | None:
        """The job whose clip is the message `message_ref` in `chat`, if any."""
        return self.store.jobs.by_result_message(chat.platform, chat.id, message_ref)

    async def video_text(
        self,
        req: Request,
        args: VideoArgs,
        based_on: Job | None = None,
        picture: Upload | Picture | None = None,
    ) -> Job | None:
        """With `based_on` (a `/video` sent as a reply to a clip) the clip's settings fill
        whatever the user did not type, its prompt and its picture included."""
        if based_on is not None:
            args = args.over(VideoArgs.from_params(based_on.params, self._still_configured(based_on.model)))
            picture = picture or based_on.params.picture
        return await self.admission.submit(
            req, args, parent_id=based_on.id if based_on else None, picture=picture
        )

    def _still_configured(self, model: str) -> str | None:
        """A clip's model for its reroll, if the config still has it (else the default)."""
        return self.models.configured(model)

    async def cancel(self, req: Request, job_ref: str | None = None) -> None:
        if job_ref:
            job = self.find_job(req, job_ref)
        else:
            waiting = (JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.ENCODING)
            mine = [j for j in self.store.jobs.of_user(req.user, RECENT) if j.status in waiting]
            if not mine:
                raise CommandError("cancel_nothing")
            job = mine[0]
        own = job.user.key == req.user.key
        if not own and not roles.may_moderate(req, job, self.config.admin):
            raise CommandError("cancel_not_owner", job=job.id)
        if not await self.endings.cancel(job, "cancelled", tell_owner=not own):
            raise CommandError("cancel_finished", job=job.id)
        await self.notifier.reply(req, messages.text("cancelled", req.user.locale, job=job.id), private=True)

    async def queue_status(self, req: Request) -> None:
        locale = req.user.locale
        waiting = self.queue.waiting()
        lines = [messages.text("queue_status", locale, waiting=waiting, running=len(self.running))]
        for job in self.running.of_user(req.user.key):
            lines.append(messages.text("queue_yours_running", locale, job=job.id))
        estimates = {job.id: self.eta.estimate(job.id) for job in self.store.jobs.queued_of(req.user.key)}
        for job_id, (place, eta) in sorted(estimates.items(), key=lambda item: item[1][0] or 0):
            if eta is None:
                lines.append(messages.text("queue_yours_no_eta", locale, job=job_id, position=place))
            else:
                eta_text = messages.duration(eta)
                lines.append(messages.text("queue_yours", locale, job=job_id, position=place, eta=eta_text))
        if len(lines) == 1:
            lines.append(messages.text("queue_none_yours", locale))
        await self.notifier.reply(req, "\n".join(lines), private=True)

    async def quota(self, req: Request) -> None:
        q = self.config.quota
        now = self.clock()
        used = self.store.quota.used_today(req.user.key, quota_day(now, q))
        limit = daily_limit(self.store, q, req.user.key, req.chat.key)
        queued = sum(1 for j in self.store.jobs.of_user(req.user, RECENT) if j.status == JobStatus.QUEUED)
        text = messages.text(
            "quota_status",
            req.user.locale,
            left=max(limit - used, 0),
            limit=limit,
            wait=messages.duration(seconds_until_reset(now, q)),
            queued=queued,
            max_queued=q.max_queued,
        )
        await self.notifier.reply(req, text, private=True)

    async def extend(
        self, req: Request, job: Job, prompt: str | None = None, *, smooth: bool = False, hd: bool = False
    ) -> Job | None:
        """⏩ Extend or `/extend [id] [prompt] [--smooth] [--hd]`: a continuation of `job`'s clip
        (bot.core.extend)."""
        model = self._still_configured(job.model)
        return await extend(self.admission, self.store, req, job, prompt, model, smooth=smooth, hd=hd)

    async def post(self, req: Request, job: Job, kind: PostKind) -> Job | None:
        """🎞 Smooth or 🔍 HD: a new clip made from `job`'s (bot.core.post)."""
        return await post_step(self.admission, self.store, req, job, kind, self._still_configured(job.model))

    async def follow_up(self, job: Job) -> None:
        """`--smooth`/`--hd`: the first post step `job` asked for, queued for its owner now that it
        is delivered (the rest follow that one); a refusal is told in one sentence."""
        steps, parent = then_steps(job), self.store.jobs.get(job.id)
        if not steps or parent is None:
            return
        req = Request(user=job.user, chat=job.chat, reply_to=parent.result_message)
        model = self._still_configured(job.model)
        try:
            await post_step(self.admission, self.store, req, parent, steps[0], model, then=steps[1:])
        except CommandError as refused:
            await self.notifier.reply(req, messages.text(refused.key, job.user.locale, **refused.values))

    async def extend_text(self, req: Request, argument: str, replied: Job | None = None) -> Job | None:
        """`/extend [id] [prompt] [--smooth] [--hd]` typed; a reply to a clip names it without the id."""
        first, _, rest = argument.strip().partition(" ")
        named = first.lstrip("#").isdigit()
        if not named and replied is None:
            raise CommandError("extend_which")
        prompt, smooth, hd = extend_words(rest if named else argument)
        job = self.find_job(req, first) if named else replied
        assert job is not None
        return await self.extend(req, job, prompt.strip() or None, smooth=smooth, hd=hd)

    async def info(self, req: Request, job_ref: str | int | None = None) -> None:
        if job_ref:
            job = self.find_job(req, job_ref)
        else:
            recent = self.store.jobs.of_user(req.user, 1)
            if not recent:
                raise CommandError("info_none")
            job = recent[0]
        await self.notifier.reply(req, await self.info_text(job, req.user.locale, req), private=True)

    async def info_text(self, job: Job, locale: str, viewer: Request | None = None) -> str:
        """`info_text` and, while the clip is on disk, what its Content Credentials say."""
        text = info_text(job, locale, self.models, chain(self.store, job), viewer)
        if self.check_clip is None or not job.clip_path or not Path(job.clip_path).exists():
            return text
        check = await asyncio.to_thread(self.check_clip, Path(job.clip_path))
        signed = [credentials_line(check, locale)]
        if check.loras:  # what was really fused, with each file's hash, as the manifest signs it
            signed.append(messages.text("credentials_loras", locale, loras=", ".join(check.loras)))
        if check.sound:
            signed.append(messages.text("credentials_sound", locale))
        return "\n".join([text, *signed])

    async def list_models(self, req: Request) -> None:
        """`/models`: each model with its licence and defaults, whether loaded, which is the default."""
        locale = req.user.locale
        resident = self.backend.model_state().resident
        allowed = self.models.allowed(self.store.chats.get(req.chat.scope_key))
        active = self.models.active
        lines = [messages.text("models_header", locale)]
        for name in allowed:
            loaded = None if resident is None else name in resident
            settings, identity = self.models.settings(name), self.models.identity(name)
            lines.append(model_line(settings, identity, locale, active=name == active, loaded=loaded))
        lines.append(self.models.pictures_line(allowed, locale))
        if len(allowed) > 1:
            lines.append(messages.text("models_pick", locale))
        await self.notifier.reply(req, messages.fit_lines(lines), private=True)

    async def help(self, req: Request) -> None:
        chat = self.store.chats.get(req.chat.scope_key)
        model = self.models.pick(None, chat)
        made_by = self.models.identity(model.name)
        v, q = model.limits, self.config.quota
        text = messages.text(
            "help",
            req.user.locale,
            usage=usage(
                chat_limits(v, chat, model),
                models=len(self.models.names()),
                off=frozenset({"enhance"} if self.config.enhance.mode == "off" else ()),
            ),
            daily=q.daily,
            max_queued=q.max_queued,
            max_prompt_chars=v.max_prompt_chars,
            default_frames=v.default_frames,
            seconds=seconds(model, v.default_frames),
            fps=v.fps,
            model=shown_name(made_by),
            licence=made_by.licence,
            commands=command_list(),
        )
        pictures = self.models.pictures_line(self.models.allowed(chat), req.user.locale)
        await self.notifier.reply(req, f"{text}\n{pictures}", private=True)

    async def button(self, req: Request, action: str, job_id: int) -> Job | None:
        """A press on 🔁 🎲 ℹ 🗑 under a result; anyone may press, rules apply per action.

        Returns the job to vote on for a 👍 press (votes belong to challenges)."""
        job = self.find_job(req, job_id)
        try:
            pressed = ButtonAction(action)
        except ValueError:
            raise CommandError("unknown_command") from None
        if pressed == ButtonAction.INFO:  # a Telegram alert holds 200 characters: no credentials line
            await self.notifier.reply(req, info_text(job, req.user.locale, self.models), private=True)
        elif pressed == ButtonAction.DELETE:
            if job.user.key != req.user.key and not roles.may_moderate(req, job, self.config.admin):
                raise CommandError("delete_refused")
            outbox = self.notifier.outbox(job.chat.platform)
            if job.result_message and outbox is not None:
                await outbox.delete(job.chat, job.result_message)
            # and off the web side's pages, for good: a promise, so it waits out a locked database
            await until_written(lambda: self.store.public.hide(JOB, job.id), f"hiding job {job.id}")
            if job.user.key != req.user.key:  # an admin's action, audited like every other
                await until_written(
                    lambda: self.store.audit.add(
                        self.clock(), req.chat.scope_key, req.user.key, "delete", job.user.key, f"#{job.id}"
                    ),
                    f"auditing the delete of job {job.id}",
                )
            await self.notifier.reply(req, messages.text("deleted", req.user.locale), private=True)
        elif pressed == ButtonAction.VOTE:
            return job
        elif pressed == ButtonAction.EXTEND:
            await self.extend(req, job)
        elif pressed in (ButtonAction.SMOOTH, ButtonAction.HD):
            await self.post(req, job, PostKind(pressed.value))
        else:
            # a post clip's reroll renders its render's request again (its own facts are its file's)
            p = job.params if job.params.post is None else post_chain(self.store, job)[0].params
            args = VideoArgs.from_params(p, self._still_configured(job.model), seed=None)  # 🔁: a new seed
            if pressed == ButtonAction.VARIATION:  # 🎲: the same seed, the guidance nudged
                v = self.models.settings(job.model).limits
                jitter = self.rng.uniform(-1.5, 1.5)
                guidance = min(max(p.guidance + jitter, v.min_guidance), v.max_guidance)
                args = replace(args, seed=p.seed, guidance=round(guidance, 2))
            # keeps its picture; an extension's reroll is another continuation of the same parent
            if p.prompt_writer:  # the chosen rewrite, as it is: never rewritten again
                args = replace(args, prompt_original=p.prompt_original, prompt_writer=p.prompt_writer)
            await self.admission.submit(req, args, parent_id=job.id, picture=p.picture, extends=p.extends)
        return None


def info_text(
    job: Job, locale: str, models: Models, chain: list[Job] | None = None, viewer: Request | None = None
) -> str:
    text = _info_body(job, locale, models)
    picture = job.params.picture
    if picture is not None:
        text = f"{text}\n{picture_line(picture, locale)}"
    if job.params.loop:
        text = f"{text}\n{messages.text('info_loop', locale)}"
    post = job.params.post
    if post is not None:  # 🎞/🔍: which clip it was made from, and by which step
        step = messages.text(f"button_{post.kind}", locale)
        text = f"{text}\n{messages.text('info_post', locale, job=post.parent_id, steps=step)}"
    if job.params.rewritten:  # the prompt above is the writer's; this is what the person typed
        p = job.params
        typed = messages.text("info_rewritten", locale, original=p.prompt_original, writer=p.prompt_writer)
        text = f"{text}\n{typed}"
    if chain and len(chain) > 1:
        text = f"{text}\n{chain_line(chain[:-1], locale, viewer)}"
    return text


def chain_line(parents: list[Job], locale: str, viewer: Request | None) -> str:
    """ "extends: #3 “a cat” → #5 “it jumps”": the clips an extension continues, first first; a
    prompt only where the viewer could see that clip (its chat, or theirs)."""

    def shown(job: Job) -> str:
        visible = viewer is not None and (job.chat.key == viewer.chat.key or job.user.key == viewer.user.key)
        return f"#{job.id} “{job.params.prompt[:60]}”" if visible else f"#{job.id}"

    return messages.text("info_chain", locale, chain=" → ".join(shown(job) for job in parents))


def picture_line(picture: Picture, locale: str) -> str:
    """ "from a picture: jpeg, 512×512, 84 KB, SHA-256 …" for /info."""
    size = (
        f"{picture.size_bytes / 1000:.0f} KB"
        if picture.size_bytes < 1_000_000
        else (f"{picture.size_bytes / 1_000_000:.1f} MB")
    )
    credentials = messages.text("info_picture_credentials", locale) if picture.credentials else ""
    return messages.text(
        "info_picture",
        locale,
        format=picture.format.upper(),
        width=picture.width,
        height=picture.height,
        size=size,
        sha256=picture.sha256,
        credentials=credentials,
    )


def _info_body(job: Job, locale: str, models: Models) -> str:
    p = job.params
    made_by = models.identity(job.model) if models.configured(job.model) else None
    return messages.text(
        "info",
        locale,
        job=job.id,
        status=job.status,
        prompt=p.prompt,
        negative=p.negative or "—",
        seed=p.seed,
        frames=job.clip_frames or p.frames,  # the clip's own, once it is made
        steps=p.steps,
        guidance=p.guidance,
        width=p.width,
        height=p.height,
        fps=job.clip_fps or p.fps,
        model=f"{shown_name(made_by)} · licence {made_by.licence}"
        f"{model_extras(models.settings(job.model), locale)}"
        if made_by
        else job.model,
        version=__version__,
    )
