"""Wiring, and the only place for it: config → store, render backend, core, and the
platforms that are switched on (each adapter's outbox registered with the core here)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import random
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import TYPE_CHECKING, Any, TextIO

from bot.core.executors import Executors
from bot.core.ports import Clock, RenderBackend
from bot.core.service import VideoService
from bot.dispatch.local import LocalBackend
from bot.encode import fit_to_size
from bot.enhance.slot import WriterSlot
from bot.enhance.writer import PromptWriter
from bot.listen import OncePerWindow, raise_open_files_limit
from bot.pipelines.spec import ClipIdentity
from bot.post import PostEngine
from bot.provenance import ContentCredentials, check_clip
from bot.render import ModelPool, Renderer, model_renderer, stand_in_identity
from bot.rendering.tuning import gives_way_under_memory_pressure
from bot.settings.platforms import PLATFORMS, Platform, redact
from bot.settings.root import Config
from bot.signals import stop_on_signals
from bot.store import DB_FILE, Store
from bot.web.links import PublicLinks

if TYPE_CHECKING:
    from bot.core.pictures import PictureGate
    from bot.web import WebSide

log = logging.getLogger(__name__)


class StartupError(Exception):
    """Something the bot needs at start-up is not there; the message is one line for the owner."""


# A stop ends within STOP_WITHIN_S (container runtimes send SIGKILL at 10 s): the render stops
# after its step, pending sends are dropped (clips stay `delivering` for the next start), and
# the platforms close their connections.
STOP_WORKER_S = 3.0
STOP_SENDS_S = 1.0
STOP_PLATFORMS_S = 2.0
STOP_CLOSING_S = 1.0  # each: a cancelled worker's, a cancelled platform's last await; threads ending
STOP_WITHIN_S = STOP_WORKER_S + STOP_SENDS_S + STOP_PLATFORMS_S + 3 * STOP_CLOSING_S

PlatformRunner = Callable[[VideoService, asyncio.Event], Coroutine[Any, Any, None]]

PLATFORM_RETRY_FIRST_S = 1.0  # a platform that cannot connect is tried again after this, doubling…
PLATFORM_RETRY_MAX_S = 300.0  # …up to this


def is_network_error(error: BaseException) -> bool:
    """A passing network problem (no route, DNS, a timeout): worth trying again. A refusal (a
    rejected token, missing intents) is not: it stops the bot with its reason."""
    passing: tuple[type[BaseException], ...] = (OSError, TimeoutError)
    for platform in PLATFORMS:
        passing += platform.error_types()
    return isinstance(error, passing)


async def keep_connecting(
    name: str,
    run: PlatformRunner,
    service: VideoService,
    stop: asyncio.Event,
    *,
    first_s: float = PLATFORM_RETRY_FIRST_S,
    max_s: float = PLATFORM_RETRY_MAX_S,
) -> None:
    """Run a platform; when the network keeps it from connecting (or drops it), try again with
    backoff while the web side and the worker keep running, shown as disconnected meanwhile."""
    delay = first_s
    while not stop.is_set():
        try:
            await run(service, stop)
            return
        except Exception as error:
            if stop.is_set() or not is_network_error(error):
                raise
            service.connected.discard(name)
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
            why = redact(first_line, service.config.secrets)
            log.warning("%s: cannot connect (%s); trying again in %.0f s", name, why, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, max_s)


def picture_gate(config: Config, credentials: ContentCredentials) -> PictureGate | None:
    """Pictures to animate are checked (format, bounds, faces, credentials) and kept under
    `[storage] dir`/pictures; without the face detector pictures are refused, never let through."""
    from bot.core.pictures import PictureGate
    from bot.faces import FaceDetector, FaceDetectorUnavailable
    from bot.pictures import PictureInspector
    from bot.provenance.verify import check_picture, trust_anchors

    try:
        detector = FaceDetector.shared()
    except FaceDetectorUnavailable as error:
        log.error("pictures are off: %s", error)
        return None
    log.info("pictures: the face gate is on ([policy] faces = %s)", config.policy.faces)
    identity = credentials.identity
    anchors = trust_anchors(identity.chain_pem.decode()) if identity is not None else ""
    read = functools.partial(check_picture, own_anchors=anchors) if anchors else None
    inspect = PictureInspector(config.video.max_image_mb * 1_000_000, detector, read)
    return PictureGate(inspect, config.data_dir / "pictures")


def build_service(
    config: Config,
    *,
    model_source: str | None = None,
    renderer: Renderer | None = None,
    backend: RenderBackend | None = None,
    clock: Clock = time.time,
    rng: random.Random | None = None,
) -> VideoService:
    """The core over SQLite and the in-process render backend, signing every clip it makes.

    `renderer` (tests, benchmarks) or `model_source` (the console's tiny fallback) stands
    in for the default model; the other configured models get renderers of their own.
    `backend` replaces the render backend altogether (the tests' ports-level stub).
    """
    store = Store(
        config.data_dir / DB_FILE,
        clock,
        busy_timeout_ms=config.storage.busy_timeout_ms,
        model_keys=model_keys(config),
    )
    default = config.default_model
    credentials = ContentCredentials.from_config(config)
    fit = functools.partial(fit_to_size, credentials=credentials)
    executors = Executors.sized(config.provenance)  # renders, encodes, deliveries, /verify: apart
    stand_ins: dict[str, ClipIdentity] = {}
    if (
        backend is None and config.queue.backend == "saq"
    ):  # renders on `videobot worker` processes, through Redis
        from bot.dispatch.saq_backend import SaqBackend

        backend = SaqBackend(config, config.data_dir / "clips", credentials=credentials)
    elif backend is None:
        renderers = {
            name: Renderer.for_model(settings, config.render)
            for name, settings in config.model_settings.items()
        }
        if renderer is None and model_source is not None:
            renderer, _ = model_renderer(config.model_settings[default], model_source, config.render)
        if renderer is not None:
            renderers[default] = renderer
            if renderer.source != config.model_source:  # a stand-in names itself, never the configured model
                stand_ins[default] = stand_in_identity(renderer)
        backend = LocalBackend(
            ModelPool(renderers, config.render.keep_loaded),
            config.data_dir / "clips",
            config.video,
            model_retry_s=config.queue.model_retry_s,
            default_model=default,
            credentials=credentials,
            executors=executors,
            post=PostEngine(config.post, memory=config.render.memory),
        )
    service = VideoService(
        config, store, backend, fit=fit, stand_ins=stand_ins, clock=clock, rng=rng, check_clip=check_clip,
        pictures=picture_gate(config, credentials), executors=executors,
        links=PublicLinks(config.web, store), writer=remote_writer(config),
    )  # fmt: skip
    writer = service.rooms.admission.writer
    if isinstance(backend, LocalBackend) and isinstance(writer, WriterSlot):
        # a video model short of memory here has the prompt writer unloaded first, on its device
        gives_way_under_memory_pressure(writer.writer.give_way)
    return service


def remote_writer(config: Config) -> WriterSlot | None:
    """`[enhance] device = "worker"`: the slot that sends rewrites to the SAQ workers; None: here."""
    if config.enhance.mode == "off" or config.enhance.device != "worker":
        return None
    from bot.dispatch.rewrites import RemoteWriter

    remote = RemoteWriter(config.queue.redis_url, config.secrets.worker_secret, config.enhance.timeout_s)
    return WriterSlot(PromptWriter(config.enhance), remote=remote.write)


def model_keys(config: Config) -> dict[str, str]:
    """Each configured model's hub id and folder → the key its jobs store (for the migration that
    moves rows from before model names)."""
    return {
        alias: settings.key
        for settings in config.model_settings.values()
        for alias in (settings.id, settings.path)
        if alias
    }


def enabled_platforms(config: Config, web: WebSide | None = None) -> dict[str, PlatformRunner]:
    """The platforms switched on in config (`bot.settings.platforms`), each imported only when
    run, so each stays optional.  With the web side on, Telegram's webhook is served by its runner."""
    runners: dict[str, PlatformRunner] = {}
    for platform in PLATFORMS:
        if platform.enabled(config):
            runners[platform.name] = functools.partial(_run_platform, platform, web=web)
    return runners


async def _run_platform(
    platform: Platform, service: VideoService, stop: asyncio.Event, web: WebSide | None = None
) -> None:
    await platform.run_function()(service, stop, web)


async def run_console(
    service: VideoService, stdin: TextIO | None = None, stdout: TextIO | None = None, *, web: bool = False
) -> None:
    """The terminal as a chat, until /quit or the end of input (`web`: a group in the gallery)."""
    from bot import console_adapter

    outbox = console_adapter.ConsoleOutbox(stdout or sys.stdout)
    service.add_outbox(console_adapter.PLATFORM, outbox)
    await console_adapter.run_console(service, outbox, stdin, web=web)


@contextlib.asynccontextmanager
async def running_worker(service: VideoService) -> AsyncIterator[asyncio.Task[None]]:
    """Recover interrupted jobs, run the render worker, and stop it cleanly on exit.

    On exit the running render stops after its current step and goes back to the queue
    without counting as an attempt.
    """
    await service.recover()
    worker = asyncio.create_task(service.run_worker(), name="render-worker")
    try:
        yield worker
    finally:
        await stop_worker(service, worker)
        await service.drain(timeout=STOP_SENDS_S)
        service.store.close()
        service.rooms.executors.shutdown()  # idle threads end; a busy one: `leave_busy_threads`


async def stop_worker(service: VideoService, worker: asyncio.Task[None]) -> None:
    """Stop dispatching and give the running step STOP_WORKER_S to end (its job goes back in
    line); a longer one (a model still loading, a long step) is cancelled, its thread left to
    finish alone and its job recovered at the next start.  Once stopped, a second call returns at
    once: the stop's budget is spent once."""
    service.stop()
    if not worker.done():
        await asyncio.wait({worker}, timeout=STOP_WORKER_S)
    if not worker.done():
        worker.cancel()
        await asyncio.wait({worker}, timeout=STOP_CLOSING_S)  # it lands at the worker's next await


def leave_busy_threads(status: int, grace_s: float = STOP_CLOSING_S) -> int:
    """`status`, once the stopped bot's threads have ended, or at once after `grace_s`.

    A model load or a render step cannot be interrupted, and Python joins every pool's threads
    before it exits: a 30 s load would hold a stopped bot past a container runtime's SIGKILL
    (10 s).  A thread still busy is left behind and the process ends now; the store is closed and
    the thread's job goes back in line at the next start, as after a kill."""
    deadline = time.monotonic() + grace_s
    for thread in _other_threads():
        thread.join(max(0.0, deadline - time.monotonic()))
    busy = [thread.name for thread in _other_threads() if thread.is_alive()]
    if busy:
        log.info("stopping: not waiting for %s (a model load or a render step)", ", ".join(busy))
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    return status


def _other_threads() -> list[threading.Thread]:
    """The threads Python would wait for at exit."""
    main = threading.main_thread()
    return [t for t in threading.enumerate() if t is not main and not t.daemon and t.is_alive()]


@contextlib.asynccontextmanager
async def serving_web(service: VideoService, worker: asyncio.Task[None]) -> AsyncIterator[WebSide | None]:
    """The web side while the bot runs, if `[web] enabled`; it reports the worker's health."""
    if not service.config.web.enabled:
        yield None
        return
    from bot.web import WebSide

    web = WebSide(service, service.config, worker_alive=lambda: not worker.done())
    try:
        await web.start()
    except OSError as error:
        await web.stop()
        w = service.config.web
        raise StartupError(
            f"{service.config.source}: [web] cannot listen on {w.host}:{w.port} ({error.strerror or error})"
        ) from None
    try:
        yield web
    finally:
        await web.stop()


async def run_bot(config: Config) -> int:
    """`videobot run`: every enabled platform plus the worker, until SIGINT/SIGTERM.

    Returns the exit status: 0 when stopped by a signal, 1 when a platform or the worker
    stopped on its own (a rejected token, say), after saying why in one line.
    """
    service = build_service(config)
    stop = asyncio.Event()
    stop_on_signals(stop)
    log.info("open files limit: %d", raise_open_files_limit())
    logging.getLogger("asyncio").addFilter(OncePerWindow())  # no log storm when descriptors run short
    platforms_stop = asyncio.Event()
    async with running_worker(service) as worker, serving_web(service, worker) as web:
        platforms = enabled_platforms(config, web)
        tasks = [
            asyncio.create_task(keep_connecting(name, run, service, platforms_stop), name=name)
            for name, run in platforms.items()
        ]
        log.info("videobot running: %s", ", ".join(platforms) or "the web side and the render worker")
        waiter = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([waiter, worker, *tasks], return_when=asyncio.FIRST_COMPLETED)
        status = 0
        for task in done - {waiter}:
            status = 1
            why = redact(str(task.exception() or "ended unexpectedly"), config.secrets)
            print(f"videobot: {task.get_name()} stopped: {why}", file=sys.stderr)
        # The worker stops first (the running job goes back to the queue), then the chats; all of
        # it within STOP_WITHIN_S whatever is waiting (container runtimes kill at 10 s).
        await stop_worker(service, worker)
        await service.drain(timeout=STOP_SENDS_S)
        platforms_stop.set()
        _, late = await asyncio.wait(tasks, timeout=STOP_PLATFORMS_S) if tasks else (set(), set())
        for task in late:
            log.warning("stopping: %s did not stop in time; cancelled", task.get_name())
            task.cancel()
        if late:
            await asyncio.wait(late, timeout=STOP_CLOSING_S)
        for task in late:  # what a cancelled platform raised while closing: said once, here
            if task.done() and not task.cancelled() and (error := task.exception()) is not None:
                log.info("stopping: %s closed with %s", task.get_name(), redact(repr(error), config.secrets))
        waiter.cancel()
    return status
