"""How fast the bot says "queued", how late its event loop runs, and what a busy group costs.

    .venv/bin/python bench/ack.py            # defaults: a few minutes on 2 cores
    .venv/bin/python bench/ack.py --quick    # a smoke run, well under a minute

The bot runs as it ships (`bot.app.build_service`, `running_worker`, `run_telegram`, or the
Discord client as `run_discord` builds it) in a child process of its own; the loopback fake
Telegram and Discord servers from `tests/fakes/` and the simulated users run in this process.
So a bot whose event loop is stuck cannot hold back the users' commands or the clock that
times them, and a bot that will not stop can be killed.  Times are `time.perf_counter()`,
one monotonic clock for both processes.

1. Ack latency: `--users` people (each with their own user id; Telegram: each in a private
   chat; Discord: slash commands in one guild channel) send `/video <prompt>` at random moments
   over `--spread` seconds while the tiny model renders their clips.  Measured: from the
   command leaving the user to the bot's first answer to it reaching the fake server
   (Telegram: the sendMessage replying to it; Discord: the interaction callback, a deferral
   counts).  An answer still missing after `--timeout` seconds counts as "more than that".
2. The same with `--queued` jobs from as many other users already in the store (inserted with
   `store.jobs.insert(job, None)` before the bot starts), for `--new-users` new people.
3. Event-loop lag in the bot during each run: a task sleeping 10 ms in a loop, how late it wakes.
4. A `--burst` of people in one Telegram group at once, with an instant stand-in render: the Bot
   API calls the fake got for that chat per clip delivered, and clips per minute.  The bot's own
   rate limiter (`bot/telegram_limits.py`) holds each group to Telegram's 20 calls a
   minute; the "raw" run lifts that per-group limit in the bot process (nothing else changes),
   the "as shipped" run keeps it for `--limited-window` seconds.

Quotas are raised so nobody is refused; the model is the offline tiny one at 64x64 with a few
frames and steps.  Progress-edit intervals are the bot's defaults (3 s in private chats, 10 s
in groups), as users would get them.  Torch threads are left to the bot.
Targets: ack p99 < 100 ms at 200 users, < 250 ms with 10,000 queued; loop lag p99 < 50 ms;
<= 2 group calls per clip and >= 10 clips/min in a busy group.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import math
import multiprocessing
import os
import random
import re
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.config import QueueConfig, QuotaConfig
from bot.core.types import ChatRef, Job, RenderParams, UserRef
from bot.render import BatchStep, Renderer
from bot.store import DB_FILE, Store
from tests.fakes.discord_api import FakeDiscord, RestCall
from tests.fakes.telegram_api import ApiCall, FakeTelegram

PROMPT = "a cat surfing a wave at sunset"
BOT_NAME = "videobot_bench_bot"
PROBE_PERIOD_S = 0.010
TELEGRAM_GROUP_BUDGET = 20.0  # calls a minute Telegram allows a bot in one group

# Targets (seconds, calls, clips a minute)
ACK_P99_TARGET_S = 0.100
ACK_P99_QUEUED_TARGET_S = 0.250
LAG_P99_TARGET_S = 0.050
CALLS_PER_CLIP_TARGET = 2.0
CLIPS_PER_MIN_TARGET = 10.0

# User ids: new users, users whose jobs were queued before the start, the group burst.
NEW_USERS_BASE = 10_000_000
QUEUED_USERS_BASE = 20_000_000
GROUP_USERS_BASE = 30_000_000
GROUP_CHAT_ID = -1_001_234_567


# ----------------------------------------------------------------------------- the bot process


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
    ) -> list[np.ndarray | None]:
        clips: list[np.ndarray | None] = []
        for index, params in enumerate(batch):
            for step in range(1, params.steps + 1):
                if on_step is not None:
                    on_step(index, step, params.steps)
            clips.append(np.zeros((params.frames, params.height, params.width, 3), dtype=np.uint8))
        return clips


@dataclass(frozen=True)
class BotSpec:
    """What the child process needs to start one bot (picklable)."""

    settings: dict[str, Any]
    env: dict[str, str]
    platform: str  # "telegram" or "discord"
    instant: bool  # InstantRenderer instead of the tiny model
    group_limit: bool  # keep python-telegram-bot's 20-calls-a-minute per-group limiter
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


def _lift_group_limit() -> None:
    """In this process only: the bot's rate limiter without its per-group budget."""
    from bot import telegram_adapter
    from bot.telegram_limits import LaneRateLimiter

    class NoGroupLimit(LaneRateLimiter):
        def __init__(self, **options: Any) -> None:
            super().__init__(group_per_min=0, **options)

    telegram_adapter.LaneRateLimiter = NoGroupLimit  # type: ignore[misc]


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
    from bot.app import build_service, run_telegram, running_worker
    from bot.config import parse_config
    from bot.render import cpu_render_threads

    config = parse_config(spec.settings, "<bench>", spec.env)
    if spec.platform == "telegram" and not spec.group_limit:
        _lift_group_limit()
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

            discord_adapter.point_at(config.discord)  # as bot.app.run_discord, keeping the client
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
        context = multiprocessing.get_context("spawn")
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


