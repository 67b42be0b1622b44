"""The bot as it ships, in a child process of its own, with a probe of its event loop's lag.

A benchmark drives it from outside (loopback fakes, simulated users): a bot whose loop is stuck
cannot hold back the users' commands or the clock that times them, and a bot that will not stop
can be killed.  `BotChild(BotSpec(...))` starts it; `lag(start, end)` asks how late its loop ran
and stops it.  Children fork from a server that imported the bot once, so each costs no import.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import multiprocessing
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from bot.domain import RenderParams
from bot.pipelines.clip import RenderedClip
from bot.render import BatchStep, Renderer

PROBE_PERIOD_S = 0.010


class InstantRenderer(Renderer):
    """A stand-in model: reports every step and returns black frames at once."""

    def __init__(self) -> None:
        super().__init__("tiny", device="cpu")

    def load(self) -> None:
        self.pipe = object()

    def render_batch(
        self,
        batch: Sequence[RenderParams],
        on_step: BatchStep | None = None,
        should_stop: Sequence[Callable[[], bool] | None] = (),
    ) -> list[RenderedClip | None]:
        clips: list[RenderedClip | None] = []
        for index, params in enumerate(batch):
            for step in range(1, params.steps + 1):
                if on_step is not None:
                    on_step(index, step, params.steps)
            clips.append(
                RenderedClip(
                    np.zeros((params.frames, params.height, params.width, 3), dtype=np.uint8), params.fps
                )
            )
        return clips


@dataclass(frozen=True)
class BotSpec:
    """What the child process needs to start one bot (picklable)."""

    settings: dict[str, Any]
    env: dict[str, str]
    platform: str  # "telegram" or "discord"
    instant: bool  # InstantRenderer instead of the tiny model
    group_limit: bool  # keep Telegram's 20-calls-a-minute per-group budget ([telegram] group_per_min)
    log_level: str


class LagProbe:
    """Sleeps `period` in a loop on the bot's event loop and notes how late each wake-up is."""

    def __init__(self, period: float = PROBE_PERIOD_S) -> None:
        self.period = period
        self.samples: list[tuple[float, float]] = []  # (woke at, seconds late)
        self.sleeping_since: float | None = None

    async def run(self) -> None:
        while True:
            started = time.perf_counter()
            self.sleeping_since = started
            await asyncio.sleep(self.period)
            woke = time.perf_counter()
            self.sleeping_since = None
            self.samples.append((woke, woke - started - self.period))

    def window(self, start: float, end: float) -> list[float]:
        """Lateness of the wake-ups in [start, end], plus a wake-up overdue right now (a stuck loop)."""
        late = [lag for woke, lag in list(self.samples) if start <= woke <= end]
        since = self.sleeping_since
        if since is not None and since <= end:
            overdue = time.perf_counter() - since - self.period
            if overdue > self.period:
                late.append(overdue)
        return late


def _watchdog(
    conn: Connection, probe: LagProbe, loop: asyncio.AbstractEventLoop, stop: asyncio.Event
) -> None:
    """A thread, so it answers even while the event loop is stuck: the lag, then stop the bot."""
    try:
        message = conn.recv()
        start, end = float(message[1]), float(message[2])
    except (EOFError, OSError):
        start, end = 0.0, math.inf
    with contextlib.suppress(OSError):
        conn.send(("lag", probe.window(start, end)))
    loop.call_soon_threadsafe(stop.set)


def bot_process(spec: BotSpec, conn: Connection) -> None:
    """The child's entry point: one bot until the parent says stop."""
    logging.basicConfig(level=spec.log_level, format="bench bot: %(levelname)s %(name)s: %(message)s")
    asyncio.run(_serve(spec, conn))


