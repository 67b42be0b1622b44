"""The core's front door: every call an adapter makes, written once for every platform.

`VideoService` holds the rooms `wire()` builds (admission, commands, challenges, admin, job
runner, delivery, progress, ETA, housekeeping) and says which room answers each call; as
aiogram's routers do, challenges and `/admin` have a small façade of their own
(`service.challenge`, `service.admin`).  Each adapter-facing method turns bad input into its
sentence and surprises into an apology, never a traceback.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from bot.core import messages, roles
from bot.core.admin import AdminCommand, parse_admin
from bot.core.challenges import StartArgs
from bot.core.credentials import ClipChecker, Upload, credentials_report
from bot.core.delivery import Fitter
from bot.core.enhancing import PromptRewriter
from bot.core.executors import Busy, Executors, TooSoon
from bot.core.options import VideoArgs
from bot.core.parsing import CommandError, parse_job_id, parse_video_text
from bot.core.pictures import PictureGate
from bot.core.ports import Clock, Outbox, RenderBackend, WebLinks
from bot.core.status import BotStatus
from bot.core.wiring import Rooms, wire
from bot.domain import DRAFT_ACTIONS, ButtonAction, ChatRef, Job, Request, UserRef
from bot.enhance import WriterSlot
from bot.pipelines.spec import ClipIdentity
from bot.settings.root import Config
from bot.store import Store

log = logging.getLogger(__name__)

R = TypeVar("R")
P = ParamSpec("P")


class Replies(Protocol):
    """What `answers_errors` needs of the façade it wraps: a way to answer the person."""

    async def reply(self, req: Request, text: str, *, private: bool = False) -> str | None: ...


S = TypeVar("S", bound=Replies)


def answers_errors(
    method: Callable[Concatenate[S, Request, P], Awaitable[R]],
) -> Callable[Concatenate[S, Request, P], Awaitable[R | None]]:
    """Turn bad input into its sentence and surprises into an apology, never a traceback; the
    method keeps its signature, so mypy checks every adapter's call into the core."""

    @functools.wraps(method)
    async def wrapper(self: S, req: Request, /, *args: P.args, **kwargs: P.kwargs) -> R | None:
        try:
            return await method(self, req, *args, **kwargs)
        except CommandError as error:
            values = {name: messages.echo(value) for name, value in error.values.items()}
            await self.reply(req, messages.text(error.key, req.user.locale, **values), private=True)
        except Exception:
            log.exception("command %s from %s failed", method.__name__, req.user.key)
            await self.reply(req, messages.text("internal_error", req.user.locale), private=True)
        return None

    return wrapper


class _Desk:
    """A feature's own façade over the rooms (challenges, `/admin`)."""

    def __init__(self, config: Config, rooms: Rooms) -> None:
        self.config = config
        self.rooms = rooms

    async def reply(self, req: Request, text: str, *, private: bool = False) -> str | None:
        return await self.rooms.notifier.reply(req, text, private=private)


class ChallengeDesk(_Desk):
    """`/challenge` and `/leaderboard`: `service.challenge(req, "start …")` as typed, or typed
    options (Discord) through its methods."""

    @answers_errors
    async def __call__(self, req: Request, argument: str) -> None:
        """`/challenge start|enter|status|end|cancel …` as typed."""
        await self.rooms.challenges.command(req, argument)

    @answers_errors
    async def start(self, req: Request, args: StartArgs) -> None:
        await self.rooms.challenges.start(req, args)

    @answers_errors
    async def enter(self, req: Request, args: VideoArgs) -> None:
        await self.rooms.challenges.enter(req, args)

    @answers_errors
    async def status(self, req: Request) -> None:
        await self.rooms.challenges.status(req)

    @answers_errors
    async def stop(self, req: Request, *, cancel: bool) -> None:
        await self.rooms.challenges.stop(req, cancel=cancel)

    @answers_errors
    async def leaderboard(self, req: Request) -> None:
        await self.rooms.challenges.leaderboard(req)


