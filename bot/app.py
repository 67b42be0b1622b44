"""Wiring, and the only place for it: config → store, render backend, core, and the
platforms that are switched on (each adapter's outbox registered with the core here)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import TYPE_CHECKING, Any, TextIO

from bot.config import Config
from bot.core.ports import Clock
from bot.core.service import VideoService
from bot.dispatch.local import LocalBackend
from bot.encode import fit_to_size
from bot.provenance import ContentCredentials, check_clip
from bot.render import ModelPool, Renderer
from bot.store import DB_FILE, Store

if TYPE_CHECKING:
    from bot.web import WebSide

log = logging.getLogger(__name__)


class StartupError(Exception):
    """Something the bot needs at start-up is not there; the message is one line for the owner."""


PlatformRunner = Callable[[VideoService, asyncio.Event], Coroutine[Any, Any, None]]

PLATFORM_RETRY_FIRST_S = 1.0  # a platform that cannot connect is tried again after this, doubling…
PLATFORM_RETRY_MAX_S = 300.0  # …up to this


def is_network_error(error: BaseException) -> bool:
    """A passing network problem (no route, DNS, a timeout): worth trying again. A refusal (a
    rejected token, missing intents) is not: it stops the bot with its reason."""
    import aiohttp
    import discord
    import httpx
    from telegram.error import NetworkError as TelegramNetworkError

    passing = (OSError, TimeoutError, httpx.TransportError, TelegramNetworkError)
    return isinstance(error, (*passing, aiohttp.ClientConnectionError, discord.GatewayNotFound))


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
            why = _redacted(first_line, service.config)
            log.warning("%s: cannot connect (%s); trying again in %.0f s", name, why, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, max_s)


def build_service(
    config: Config,
    *,
    model_source: str | None = None,
    renderer: Renderer | None = None,
    clock: Clock = time.time,
    rng: random.Random | None = None,
) -> VideoService:
    """The core over SQLite and the in-process render backend, signing every clip it makes.

    `renderer` (tests, benchmarks) or `model_source` (the console's tiny fallback) stands
    in for the default model; the other configured models get renderers of their own.
    """
    store = Store(config.data_dir / DB_FILE, clock, busy_timeout_ms=config.storage.busy_timeout_ms)
    default = config.default_model
    if config.queue.backend == "saq":  # renders on `videobot worker` processes, through Redis
        from bot.dispatch.saq_backend import SaqBackend

        credentials = ContentCredentials.from_config(config, model_source or config.model_source)
        remote = SaqBackend(config, config.data_dir / "clips", credentials=credentials)
        fit = functools.partial(fit_to_size, credentials=credentials)
        shown = (model_source or config.model_source) if config.model_settings[default].legacy else default
        return VideoService(
            config, store, remote, model=shown, fit=fit, clock=clock, rng=rng, check_clip=check_clip
        )
    renderers = {
        name: Renderer.for_model(settings, config.render) for name, settings in config.model_settings.items()
    }
    if renderer is None and model_source is not None and model_source != config.model_source:
        settings = config.model_settings[default]
        renderer = Renderer(
            model_source, device=settings.device, cpu_threads=settings.cpu_threads, tuning=config.render
        )
    if renderer is not None:
        renderers[default] = renderer
    pool = ModelPool(renderers, config.render.keep_loaded)
    credentials = ContentCredentials.from_config(config, renderers[default].source)
    backend = LocalBackend(
        pool,
        config.data_dir / "clips",
        config.video,
        model_retry_s=config.queue.model_retry_s,
        config=config,
        default_model=default,
        credentials=credentials,
    )
    fit = functools.partial(fit_to_size, credentials=credentials)
    # what the web side shows: a lone [model] by what really renders (the tiny stand-in says so)
    shown = renderers[default].source if config.model_settings[default].legacy else default
    return VideoService(
        config, store, backend, model=shown, fit=fit, clock=clock, rng=rng, check_clip=check_clip
    )


def enabled_platforms(config: Config, web: WebSide | None = None) -> dict[str, PlatformRunner]:
    """The adapters switched on in config; imported lazily so each stays optional.  With the web
    side on, Telegram's webhook (if any) is served by its runner."""
    runners: dict[str, PlatformRunner] = {}
    if config.telegram.enabled:
        runners["telegram"] = functools.partial(run_telegram, web=web)
    if config.discord.enabled:
        runners["discord"] = run_discord
    return runners


async def run_telegram(service: VideoService, stop: asyncio.Event, web: WebSide | None = None) -> None:
    """The Telegram side until `stop` is set: long polling, or a webhook if configured."""
    from bot import telegram_adapter

    bot = telegram_adapter.TelegramBot(service, service.config, web)
    service.add_outbox(telegram_adapter.PLATFORM, bot.outbox)
    await bot.run(stop)


async def run_discord(service: VideoService, stop: asyncio.Event) -> None:
    """The Discord side until `stop` is set (discord.py reconnects by itself)."""
    from bot import discord_adapter

    discord_adapter.point_at(service.config.discord)
    client = discord_adapter.VideoBotClient(service)
    service.add_outbox(discord_adapter.PLATFORM, client.outbox)
    await discord_adapter.run_client(client, service.config.secrets.discord_token, stop)


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
        service.stop()
        if not worker.done():
            try:
                await asyncio.wait_for(worker, timeout=60)
            except TimeoutError:
                worker.cancel()
        await service.drain()
        service.store.close()


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


def stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)


async def run_bot(config: Config) -> int:
    """`videobot run`: every enabled platform plus the worker, until SIGINT/SIGTERM.

    Returns the exit status: 0 when stopped by a signal, 1 when a platform or the worker
    stopped on its own (a rejected token, say), after saying why in one line.
    """
    service = build_service(config)
    stop = asyncio.Event()
    stop_on_signals(stop)
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
            why = _redacted(str(task.exception() or "ended unexpectedly"), config)
            print(f"videobot: {task.get_name()} stopped: {why}", file=sys.stderr)
        # The worker stops first (the running job goes back to the queue), then the chats.
        service.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(worker), timeout=60)
        await service.drain()
        platforms_stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        waiter.cancel()
    return status


def _redacted(text: str, config: Config) -> str:
    """Tokens never reach logs, even inside a library's error message."""
    for name, secret in (
        ("TELEGRAM_TOKEN", config.secrets.telegram_token),
        ("DISCORD_TOKEN", config.secrets.discord_token),
        ("VIDEOBOT_WORKER_SECRET", config.secrets.worker_secret),
    ):
        if secret:
            text = text.replace(secret, f"${name}")
    return text
