"""The core's front door: every call an adapter makes, written once for every platform.

`VideoService` builds the rooms (admission, commands, challenges, admin, job runner,
delivery, progress, ETA, housekeeping) from the store and a render backend, subscribes
them to the backend's events, and delegates.  Each adapter-facing method turns bad input
into its sentence and surprises into an apology, never a traceback.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from bot.config import Config
from bot.core import messages, roles
from bot.core.admin import AdminCommand, AdminTools, parse_admin
from bot.core.admission import Admission
from bot.core.boards import GroupBoards
from bot.core.challenges import Challenges, StartArgs
from bot.core.commands import Commands
from bot.core.credentials import ClipChecker, Upload, credentials_report
from bot.core.delivery import Deliveries, Fitter
from bot.core.endings import Endings, RunningJobs
from bot.core.eta import Eta
from bot.core.events import RenderEvents
from bot.core.housekeeping import Housekeeping
from bot.core.jobs import JobRunner
from bot.core.models import Models
from bot.core.notify import Notifier
from bot.core.observe import Tally
from bot.core.parsing import CommandError, VideoArgs, parse_video_text
from bot.core.pictures import PictureGate
from bot.core.ports import Clock, Outbox, RenderBackend
from bot.core.progress import ProgressBoard
from bot.core.queue import JobQueue
from bot.core.quota import quota_day
from bot.core.tasks import Tasks
from bot.core.types import ChatRef, Job, Request, UserRef
from bot.store import Store

log = logging.getLogger(__name__)

R = TypeVar("R")


def answers_errors(method: Callable[..., Awaitable[R]]) -> Callable[..., Awaitable[R | None]]:
    """Turn bad input into its sentence and surprises into an apology, never a traceback."""

    @functools.wraps(method)
    async def wrapper(self: VideoService, req: Request, *args: Any, **kwargs: Any) -> R | None:
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


class VideoService:
    """Platform-neutral bot: what adapters call, delegated to the room that owns it."""

    def __init__(
        self,
        config: Config,
        store: Store,
        backend: RenderBackend,
        *,
        model: str,
        fit: Fitter,
        clock: Clock = time.time,
        rng: random.Random | None = None,
        check_clip: ClipChecker | None = None,
        pictures: PictureGate | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.backend = backend
        self.model = model
        self.clock = clock
        rng = rng or random.Random()
        self.tasks = Tasks()
        self.tally = Tally()  # counts for whoever listens (the web side's /metrics)
        self.connected: set[str] = set()  # platforms that said they are up (`platform_ready`)
        self.notifier = Notifier(store)
        self.queue = JobQueue(store)
        self.running = RunningJobs(backend.cancel)
        self.models = Models(config, store)
        self.endings = Endings(store, self.notifier, self.running)
        self.runner = JobRunner(
            store, self.queue, backend, self.running, self.endings, self.tasks,
            clock=clock, max_model_wait_s=config.render.max_model_wait_s,
            recheck_s=config.queue.model_retry_s, model_name=self.models.name_of,
        )  # fmt: skip
        self.eta = Eta(store, self.queue, self.running)
        self.boards = GroupBoards(config.queue, store, self.notifier, self.queue, self.running, self.tasks)
        self.progress = ProgressBoard(config.queue, self.notifier, self.running, self.tasks, self.boards)
        self.deliveries = Deliveries(
            config.queue, store, self.notifier, self.endings, self.progress, self.queue, self.tasks, fit,
            clock, self.boards, tally=self.tally, model_label=self.models.label,
            extendable=self.models.takes_pictures,
        )  # fmt: skip
        self.admission = Admission(
            config, store, self.notifier, self.queue, self.eta, backend, self.runner.wake, clock, rng,
            self.models, self.boards, self.tally, pictures,
        )  # fmt: skip
        self.commands = Commands(
            config, store, self.notifier, self.admission, self.endings, self.running, self.queue, self.eta,
            clock, rng, self.models, backend, check_clip,
        )  # fmt: skip
        self.check_clip = check_clip
        self.challenges = Challenges(
            config, store, self.notifier, self.admission, self.endings, self.tasks, clock
        )
        self.admin_tools = AdminTools(store, config, self.endings, clock, self.models)
        self.housekeeping = Housekeeping(
            config, store, self.queue, self.notifier, self.endings, self.deliveries, self.tasks, clock,
            self.challenges.rearm,
        )  # fmt: skip
        self.events = RenderEvents()
        for room in (self.runner, self.eta, self.progress, self.deliveries):
            self.events.subscribe(room.on_event)

    # wiring and state --------------------------------------------------------------------

    def add_outbox(self, platform: str, outbox: Outbox) -> None:
        self.notifier.add(platform, outbox)

    @property
    def job_finished(self) -> asyncio.Event:
        return self.endings.job_finished

    @property
    def model_error(self) -> str | None:
        return self.backend.problem

    def quota_day(self) -> str:
        return quota_day(self.clock(), self.config.quota)

    def is_admin(self, req: Request) -> bool:
        return roles.is_admin(req, self.config.admin)

    async def reply(self, req: Request, text: str, *, private: bool = False) -> str | None:
        return await self.notifier.reply(req, text, private=private)

    def open_to_everyone(self, chat: ChatRef) -> bool:
        """Whether `/video` here is for everyone (or, switched off, for the chat's admins only)."""
        return self.store.chats.get(chat.scope_key).enabled

    def job_for_message(self, chat: ChatRef, message_ref: str) -> Job | None:
        return self.commands.job_for_message(chat, message_ref)

    def recent_jobs(self, user: UserRef, limit: int = 10) -> list[Job]:
        """A user's latest jobs, newest first (Discord's autocomplete)."""
        return self.commands.recent_jobs(user, limit)

    # commands ------------------------------------------------------------------------------

    @answers_errors
    async def video_text(
        self, req: Request, argument: str, based_on: Job | None = None, picture: Upload | None = None
    ) -> Job | None:
        """`/video` from a text platform: parse, then as `video`; `picture` is a photo to animate."""
        return await self.commands.video_text(req, parse_video_text(argument), based_on, picture)

    @answers_errors
    async def video(
        self, req: Request, args: VideoArgs, parent_id: int | None = None, picture: Upload | None = None
    ) -> Job | None:
        return await self.admission.submit(req, args, parent_id=parent_id, picture=picture)

    @answers_errors
    async def extend_text(self, req: Request, argument: str, replied: Job | None = None) -> Job | None:
        """`/extend [id] [prompt]` (a reply to a clip names it): a continuation, docs/extend.md."""
        return await self.commands.extend_text(req, argument, replied)

    @answers_errors
    async def extend(self, req: Request, job_ref: str | int, prompt: str | None = None) -> Job | None:
        """Discord's `/extend` and the console's: the clip by its id."""
        return await self.commands.extend(req, self.commands.find_job(req, job_ref), prompt)

    @answers_errors
    async def cancel(self, req: Request, job_ref: str | None = None) -> None:
        await self.commands.cancel(req, job_ref)

    @answers_errors
    async def queue_status(self, req: Request) -> None:
        await self.commands.queue_status(req)

    @answers_errors
    async def quota(self, req: Request) -> None:
        await self.commands.quota(req)

    @answers_errors
    async def info(self, req: Request, job_ref: str | int | None = None) -> None:
        await self.commands.info(req, job_ref)

    @answers_errors
    async def list_models(self, req: Request) -> None:
        """`/models`: the models, their licences and defaults, which is loaded."""
        await self.commands.list_models(req)

    @answers_errors
    async def verify(self, req: Request, upload: Upload | None) -> None:
        """A clip sent back to the bot: who signed it, and whether it changed since."""
        limit = self.config.provenance.max_verify_mb
        if upload is None:
            raise CommandError("verify_how")
        if self.check_clip is None:
            raise CommandError("verify_off")
        if upload.size > limit * 1_000_000:
            raise CommandError("verify_too_big", limit=limit)
        clip = await upload.fetch()
        if len(clip) > limit * 1_000_000:
            raise CommandError("verify_too_big", limit=limit)
        check = await asyncio.to_thread(self.check_clip, clip)
        await self.reply(req, credentials_report(check, req.user.locale))

    @answers_errors
    async def help(self, req: Request) -> None:
        await self.commands.help(req)

    @answers_errors
    async def button(self, req: Request, action: str, job_id: int) -> None:
        to_vote_on = await self.commands.button(req, action, job_id)
        if to_vote_on is not None:
            await self.challenges.vote(req, to_vote_on)

    @answers_errors
    async def challenge(self, req: Request, argument: str) -> None:
        """`/challenge start|enter|status|end|cancel …` as typed."""
        await self.challenges.command(req, argument)

    @answers_errors
    async def challenge_start(self, req: Request, args: StartArgs) -> None:
        await self.challenges.start(req, args)

    @answers_errors
    async def challenge_enter(self, req: Request, args: VideoArgs) -> None:
        await self.challenges.enter(req, args)

    @answers_errors
    async def challenge_status(self, req: Request) -> None:
        await self.challenges.status(req)

    @answers_errors
    async def challenge_stop(self, req: Request, *, cancel: bool) -> None:
        await self.challenges.stop(req, cancel=cancel)

    @answers_errors
    async def leaderboard(self, req: Request) -> None:
        await self.challenges.leaderboard(req)

    @answers_errors
    async def admin(self, req: Request, argument: str, mentioned: UserRef | None = None) -> None:
        """`/admin …` as typed; the user it is about may be `mentioned` (a reply, a mention)."""
        if not roles.is_admin(req, self.config.admin):
            raise CommandError("admin_only")  # before parsing: strangers learn nothing of the grammar
        await self._admin(req, parse_admin(argument, mentioned.key if mentioned else None))

    @answers_errors
    async def admin_command(self, req: Request, command: AdminCommand) -> None:
        """`/admin …` with typed options (Discord)."""
        await self._admin(req, command)

    async def _admin(self, req: Request, command: AdminCommand) -> None:
        """Refused to non-admins in plain words; everything else in `AdminTools`."""
        if not roles.is_admin(req, self.config.admin):
            raise CommandError("admin_only")
        everywhere = roles.is_owner(req, self.config.admin)
        # A chat's admins act on their chat; on Discord, on their whole server.
        result = await self.admin_tools.execute(
            req.user.key, req.chat.scope_key, command, req.user.locale, everywhere=everywhere
        )
        await self.reply(req, result.text, private=True)

    # lifecycle -------------------------------------------------------------------------------

    async def recover(self) -> None:
        await self.housekeeping.recover()

    async def platform_ready(self, platform: str) -> None:
        self.connected.add(platform)
        await self.housekeeping.platform_ready(platform)

    async def run_housekeeping_round(self) -> None:
        """One round now: send what is due, tell what is pending, forget what is too old."""
        await self.housekeeping.round()

    def forget_old_data(self) -> None:
        self.housekeeping.forget_old_data()

    async def run_worker(self) -> None:
        """The backend, the dispatcher that feeds it in fair order, and housekeeping, until `stop()`."""
        backend = asyncio.ensure_future(self.backend.run(self.events.emit))
        housekeeping = self.tasks.spawn(self.housekeeping.run())
        try:
            await self.runner.dispatch()
            await backend
        finally:
            housekeeping.cancel()
            if not backend.done():
                backend.cancel()

    def stop(self) -> None:
        """Stop dispatching; running renders end after their current step and go back in line."""
        self.challenges.disarm()
        self.boards.stop()
        self.runner.stop()

    async def drain(self) -> None:
        """Wait for background sends (progress edits, deliveries) to finish."""
        await self.tasks.drain()


__all__ = ["VideoService", "answers_errors"]