# ----------------------------------------------------------------------------- timed fakes


class TimedTelegram(FakeTelegram):
    """The fake Bot API, noting when each call arrived and the first reply to each command."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.log: list[tuple[float, str, int | None]] = []  # (arrived, method, chat_id)
        self.sent: dict[tuple[int, int], float] = {}  # (chat, command message) -> sent at
        self.first_reply: dict[tuple[int, int], tuple[float, str]] = {}  # -> (arrived, text)
        self.all_answered = asyncio.Event()
        self.expected = 0

    def command(self, chat_id: int, user_id: int, text: str, **options: Any) -> None:
        """A user sends `text`; its first reply will be timed."""
        message_id = self.send_message(chat_id, user_id, text, **options)
        self.sent[(chat_id, message_id)] = time.perf_counter()

    async def _dispatch(self, call: ApiCall, token: str) -> Any:
        now = time.perf_counter()
        if call.method != "getUpdates":
            chat = str(call.params.get("chat_id", ""))
            chat_id = int(chat) if chat.lstrip("-").isdigit() else None
            self.log.append((now, call.method, chat_id))
            if call.method == "sendMessage" and chat_id is not None:
                replied = (call.params.get("reply_parameters") or {}).get("message_id")
                key = (chat_id, int(replied or 0))
                if key in self.sent and key not in self.first_reply:
                    self.first_reply[key] = (now, str(call.params.get("text", "")))
                    if len(self.first_reply) >= self.expected:
                        self.all_answered.set()
        return await super()._dispatch(call, token)


class TimedDiscord(FakeDiscord):
    """The fake Discord, noting the first interaction callback to each slash command."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: dict[str, float] = {}  # interaction token -> sent at
        self.first_reply: dict[str, tuple[float, int]] = {}  # token -> (arrived, callback type)
        self.all_answered = asyncio.Event()
        self.expected = 0
        self.messages_posted = 0

    def command(self, user_id: int, prompt: str, seed: int) -> None:
        interaction = self.slash("video", {"prompt": prompt, "seed": seed}, user_id=user_id)
        self.sent[interaction.token] = time.perf_counter()

    async def _callback(self, call: RestCall, m: re.Match[str]) -> tuple[int, Any]:
        now = time.perf_counter()
        token = m["token"]
        if token in self.sent and token not in self.first_reply:
            self.first_reply[token] = (now, int((call.json or {}).get("type") or 0))
            if len(self.first_reply) >= self.expected:
                self.all_answered.set()
        return await super()._callback(call, m)


# ----------------------------------------------------------------------------- set-up


