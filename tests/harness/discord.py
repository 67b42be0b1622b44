"""The Discord harness: the real discord.py adapter against the loopback fake Discord.

A `World` is the fake plus one bot process (service, worker, client) that a test can stop,
start and restart on the same database.  It renders with the ports-level stub backend, or with
the tiny offline model when made with `render=True` (the `render` lane); either way `world.gate`
holds a render after its first step when a story needs something to happen during it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Protocol

import discord
import pytest
import pytest_asyncio

from bot import app as bot_app
from bot.app import build_service
from bot.core.ports import Clock
from bot.discord_adapter import VideoBotClient, point_at
from bot.domain import Job, RenderParams
from bot.pipelines.tiny import TINY_MODEL_ID
from bot.render import BatchStep, Renderer
from bot.settings.root import Config
from tests.fakes.discord_api import EPHEMERAL, GUILD_READY_S, FakeDiscord, RestCall
from tests.harness.clock import ManualClock
from tests.harness.config import MakeConfig
from tests.harness.core import COLD
from tests.harness.lanes import in_lane, starts
from tests.harness.polling import eventually
from tests.harness.stub_backend import StubBackend

# The people in the stories; a guild member's permissions come with each interaction.
OWNER, STRANGER, MODERATOR, ROLE_MODERATOR, CONFIG_OWNER = 111, 222, 333, 444, 999
MANAGE_GUILD = 0x20

MakeWorld = Callable[..., Awaitable["World"]]


class Gate(Protocol):
    """Holds the next render after its first step: `hold()`, `await wait_paused()`, `release()`."""

    def hold(self) -> None: ...

    async def wait_paused(self) -> None: ...

    def release(self) -> None: ...


class GatedRenderer(Renderer):
    """The tiny model, with a gate that can hold a render after its first step."""

    def __init__(self, pipe: Any) -> None:
        super().__init__(TINY_MODEL_ID, device="cpu")
        self.pipe = pipe
        self.holding = threading.Event()
        self.paused = threading.Event()
        self.released = threading.Event()

    def hold(self) -> None:
        self.released.clear()
        self.holding.set()

    def render_batch(
        self,
        batch: Sequence[RenderParams],
        on_step: BatchStep | None = None,
        should_stop: Sequence[Callable[[], bool] | None] = (),
    ) -> Any:
        def step(index: int, done: int, total: int) -> None:
            if on_step is not None:
                on_step(index, done, total)
            if done == 1 and self.holding.is_set():
                self.paused.set()
                self.released.wait(30)

        return super().render_batch(batch, step, should_stop)

    async def wait_paused(self) -> None:
        assert await asyncio.to_thread(self.paused.wait, 30), "no render reached the gate"

    def release(self) -> None:
        self.holding.clear()
        self.released.set()


class _Bot(VideoBotClient):
    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        return None  # discord.py sleeps 5 s before every re-IDENTIFY


class World:
    """The fake Discord plus one bot process (service, worker, client); `restart` swaps the process.

    `clock` dates interaction tokens; with `core_clock` the core reads it too (challenge deadlines).
    """

    def __init__(
        self,
        fake: FakeDiscord,
        config: Config,
        pipe: Any | None,
        clock: ManualClock,
        *,
        core_clock: bool = False,
    ) -> None:
        """`pipe`: the tiny pipeline to render with, or None for the stub backend."""
        self.fake, self.config, self.pipe, self.clock = fake, config, pipe, clock
        self.core_clock: Clock = clock if core_clock else time.time
        self.stack = contextlib.AsyncExitStack()

    async def start(self, **bot_options: Any) -> None:
        if self.pipe is None:
            stub = StubBackend(self.config.data_dir / "clips", models=tuple(self.config.model_settings))
            self.gate: Gate = stub
            self.service = build_service(self.config, backend=stub, clock=self.core_clock)
        else:
            renderer = GatedRenderer(self.pipe)
            self.gate = renderer
            self.service = build_service(self.config, renderer=renderer, clock=self.core_clock)
        self.stack = contextlib.AsyncExitStack()
        self.bot = _Bot(self.service, clock=self.clock, guild_ready_timeout=GUILD_READY_S, **bot_options)
        self.service.add_outbox("discord", self.bot.outbox)
        connection = asyncio.create_task(self.bot.start(self.fake.token))

        async def close_bot() -> None:
            await self.bot.close()
            await connection

        # Exit runs backwards: the worker stops (and its last sends go out) before the bot closes.
        self.stack.push_async_callback(close_bot)
        await self.stack.enter_async_context(bot_app.running_worker(self.service))
        ready = asyncio.ensure_future(self.bot.wait_until_ready())
        done, _ = await asyncio.wait({connection, ready}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
        if connection in done:
            ready.cancel()
            connection.result()
        assert ready in done, "bot not ready within 10 s"

    async def stop(self) -> None:
        self.gate.release()
        await self.stack.aclose()

    async def restart(self, **bot_options: Any) -> None:
        await self.stop()
        await self.start(**bot_options)

    def job(self, job_id: int) -> Job:
        job = self.service.store.jobs.get(job_id)
        assert job is not None
        return job

    async def until(self, check: Callable[[], bool], timeout: float = 15.0) -> None:
        await eventually(check, timeout=timeout)


@pytest.fixture
@starts("render")
def tiny_pipe() -> Any:
    """The tiny model, loaded (a pristine copy of the session's build): a `World` renders with it."""
    renderer = Renderer(TINY_MODEL_ID, device="cpu", tuning=COLD)
    renderer.load()
    return renderer.pipe


@pytest_asyncio.fixture
async def discord_fake(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeDiscord]:
    # point_at() changes discord.py's class attributes; monkeypatch puts them back afterwards.
    monkeypatch.setattr(discord.http.Route, "BASE", discord.http.Route.BASE)
    monkeypatch.setattr(
        discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    )
    async with FakeDiscord() as fake:
        yield fake
    assert fake.handler_errors == []


@pytest.fixture
def discord_config(discord_fake: FakeDiscord, make_config: MakeConfig) -> Callable[..., Config]:
    """`discord_config(discord={...}, admin={...})`: the tiny config, pointed at the fake."""

    def make(discord: dict[str, Any] | None = None, admin: dict[str, Any] | None = None) -> Config:
        return make_config(
            discord={
                "api_base_url": discord_fake.api_base_url,
                "gateway_url": discord_fake.gateway_url,
                **(discord or {}),
            },
            admin={"owners": [f"discord:{CONFIG_OWNER}"], **(admin or {})},
        )

    return make


@pytest_asyncio.fixture
async def make_world(
    discord_fake: FakeDiscord, discord_config: Callable[..., Config]
) -> AsyncIterator[MakeWorld]:
    """`await make_world(discord={...}, admin={...}, core_clock=False, pipe=None, **bot_options)`: a
    started bot, stopped afterwards; it renders with `pipe` (the tiny model in the `render` lane) or the
    stub backend."""
    worlds: list[World] = []

    async def make(
        discord: dict[str, Any] | None = None,
        admin: dict[str, Any] | None = None,
        core_clock: bool = False,
        pipe: Any | None = None,
        **bot_options: Any,
    ) -> World:
        config = discord_config(discord, admin)
        point_at(config.discord)
        if pipe is None and in_lane("render"):
            renderer = Renderer(TINY_MODEL_ID, device="cpu", tuning=COLD)
            renderer.load()
            pipe = renderer.pipe
        world = World(discord_fake, config, pipe, ManualClock(), core_clock=core_clock)
        worlds.append(world)
        await world.start(**bot_options)
        return world

    try:
        yield make
    finally:
        for world in worlds:
            await world.stop()


@pytest_asyncio.fixture
async def world(make_world: MakeWorld) -> World:
    """A bot started with the default config."""
    return await make_world()


def custom_ids(message: dict[str, Any]) -> list[str]:
    """The buttons' ids on a message as Discord holds it, row by row."""
    return [button["custom_id"] for row in message["components"] for button in row["components"]]


def ephemeral_text(call: RestCall) -> str:
    """The text of an interaction's answer that only its user sees (failing if anyone else would)."""
    assert call.json["type"] == 4 and call.json["data"]["flags"] == EPHEMERAL, call.json
    return str(call.json["data"]["content"])