class AdminDesk(_Desk):
    """`/admin`: `service.admin(req, "ban @x")` as typed, `service.admin.command` with typed options."""

    @answers_errors
    async def __call__(self, req: Request, argument: str, mentioned: UserRef | None = None) -> None:
        """`/admin …` as typed; the user it is about may be `mentioned` (a reply, a mention)."""
        if not roles.is_admin(req, self.config.admin):
            raise CommandError("admin_only")  # before parsing: strangers learn nothing of the grammar
        await self._run(req, parse_admin(argument, mentioned.key if mentioned else None))

    @answers_errors
    async def command(self, req: Request, command: AdminCommand) -> None:
        """`/admin …` with typed options (Discord)."""
        await self._run(req, command)

    async def _run(self, req: Request, command: AdminCommand) -> None:
        """Refused to non-admins in plain words; everything else in `AdminTools`."""
        if not roles.is_admin(req, self.config.admin):
            raise CommandError("admin_only")
        everywhere = roles.is_owner(req, self.config.admin)
        # A chat's admins act on their chat; on Discord, on their whole server.
        result = await self.rooms.admin_tools.execute(
            req.user.key, req.chat.scope_key, command, req.user.locale, everywhere=everywhere
        )
        await self.reply(req, result.text, private=True)


def watch(dead_tasks: list[str], name: str, task: asyncio.Future[Any]) -> None:
    """A core task that ends on an error: said in the log by name, and `/healthz` turns 503."""
    if task.cancelled() or task.exception() is None:
        return
    dead_tasks.append(name)
    log.error("core task %r died: %r; the bot is unhealthy until restarted", name, task.exception())


