"""Wiring: config → store, renderer, service, and the platforms that are switched on."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from bot.config import Config
from bot.core.service import VideoService
from bot.render import Renderer
from bot.store import DB_FILE, Store

log = logging.getLogger(__name__)

PlatformRunner = Callable[[VideoService, asyncio.Event], Coroutine[Any, Any, None]]


def build_service(config: Config, *, model_source: str | None = None) -> VideoService:
    store = Store(config.data_dir / DB_FILE)
    renderer = Renderer(
        model_source or config.model_source,
        device=config.model.device,
        cpu_offload=config.model.cpu_offload,
    )
    return VideoService(config, store, renderer)


def enabled_platforms(config: Config) -> dict[str, PlatformRunner]:
    """The adapters switched on in config; imported lazily so each stays optional."""
    runners: dict[str, PlatformRunner] = {}
    if config.telegram.enabled:
        from bot.telegram_adapter import run_telegram

        runners["telegram"] = run_telegram
    if config.discord.enabled:
        from bot.discord_adapter import run_discord

        runners["discord"] = run_discord
    return runners


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
    platforms = enabled_platforms(config)
    service = build_service(config)
    stop = asyncio.Event()
    stop_on_signals(stop)
    platforms_stop = asyncio.Event()
    async with running_worker(service) as worker:
        tasks = [
            asyncio.create_task(run(service, platforms_stop), name=name) for name, run in platforms.items()
        ]
        log.info("videobot running: %s", ", ".join(platforms))
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
    ):
        if secret:
            text = text.replace(secret, f"${name}")
    return text
