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
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Concatenate, ParamSpec, TypeVar

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
from bot.core.executors import Busy, Executors, TooSoon, UntrustedChecks
from bot.core.housekeeping import Housekeeping
from bot.core.jobs import JobRunner
from bot.core.models import Models
from bot.core.notify import Notifier
from bot.core.observe import Tally
from bot.core.parsing import CommandError, VideoArgs, parse_video_text
from bot.core.pictures import PictureGate
from bot.core.ports import Clock, ModelAware, Outbox, RenderBackend
from bot.core.progress import ProgressBoard
from bot.core.queue import JobQueue
from bot.core.quota import quota_day
from bot.core.status import BotStatus
from bot.core.tasks import Tasks
from bot.core.types import ChatRef, Job, Request, UserRef
from bot.pipelines.spec import ClipIdentity
from bot.store import Store

log = logging.getLogger(__name__)

R = TypeVar("R")
P = ParamSpec("P")
S = TypeVar("S", bound="VideoService")


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


class VideoService:
    """Platform-neutral bot: what adapters call, delegated to the room that owns it."""

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
    ) -> None:
        self.config = config
        self.executors = executors or Executors.sized(config.provenance)
        self.untrusted_checks = UntrustedChecks(self.executors.untrusted, config.provenance)
        self.store = store
        self.backend = backend
        self.clock = clock
        rng = rng or random.Random()
        self.tasks = Tasks()
        self.dead_tasks: list[str] = []  # core tasks that ended on an error (`/healthz` says 503)
        self.tally = Tally()  # counts for whoever listens (the web side's /metrics)
        self.connected: set[str] = set()  # platforms that said they are up (`platform_ready`)
        self.notifier = Notifier(store)
        self.queue = JobQueue(store)
        self.running = RunningJobs(backend.cancel)
        self.models = Models(config, store, stand_ins or {})
        self.endings = Endings(store, self.notifier, self.running)
        self.runner = JobRunner(
            store, self.queue, backend, self.running, self.endings, self.tasks,
            clock=clock, max_model_wait_s=config.render.max_model_wait_s,
            recheck_s=config.queue.model_retry_s, models=self.models,
            model_missing_wait_s=config.queue.model_missing_wait_s,
        )  # fmt: skip
        self.eta = Eta(store, self.queue, self.running)
        self.boards = GroupBoards(config.queue, store, self.notifier, self.queue, self.running, self.tasks)
        self.progress = ProgressBoard(config.queue, self.notifier, self.running, self.tasks, self.boards)
        self.deliveries = Deliveries(
            config.queue, store, self.notifier, self.endings, self.progress, self.queue, self.tasks, fit,
            clock, self.boards, tally=self.tally, model_label=self.models.label,
            pool=self.executors.delivery,
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
    def model(self) -> str:
        """The default model as the web side names it: what its clips are signed as."""
        return self.models.identity(self.config.default_model).name

    @property
    def model_error(self) -> str | None:
        return self.backend.problem

    def status(self) -> BotStatus:
        """What `/healthz`, the front page and `/metrics` show; never raises."""
        try:
            waiting: int | None = self.store.jobs.waiting_count()
        except Exception:
            log.warning("status: the database does not answer", exc_info=True)
            waiting = None
        warmth = getattr(self.backend, "warmth", None)  # backends that load models say how long it took
        return BotStatus(
            database=waiting is not None,
            waiting=waiting,
            rendering=len(self.running),
            model=self.model,
            model_loaded=self.backend.loaded,
            model_problem=self.backend.problem,
            platforms=tuple(sorted(self.connected)),
            disconnected=tuple(sorted(self.config.chat_platforms - self.connected)),
            models_loaded=self._models_loaded(),
            dead_tasks=tuple(self.dead_tasks),
            warm=warmth() if callable(warmth) else {},
        )

    def _models_loaded(self) -> dict[str, bool]:
        if not isinstance(self.backend, ModelAware):
            return {self.model: self.backend.loaded}
        resident = self.backend.model_state().resident
        return {settings.key: name in resident for name, settings in self.config.model_settings.items()}

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
        try:
            check = await self.untrusted_checks.run(req.user.key, self.check_clip, clip)
        except TooSoon as soon:
            raise CommandError("verify_too_soon", seconds=max(1, round(soon.wait_s))) from None
        except Busy:
            raise CommandError("verify_busy") from None
        except TimeoutError:
            raise CommandError("verify_too_slow") from None
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
        backend.add_done_callback(functools.partial(self._watch, "render backend"))
        housekeeping.add_done_callback(functools.partial(self._watch, "housekeeping"))
        broken_models = self.tasks.spawn(self.runner.watch_broken_models())
        try:
            await self.runner.dispatch()
            await backend
        finally:
            housekeeping.cancel()
            broken_models.cancel()
            if not backend.done():
                backend.cancel()

    def _watch(self, name: str, task: asyncio.Future[Any]) -> None:
        """A core task that ends on an error: said in the log by name, and `/healthz` turns 503."""
        if task.cancelled() or task.exception() is None:
            return
        self.dead_tasks.append(name)
        log.error("core task %r died: %r; the bot is unhealthy until restarted", name, task.exception())

    def stop(self) -> None:
        """Stop dispatching; running renders end after their current step and go back in line."""
        self.challenges.disarm()
        self.boards.stop()
        self.runner.stop()

    async def drain(self, timeout: float | None = None) -> None:
        """Wait for background sends (progress edits, deliveries) to finish, at most `timeout` s:
        what is left is dropped (a clip not yet sent stays `delivering` and goes at the next start)."""
        dropped = await self.tasks.drain(timeout)
        if dropped:
            log.warning(
                "stopping: %d pending sends dropped (clips not yet sent go at the next start)", dropped
            )


__all__ = ["VideoService", "answers_errors"]