def bot_settings(args: argparse.Namespace, data: Path, **sections: dict[str, Any]) -> dict[str, Any]:
    """TOML-shaped settings: the tiny model, small clips, quotas nobody reaches."""
    settings: dict[str, Any] = {
        "model": {"id": "tiny"},
        "video": {
            "width": 64,
            "height": 64,
            "fps": 8,
            "min_frames": 2,
            "default_frames": args.frames,
            "max_frames": max(16, args.frames),
            "min_steps": 1,
            "default_steps": args.steps,
            "max_steps": max(50, args.steps),
        },
        "storage": {"dir": str(data)},
    }
    big = 10_000_000
    quota = {"daily": big, "max_queued": big, "per_minute": float(big), "burst": big}
    known = {f.name for f in dataclasses.fields(QuotaConfig)}
    settings["quota"] = {k: v for k, v in quota.items() if k in known}
    if "max_total" in {f.name for f in dataclasses.fields(QueueConfig)}:
        settings["queue"] = {"max_total": big}
    settings.update(sections)
    return settings


def telegram_section(fake: FakeTelegram) -> dict[str, Any]:
    return {
        "enabled": True,
        "base_url": fake.base_url,
        "base_file_url": fake.base_file_url,
        "poll_timeout_s": 1,  # an idle long poll ends each second: the bot stops promptly
    }


def discord_section(fake: FakeDiscord) -> dict[str, Any]:
    return {"enabled": True, "api_base_url": fake.api_base_url, "gateway_url": fake.gateway_url}


def prefill(args: argparse.Namespace, data: Path, platform: str, count: int) -> float:
    """`count` queued jobs from `count` users, straight into the store; returns the seconds taken."""
    started = time.perf_counter()
    store = Store(data / DB_FILE)
    try:
        for i in range(count):
            uid = QUEUED_USERS_BASE + i
            chat = (
                ChatRef("telegram", str(uid))
                if platform == "telegram"
                else ChatRef("discord", "777", is_group=True)
            )
            params = RenderParams(PROMPT, "", i, args.frames, args.steps, 9.0, 64, 64, 8)
            job = Job(
                id=0,
                user=UserRef(platform, str(uid), f"Queued {i}", "en"),
                chat=chat,
                params=params,
                model="tiny",
                created_at=time.time(),
            )
            store.jobs.insert(job, None)
    finally:
        store.close()
    return time.perf_counter() - started


def arrivals(count: int, spread_s: float, rng: random.Random) -> list[float]:
    """Send times (s after the start), uniformly at random over `spread_s`, sorted."""
    if spread_s <= 0:
        return [0.0] * count
    return sorted(rng.uniform(0.0, spread_s) for _ in range(count))


@contextlib.asynccontextmanager
async def data_dir() -> AsyncIterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="videobot-ack-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# ----------------------------------------------------------------------------- results


def percentile(values: list[float], p: float) -> float:
    """Nearest rank."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


@dataclass
class AckRun:
    name: str
    platform: str
    users: int
    queued: int
    target_s: float
    latencies: list[float] = field(default_factory=list)  # answered commands
    unanswered: list[float] = field(default_factory=list)  # lower bounds: waited this long, no answer
    not_queued: int = 0  # first replies that were not a "queued" message
    deferred: int = 0  # Discord: answered first with a deferral ("thinking")
    window_s: float = 0.0
    api_calls: int = 0
    clips: int = 0
    methods: Counter[str] = field(default_factory=Counter)  # API calls in the window, by kind
    lag: list[float] = field(default_factory=list)
    killed: bool = False

    def stat(self, p: float | None) -> tuple[float, bool]:
        """(value, exact): the p-th percentile, or max for None; not exact if it may be higher."""
        combined = self.latencies + self.unanswered
        if not combined:
            return math.nan, False
        value = max(combined) if p is None else percentile(combined, p)
        return value, all(bound > value for bound in self.unanswered)


def ms(seconds: float, exact: bool = True) -> str:
    if math.isnan(seconds):
        return "—"
    return f"{seconds * 1000:.0f}" if exact else f"> {seconds * 1000:.0f}"


def verdict(ok: bool) -> str:
    return "met" if ok else "**NOT met**"


# ----------------------------------------------------------------------------- scenarios


async def arriving(start: float, users: int, spread: float, rng: random.Random) -> AsyncIterator[int]:
    """Each user's number at their arrival time (random over `spread` seconds from `start`)."""
    for i, offset in enumerate(arrivals(users, spread, rng)):
        delay = start + offset - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        yield i