async def _serve(spec: BotSpec, conn: Connection) -> None:
    from bot.app import build_service, running_worker
    from bot.render import cpu_render_threads
    from bot.settings.loading import parse_config
    from bot.telegram_adapter import run as run_telegram

    settings = spec.settings
    if spec.platform == "telegram" and not spec.group_limit:  # the raw run: no per-group budget
        settings = {**settings, "telegram": {**settings["telegram"], "group_per_min": 0}}
    config = parse_config(settings, "<bench>", spec.env)
    service = build_service(config, renderer=InstantRenderer() if spec.instant else None)
    loop = asyncio.get_running_loop()
    probe = LagProbe()
    probe_task = asyncio.create_task(probe.run())
    stop = asyncio.Event()
    platform_stop = asyncio.Event()
    async with running_worker(service):
        ready: asyncio.Future[Any]
        if spec.platform == "telegram":
            platform = asyncio.create_task(run_telegram(service, platform_stop))
            ready = asyncio.ensure_future(asyncio.sleep(0))
        else:
            from bot import discord_adapter

            discord_adapter.point_at(config.discord)  # as bot.discord_adapter.run, keeping the client
            client = discord_adapter.VideoBotClient(service)
            service.add_outbox(discord_adapter.PLATFORM, client.outbox)
            platform = asyncio.create_task(
                discord_adapter.run_client(client, config.secrets.discord_token, platform_stop)
            )
            ready = asyncio.ensure_future(client.wait_until_ready())
        await asyncio.wait({ready, platform}, return_when=asyncio.FIRST_COMPLETED)
        while not service.backend.loaded and not platform.done():  # the model loads in the worker
            await asyncio.sleep(0.05)
        if platform.done():
            conn.send(("failed", repr(platform.exception())))
            return
        conn.send(("ready", {"render_threads": 0 if spec.instant else cpu_render_threads()}))
        threading.Thread(target=_watchdog, args=(conn, probe, loop, stop), daemon=True).start()
        await asyncio.wait(
            {asyncio.ensure_future(stop.wait()), platform}, return_when=asyncio.FIRST_COMPLETED
        )
        service.stop()
        platform_stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(platform, 30)
    probe_task.cancel()


class BotChild:
    """The bot in a child process: started, asked for its loop lag, stopped (or killed)."""

    def __init__(self, spec: BotSpec, grace_s: float = 10.0) -> None:
        self.spec = spec
        self.grace_s = grace_s
        context = multiprocessing.get_context("forkserver")  # a clean process; imports paid once
        context.set_forkserver_preload(["bot.app", "bot.discord_adapter", "bot.telegram_adapter"])
        self.conn, child_conn = context.Pipe()
        self.process = context.Process(target=bot_process, args=(spec, child_conn), daemon=True)
        self.info: dict[str, Any] = {}
        self.killed = False

    def _recv(self, timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.conn.poll(0.1):
                return self.conn.recv()
            if not self.process.is_alive():
                raise RuntimeError(f"the bot process exited ({self.process.exitcode})")
        raise TimeoutError(f"no answer from the bot process within {timeout:.0f} s")

    async def __aenter__(self) -> BotChild:
        self.process.start()
        kind, payload = await asyncio.to_thread(self._recv, 300.0)
        if kind != "ready":
            raise RuntimeError(f"the bot did not start: {payload}")
        self.info = payload
        return self

    async def lag(self, start: float, end: float) -> list[float]:
        """The probe's lateness (s) for wake-ups in [start, end]; then the bot shuts down."""
        self.conn.send(("stop", start, end))
        kind, late = await asyncio.to_thread(self._recv, 60.0)
        assert kind == "lag", kind
        return list(late)

    async def __aexit__(self, *exc_info: object) -> None:
        with contextlib.suppress(OSError):
            self.conn.send(("stop", 0.0, 0.0))  # if lag() was never asked (an error): stop anyway
        await asyncio.to_thread(self.process.join, self.grace_s)
        if self.process.is_alive():  # a loop stuck in a long call: the process cannot stop in time
            self.killed = True
            self.process.kill()
            await asyncio.to_thread(self.process.join, 10)