class VideoService:
    """Platform-neutral bot: what adapters call, each call answered by the room that owns it."""

    def __init__(
        self,
        config: Config,
        store: Store,
        backend: RenderBackend,
        *,
        fit: Fitter,
        stand_ins: Mapping[str, ClipIdentity] | None = None,
        clock: Clock = time.time,
        rng: random.Random | None = None,
        check_clip: ClipChecker | None = None,
        pictures: PictureGate | None = None,
        executors: Executors | None = None,
        links: WebLinks | None = None,
        writer: PromptRewriter | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.backend = backend
        self.clock = clock
        self.rooms = wire(
            config, store, backend, fit=fit, stand_ins=stand_ins, clock=clock, rng=rng,
            check_clip=check_clip, pictures=pictures, executors=executors, links=links, writer=writer,
        )  # fmt: skip
        self.challenge = ChallengeDesk(config, self.rooms)
        self.admin = AdminDesk(config, self.rooms)
        self.dead_tasks: list[str] = []  # core tasks that ended on an error (`/healthz` says 503)
        self.connected: set[str] = set()  # platforms that said they are up (`platform_ready`)

    # wiring and state --------------------------------------------------------------------

    def add_outbox(self, platform: str, outbox: Outbox) -> None:
        self.rooms.notifier.add(platform, outbox)

    @property
    def job_finished(self) -> asyncio.Event:
        return self.rooms.endings.job_finished

    def status(self) -> BotStatus:
        """What `/healthz`, the front page and `/metrics` show; never raises."""
        try:
            waiting: int | None = self.store.jobs.waiting_count()
        except Exception:
            log.warning("status: the database does not answer", exc_info=True)
            waiting = None
        model = self.rooms.models.identity(self.config.default_model).name  # what its clips are signed as
        return BotStatus(
            database=waiting is not None,
            waiting=waiting,
            rendering=len(self.rooms.running),
            model=model,
            model_loaded=self.backend.loaded,
            model_problem=self.backend.problem,
            platforms=tuple(sorted(self.connected)),
            disconnected=tuple(sorted(self.config.chat_platforms - self.connected)),
            models_loaded=models_loaded(self.config, self.backend, model),
            dead_tasks=tuple(self.dead_tasks),
            warm=self.backend.warmth(),
        )

    async def reply(self, req: Request, text: str, *, private: bool = False) -> str | None:
        return await self.rooms.notifier.reply(req, text, private=private)

    def open_to_everyone(self, chat: ChatRef) -> bool:
        """Whether `/video` here is for everyone (or, switched off, for the chat's admins only)."""
        return self.store.chats.get(chat.scope_key).enabled

    def job_for_message(self, chat: ChatRef, message_ref: str) -> Job | None:
        return self.rooms.commands.job_for_message(chat, message_ref)

    def recent_jobs(self, user: UserRef, limit: int = 10) -> list[Job]:
        """A user's latest jobs, newest first (Discord's autocomplete)."""
        return self.rooms.commands.recent_jobs(user, limit)

    # commands ------------------------------------------------------------------------------

    @answers_errors
    async def video_text(
        self, req: Request, argument: str, based_on: Job | None = None, picture: Upload | None = None
    ) -> Job | None:
        """`/video` from a text platform: parse, then as `video`; `picture` is a photo to animate."""
        return await self.rooms.commands.video_text(req, parse_video_text(argument), based_on, picture)

    @answers_errors
    async def video(
        self, req: Request, args: VideoArgs, parent_id: int | None = None, picture: Upload | None = None
    ) -> Job | None:
        return await self.rooms.admission.submit(req, args, parent_id=parent_id, picture=picture)

    @answers_errors
    async def extend_text(self, req: Request, argument: str, replied: Job | None = None) -> Job | None:
        """`/extend [id] [prompt] [--smooth] [--hd]` (a reply to a clip names it): a continuation,
        docs/extend.md."""
        return await self.rooms.commands.extend_text(req, argument, replied)

    @answers_errors
    async def extend(
        self,
        req: Request,
        job_ref: str | int,
        prompt: str | None = None,
        *,
        smooth: bool = False,
        hd: bool = False,
    ) -> Job | None:
        """Discord's `/extend` and the console's: the clip by its id (`smooth`/`hd`: its options)."""
        commands = self.rooms.commands
        return await commands.extend(req, commands.find_job(req, job_ref), prompt, smooth=smooth, hd=hd)

    @answers_errors
    async def cancel(self, req: Request, job_ref: str | None = None) -> None:
        await self.rooms.commands.cancel(req, job_ref)

    @answers_errors
    async def queue_status(self, req: Request) -> None:
        await self.rooms.commands.queue_status(req)

    @answers_errors
    async def quota(self, req: Request) -> None:
        await self.rooms.commands.quota(req)

    @answers_errors
    async def info(self, req: Request, job_ref: str | int | None = None) -> None:
        await self.rooms.commands.info(req, job_ref)

    @answers_errors
    async def list_models(self, req: Request) -> None:
        """`/models`: the models, their licences and defaults, which is loaded."""
        await self.rooms.commands.list_models(req)

    @answers_errors
    async def verify(self, req: Request, upload: Upload | None) -> None:
        """A clip sent back to the bot: who signed it, and whether it changed since."""
        limit = self.config.provenance.max_verify_mb
        if upload is None:
            raise CommandError("verify_how")
        if self.rooms.check_clip is None:
            raise CommandError("verify_off")
        if upload.size > limit * 1_000_000:
            raise CommandError("verify_too_big", limit=limit)
        try:  # the pace and the room in the pool before anything is downloaded
            self.rooms.untrusted_checks.ready(req.user.key)
        except TooSoon as soon:
            raise CommandError("verify_too_soon", seconds=max(1, round(soon.wait_s))) from None
        except Busy:
            raise CommandError("verify_busy") from None
        clip = await upload.fetch()
        if len(clip) > limit * 1_000_000:
            raise CommandError("verify_too_big", limit=limit)
        try:
            check = await self.rooms.untrusted_checks.run(req.user.key, self.rooms.check_clip, clip)
        except TooSoon as soon:
            raise CommandError("verify_too_soon", seconds=max(1, round(soon.wait_s))) from None
        except Busy:
            raise CommandError("verify_busy") from None
        except TimeoutError:
            raise CommandError("verify_too_slow") from None
        await self.reply(req, credentials_report(check, req.user.locale))

    @answers_errors
    async def help(self, req: Request) -> None:
        await self.rooms.commands.help(req)

    @answers_errors
    async def draft_button(self, req: Request, action: str, draft_ref: str | None) -> None:
        """The console's `/render`, `/mine`, `/again [draft]`: that draft, or this person's latest."""
        if draft_ref is not None:
            draft_id = parse_job_id(draft_ref)
        elif (latest := self.store.drafts.latest(req.user.key)) is not None:
            draft_id = latest.id
        else:
            raise CommandError("draft_gone")
        await self.rooms.admission.press_draft(req, ButtonAction(action), draft_id)

    @answers_errors
    async def button(self, req: Request, action: str, job_id: int) -> None:
        if action in DRAFT_ACTIONS:  # under a rewrite shown before its render: `job_id` is the draft's
            await self.rooms.admission.press_draft(req, ButtonAction(action), job_id)
            return
        to_vote_on = await self.rooms.commands.button(req, action, job_id)
        if to_vote_on is not None:
            await self.rooms.challenges.vote(req, to_vote_on)

    # lifecycle -------------------------------------------------------------------------------

    async def recover(self) -> None:
        await self.rooms.housekeeping.recover()

    async def platform_ready(self, platform: str) -> None:
        self.connected.add(platform)
        await self.rooms.housekeeping.platform_ready(platform)

    async def run_worker(self) -> None:
        """The backend, the dispatcher that feeds it in fair order, and housekeeping, until `stop()`."""
        rooms = self.rooms
        backend = asyncio.ensure_future(self.backend.run(rooms.events.emit))
        # Loops that live as long as the worker, not sends: `drain` must not count them as dropped.
        housekeeping = asyncio.ensure_future(rooms.housekeeping.run())
        backend.add_done_callback(functools.partial(watch, self.dead_tasks, "render backend"))
        housekeeping.add_done_callback(functools.partial(watch, self.dead_tasks, "housekeeping"))
        broken_models = asyncio.ensure_future(rooms.runner.watch_broken_models())
        warming = (
            asyncio.ensure_future(rooms.admission.writer.warm())
            if isinstance(rooms.admission.writer, WriterSlot)
            else None
        )
        try:
            await rooms.runner.dispatch()
            await backend
        finally:
            housekeeping.cancel()
            broken_models.cancel()
            if warming is not None:
                warming.cancel()
            if not backend.done():
                backend.cancel()

    def stop(self) -> None:
        """Stop dispatching; running renders end after their current step and go back in line."""
        self.rooms.challenges.disarm()
        self.rooms.boards.stop()
        self.rooms.runner.stop()

    async def drain(self, timeout: float | None = None) -> None:
        """Wait for background sends (progress edits, deliveries) to finish, at most `timeout` s:
        what is left is dropped (a clip not yet sent stays `delivering` and goes at the next start)."""
        dropped = await self.rooms.tasks.drain(timeout)
        if dropped:
            log.warning(
                "stopping: %d pending sends dropped (clips not yet sent go at the next start)", dropped
            )


def models_loaded(config: Config, backend: RenderBackend, default: str) -> dict[str, bool]:
    """Each configured model's key → whether it is in memory now."""
    resident = backend.model_state().resident
    return {settings.key: name in resident for name, settings in config.model_settings.items()}


__all__ = ["AdminDesk", "ChallengeDesk", "Replies", "VideoService", "answers_errors", "watch"]