def answered(run: AckRun, sent: dict[Any, float], first_reply: dict[Any, Any], end: float) -> list[Any]:
    """Record each command's wait (or that it went unanswered by `end`); the replies that came."""
    replies = []
    for key, at in sent.items():
        reply = first_reply.get(key)
        if reply is None or reply[0] > end:
            run.unanswered.append(end - at)
        else:
            run.latencies.append(reply[0] - at)
            replies.append(reply)
    return replies


async def telegram_acks(
    args: argparse.Namespace, name: str, users: int, queued: int, target: float
) -> AckRun:
    run = AckRun(name, "Telegram", users, queued, target)
    rng = random.Random(args.seed)
    async with data_dir() as data, TimedTelegram(bot_username=BOT_NAME) as fake:
        settings = bot_settings(args, data, telegram=telegram_section(fake))
        if queued:
            prefill(args, data, "telegram", queued)
        spec = BotSpec(settings, {"TELEGRAM_TOKEN": fake.token}, "telegram", False, True, args.log_level)
        async with BotChild(spec) as bot:
            await fake.wait_until_polling(timeout=120)
            fake.expected = users
            start = time.perf_counter()
            async for i in arriving(start, users, args.spread if not queued else args.spread_queued, rng):
                uid = NEW_USERS_BASE + i
                fake.command(
                    uid, uid, f"/video {PROMPT} --seed {i}", chat_type="private", first_name=f"User {i}"
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(fake.all_answered.wait(), args.timeout)
            end = time.perf_counter()
            run.lag = await bot.lag(start, end)
        run.killed = bot.killed
    for reply in answered(run, fake.sent, fake.first_reply, end):
        run.not_queued += not reply[1].startswith("⏳")
    run.window_s = end - start
    run.methods = Counter(method for t, method, _ in fake.log if start <= t <= end)
    run.api_calls = sum(run.methods.values())
    run.clips = run.methods["sendVideo"]
    return run


async def discord_acks(args: argparse.Namespace, name: str, users: int, queued: int, target: float) -> AckRun:
    run = AckRun(name, "Discord", users, queued, target)
    rng = random.Random(args.seed)
    async with data_dir() as data, TimedDiscord() as fake:
        settings = bot_settings(args, data, discord=discord_section(fake))
        if queued:
            prefill(args, data, "discord", queued)
        spec = BotSpec(settings, {"DISCORD_TOKEN": fake.token}, "discord", False, True, args.log_level)
        async with BotChild(spec) as bot:
            fake.expected = users
            calls_before = len(fake.rest_calls)
            start = time.perf_counter()
            async for i in arriving(start, users, args.spread if not queued else args.spread_queued, rng):
                fake.command(NEW_USERS_BASE + i, PROMPT, i)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(fake.all_answered.wait(), args.timeout)
            end = time.perf_counter()
            calls = fake.rest_calls[calls_before:]
            run.lag = await bot.lag(start, end)
        run.killed = bot.killed
    for reply in answered(run, fake.sent, fake.first_reply, end):
        run.deferred += reply[1] == 5
    run.window_s = end - start
    run.methods = Counter(discord_kind(c) for c in calls)
    run.api_calls = len(calls)
    run.clips = sum(1 for c in calls if c.method == "POST" and any(k.startswith("files[") for k in c.files))
    return run


def discord_kind(call: RestCall) -> str:
    """A REST call named by what it does."""
    path = call.path
    if path.startswith("/interactions/"):
        return "interaction callback"
    if path.startswith("/webhooks/"):
        return {"PATCH": "edit original/follow-up", "POST": "follow-up", "DELETE": "delete follow-up"}.get(
            call.method, f"{call.method} webhook"
        )
    if path.startswith("/channels/"):
        if path.endswith("/typing"):
            return "typing"
        return {"POST": "channel message", "PATCH": "edit channel message"}.get(
            call.method, f"{call.method} channel"
        )
    return f"{call.method} {path}"


@dataclass
class GroupRun:
    name: str
    people: int
    window_s: float = 0.0
    clips: int = 0
    calls: Counter[str] = field(default_factory=Counter)
    first_to_last_clip_s: float = 0.0
    lag: list[float] = field(default_factory=list)
    lag_window_s: float = 0.0
    limited: bool = False

    @property
    def calls_per_clip(self) -> float:
        return sum(self.calls.values()) / self.clips if self.clips else math.inf

    @property
    def clips_per_min(self) -> float:
        return self.clips / self.window_s * 60 if self.window_s > 0 else 0.0


async def group_burst(args: argparse.Namespace, *, limited: bool) -> GroupRun:
    """`--burst` people send /video in one group at once; instant renders."""
    run = GroupRun(
        "as shipped (group limiter on)" if limited else "raw (per-group limiter lifted)", args.burst
    )
    run.limited = limited
    async with data_dir() as data, TimedTelegram(bot_username=BOT_NAME) as fake:
        settings = bot_settings(args, data, telegram=telegram_section(fake))
        spec = BotSpec(settings, {"TELEGRAM_TOKEN": fake.token}, "telegram", True, limited, args.log_level)
        async with BotChild(spec) as bot:
            await fake.wait_until_polling(timeout=120)
            fake.expected = args.burst
            start = time.perf_counter()
            for i in range(args.burst):
                uid = GROUP_USERS_BASE + i
                fake.command(
                    GROUP_CHAT_ID,
                    uid,
                    f"/video {PROMPT} --seed {i}",
                    chat_type="supergroup",
                    first_name=f"Member {i}",
                )

            def group_calls() -> list[tuple[float, str]]:
                return [(t, m) for t, m, chat in fake.log if chat == GROUP_CHAT_ID and t >= start]

            def videos() -> int:
                return sum(m == "sendVideo" for _, m in group_calls())

            deadline = start + (args.limited_window if limited else args.timeout)
            while time.perf_counter() < deadline and videos() < args.burst:
                await asyncio.sleep(0.05)
            if not limited:  # let the last "done" edits land: quiet for a second
                while time.perf_counter() < deadline:
                    calls = group_calls()
                    if calls and time.perf_counter() - calls[-1][0] > 1.0:
                        break
                    await asyncio.sleep(0.1)
            end = time.perf_counter() if not limited else min(time.perf_counter(), deadline)
            run.lag = await bot.lag(start, end)
            run.lag_window_s = end - start
    calls = [(t, m) for t, m in group_calls() if t <= end]
    run.calls = Counter(m for _, m in calls)
    video_times = [t for t, m in calls if m == "sendVideo"]
    run.clips = len(video_times)
    if limited:
        run.window_s = end - start
    else:
        run.window_s = (video_times[-1] - start) if video_times else end - start
    run.first_to_last_clip_s = (video_times[-1] - video_times[0]) if len(video_times) > 1 else 0.0
    return run


# ----------------------------------------------------------------------------- report


def print_acks(runs: list[AckRun]) -> None:
    print("### Time from `/video` to the bot's first reply (ms)")
    print()
    print(
        "| run | platform | users | queued before | answered | p50 | p95 | p99 | max | target p99 | "
        "p99 target | clips sent in window | API calls/s |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|")
    for r in runs:
        p50, p95, p99, top = (r.stat(p) for p in (50, 95, 99, None))
        answered = f"{len(r.latencies)}/{r.users}"
        rate = r.api_calls / r.window_s if r.window_s else 0.0
        print(
            f"| {r.name} | {r.platform} | {r.users} | {r.queued} | {answered} | {ms(*p50)} | {ms(*p95)} | "
            f"{ms(*p99)} | {ms(*top)} | < {r.target_s * 1000:.0f} | "
            f"{verdict(p99[1] and p99[0] < r.target_s)} | {r.clips} | {rate:.1f} |"
        )
    print()
    notes = []
    for r in runs:
        if r.unanswered:
            notes.append(
                f"{r.name} ({r.platform}): {len(r.unanswered)} of {r.users} commands had no answer "
                f"when the run ended ({r.window_s:.0f} s after the first); they count as their wait "
                "so far, hence '>'."
            )
        if r.not_queued:
            notes.append(
                f"{r.name} ({r.platform}): {r.not_queued} first replies were not a '⏳ Queued' message."
            )
        if r.deferred:
            notes.append(
                f"{r.name} ({r.platform}): {r.deferred} commands were first answered with a deferral "
                "('thinking…', after the adapter's 2 s), counted as the first reply."
            )
        if r.killed:
            notes.append(f"{r.name} ({r.platform}): the bot did not stop within 10 s and was killed.")
    for r in runs:
        methods = ", ".join(f"{m} {n}" for m, n in r.methods.most_common())
        notes.append(f"{r.name} ({r.platform}), calls in the {r.window_s:.1f} s window: {methods}")
    for note in notes:
        print(f"- {note}")
    print()


def print_lag(rows: list[tuple[str, str, float, list[float]]]) -> None:
    print(f"### Event-loop lag in the bot ({PROBE_PERIOD_S * 1000:.0f} ms sleep probe, ms late)")
    print()
    print("| run | platform | window s | wake-ups | p50 | p99 | max | target p99 | p99 target |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---|")
    target = f"< {LAG_P99_TARGET_S * 1000:.0f}"
    for name, platform, window, lag in rows:
        if not lag:
            print(f"| {name} | {platform} | {window:.1f} | 0 | — | — | — | {target} | — |")
            continue
        p50, p99, top = percentile(lag, 50), percentile(lag, 99), max(lag)
        print(
            f"| {name} | {platform} | {window:.1f} | {len(lag)} | {ms(p50)} | {ms(p99)} | {ms(top)} | "
            f"{target} | {verdict(p99 < LAG_P99_TARGET_S)} |"
        )
    print()


def print_group(runs: list[GroupRun]) -> None:
    if not runs:
        return
    people = runs[0].people
    print(f"### Busy Telegram group: {people} people send `/video` at once, instant renders")
    print()
    print(
        "| run | window s | clips delivered | group API calls | calls per clip | clips/min measured | "
        f"clips/min at {TELEGRAM_GROUP_BUDGET:.0f} calls/min (= 20 / calls per clip) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in runs:
        budget = TELEGRAM_GROUP_BUDGET / r.calls_per_clip if r.clips else 0.0
        cpc = f"{r.calls_per_clip:.2f}" if r.clips else "—"
        print(
            f"| {r.name} | {r.window_s:.1f} | {r.clips}/{r.people} | {sum(r.calls.values())} | {cpc} | "
            f"{r.clips_per_min:.1f} | {budget:.1f} |"
        )
    print()
    for r in runs:
        methods = ", ".join(f"{m} {n}" for m, n in r.calls.most_common())
        print(f"- {r.name}: {methods or 'no calls'}")
    raw = next((r for r in runs if not r.limited), None)
    if raw is not None and raw.clips:
        budget = TELEGRAM_GROUP_BUDGET / raw.calls_per_clip
        print(
            f"- targets: calls per clip ≤ {CALLS_PER_CLIP_TARGET:.0f}: {raw.calls_per_clip:.2f}, "
            f"{verdict(raw.calls_per_clip <= CALLS_PER_CLIP_TARGET)}; ≥ {CLIPS_PER_MIN_TARGET:.0f} clips/min "
            f"within Telegram's budget: {budget:.1f}, {verdict(budget >= CLIPS_PER_MIN_TARGET)}"
        )
    limited = next((r for r in runs if r.limited), None)
    if limited is not None:
        print(
            f"- as shipped, the bot's limiter allows a burst of 20 calls, then one every 3 s: "
            f"{limited.clips} clips in the first {limited.window_s:.0f} s "
            f"({verdict(limited.clips_per_min >= CLIPS_PER_MIN_TARGET)} "
            f"against ≥ {CLIPS_PER_MIN_TARGET:.0f}/min)"
        )
    print()


# ----------------------------------------------------------------------------- main


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, help="people sending /video in run 1 (default 200; quick 20)")
    parser.add_argument("--queued", type=int, help="jobs already waiting in run 2 (default 10000; quick 500)")
    parser.add_argument("--new-users", type=int, help="people sending /video in run 2 (default 50; quick 10)")
    parser.add_argument("--burst", type=int, help="people in the busy group, run 4 (default 20; quick 5)")
    parser.add_argument(
        "--spread",
        type=float,
        help="seconds over which run 1's commands arrive (default 10; quick 2; 0: at once)",
    )
    parser.add_argument("--spread-queued", type=float, help="the same for run 2 (default 5; quick 2)")
    parser.add_argument(
        "--timeout",
        type=float,
        help="seconds to wait for the last answers after the last command (default 60; quick 20)",
    )
    parser.add_argument(
        "--limited-window",
        type=float,
        help="seconds of the group burst as shipped, with the bot's own group limiter "
        "(default 60; quick 0: skip)",
    )
    parser.add_argument(
        "--platforms",
        default="telegram,discord",
        help="which fakes runs 1 and 2 use (default telegram,discord)",
    )
    parser.add_argument("--frames", type=int, default=8, help="frames per clip (tiny model, 64x64)")
    parser.add_argument("--steps", type=int, default=2, help="denoising steps per clip")
    parser.add_argument("--seed", type=int, default=1, help="seed for the arrival times")
    parser.add_argument("--log-level", default="ERROR", help="the bot process's log level (stderr)")
    parser.add_argument("--quick", action="store_true", help="a small, fast smoke run")
    args = parser.parse_args()
    defaults: dict[str, tuple[float, float]] = {
        "users": (200, 20),
        "queued": (10_000, 500),
        "new_users": (50, 10),
        "burst": (20, 5),
        "spread": (10.0, 2.0),
        "spread_queued": (5.0, 2.0),
        "timeout": (60.0, 20.0),
        "limited_window": (60.0, 0.0),
    }
    for name, (full, quick) in defaults.items():
        if getattr(args, name) is None:
            value = quick if args.quick else full
            setattr(args, name, type(full)(value) if isinstance(full, float) else int(value))
    args.platform_list = [p.strip() for p in args.platforms.split(",") if p.strip()]
    unknown = set(args.platform_list) - {"telegram", "discord"}
    if unknown:
        parser.error(f"unknown platform(s): {', '.join(sorted(unknown))}")
    return args


async def bench(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    acks: list[AckRun] = []
    runners = {"telegram": telegram_acks, "discord": discord_acks}
    for platform in args.platform_list:
        acks.append(await runners[platform](args, f"{args.users} users", args.users, 0, ACK_P99_TARGET_S))
        print(
            f"… {platform}: {args.users} users done ({time.perf_counter() - started:.0f} s)", file=sys.stderr
        )
    for platform in args.platform_list:
        name = f"{args.new_users} users, {args.queued} queued"
        acks.append(await runners[platform](args, name, args.new_users, args.queued, ACK_P99_QUEUED_TARGET_S))
        print(
            f"… {platform}: {args.queued} queued done ({time.perf_counter() - started:.0f} s)",
            file=sys.stderr,
        )
    groups = [await group_burst(args, limited=False)]
    print(f"… group burst done ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    if args.limited_window > 0:
        groups.append(await group_burst(args, limited=True))
        print(f"… group burst as shipped done ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    wall = time.perf_counter() - started

    print(
        f"videobot ack bench: tiny model 64x64, {args.frames} frames, {args.steps} steps; "
        f"{os.cpu_count()} CPUs; "
        f"run 1: {args.users} users over {args.spread:g} s; run 2: {args.new_users} users over "
        f"{args.spread_queued:g} s with {args.queued} jobs queued; answers awaited up to {args.timeout:g} s "
        "after the last command; "
        f"group burst: {args.burst} people; bot progress intervals as configured by default "
        "(3 s private, 10 s groups); Telegram users in private chats, Discord users in one guild channel"
    )
    print()
    print_acks(acks)
    print_lag(
        [(r.name, r.platform, r.window_s, r.lag) for r in acks]
        + [(f"group burst, {g.name}", "Telegram", g.lag_window_s, g.lag) for g in groups]
    )
    print_group(groups)
    print(f"wall time: {wall:.0f} s")


def main() -> None:
    args = parse_args()
    asyncio.run(bench(args))


if __name__ == "__main__":
    main()
