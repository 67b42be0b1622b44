"""How fast the bot says "queued", how late its event loop runs, and what a busy group costs.

    .venv/bin/python bench/ack.py                  # defaults: a few minutes on 2 cores
    .venv/bin/python bench/ack.py --queued 100000  # the long-queue run with 100,000 waiting
    .venv/bin/python bench/ack.py --quick          # a smoke run of seconds

The bot runs as it ships (`bot.app.build_service`, `running_worker`, `bot.telegram_adapter.run`, or the
Discord client as `bot.discord_adapter.run` builds it) in a child process of its own; the loopback fake
Telegram and Discord servers from `tests/fakes/` and the simulated users run in this process, so
a bot whose event loop is stuck cannot hold back the users' commands or the clock that times
them.  Times are `time.perf_counter()`, one monotonic clock for both processes.

1. Ack latency: `--users` people (Telegram: each in a private chat; Discord: slash commands in
   one guild channel) send `/video <prompt>` at random moments over `--spread` seconds while the
   tiny model renders their clips.  Measured: from the command leaving the user to the bot's
   first answer to it reaching the fake server (Telegram: the sendMessage replying to it;
   Discord: the interaction callback, a deferral counts).  An answer still missing after
   `--timeout` seconds counts as "more than that".
2. The same with `--queued` jobs from as many other people already waiting, for `--new-users`.
3. Event-loop lag in the bot during each run: a task sleeping 10 ms in a loop, how late it wakes.
4. A `--burst` of people in one Telegram group at once, with an instant stand-in render: the Bot
   API calls for that chat per clip delivered, and clips per minute.  The "raw" run lifts the
   bot's per-group limiter (`bot/telegrambot/limits.py`, Telegram's 20 calls a minute); the "as
   shipped" run keeps it for `--limited-window` seconds.

Quotas are raised so nobody is refused; the model is the offline tiny one at 64x64 with a few
frames and steps; progress-edit intervals are the bot's defaults (3 s private, 10 s groups).
Targets: ack p99 < 100 ms at 200 users, < 250 ms with the queue full; loop lag p99 < 50 ms;
<= 2 group calls per clip and >= 10 clips/min in a busy group.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import random
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import harness
from botprocess import PROBE_PERIOD_S, BotChild, BotSpec
from harness import percentile, verdict

from bot.domain import ChatRef, RenderParams
from bot.store import DB_FILE, Store
from tests.fakes.discord_api import FakeDiscord, RestCall
from tests.fakes.telegram_api import ApiCall, FakeTelegram
from tests.harness.sql import fill_queue

PROMPT = "a cat surfing a wave at sunset"
BOT_NAME = "videobot_bench_bot"
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


# ----------------------------------------------------------------------------- timing the fakes


class FirstReplies:
    """When each command left its user and when the bot's first answer to it arrived."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.sent: dict[Any, float] = {}
        self.first: dict[Any, tuple[float, Any]] = {}  # key -> (arrived, what the answer was)
        self.all_answered = asyncio.Event()

    def command_sent(self, key: Any) -> None:
        self.sent[key] = time.perf_counter()

    def answer(self, key: Any, what: Any, at: float) -> None:
        if key in self.sent and key not in self.first:
            self.first[key] = (at, what)
            if len(self.first) >= self.expected:
                self.all_answered.set()


def time_telegram(fake: FakeTelegram, replies: FirstReplies) -> list[tuple[float, str, int | None]]:
    """Note every Bot API call (arrived, method, chat) and each command's first reply."""
    log: list[tuple[float, str, int | None]] = []

    def on_request(call: ApiCall) -> None:
        now = time.perf_counter()
        if call.method == "getUpdates":
            return
        chat = str(call.params.get("chat_id", ""))
        chat_id = int(chat) if chat.lstrip("-").isdigit() else None
        log.append((now, call.method, chat_id))
        if call.method == "sendMessage" and chat_id is not None:
            replied = (call.params.get("reply_parameters") or {}).get("message_id")
            replies.answer((chat_id, int(replied or 0)), str(call.params.get("text", "")), now)

    fake.on_request = on_request
    return log


def time_discord(fake: FakeDiscord, replies: FirstReplies) -> None:
    """Note each slash command's first interaction callback (and its type: 5 is a deferral)."""

    def on_request(call: RestCall) -> None:
        parts = call.path.split("/")  # /interactions/<id>/<token>/callback
        if len(parts) == 5 and parts[1] == "interactions" and parts[4] == "callback":
            replies.answer(parts[3], int((call.json or {}).get("type") or 0), time.perf_counter())

    fake.on_request = on_request


def discord_kind(call: RestCall) -> str:
    """A REST call named by what it does."""
    path, method = call.path, call.method
    if path.startswith("/interactions/"):
        return "interaction callback"
    if path.startswith("/webhooks/"):
        kinds = {"PATCH": "edit original/follow-up", "POST": "follow-up", "DELETE": "delete follow-up"}
        return kinds.get(method, f"{method} webhook")
    if path.startswith("/channels/"):
        if path.endswith("/typing"):
            return "typing"
        return {"POST": "channel message", "PATCH": "edit channel message"}.get(method, f"{method} channel")
    return f"{method} {path}"


# ----------------------------------------------------------------------------- scenarios


def settings_for(args: argparse.Namespace, data: Any, fake: FakeTelegram | FakeDiscord) -> dict[str, Any]:
    if isinstance(fake, FakeTelegram):  # an idle long poll ends each second: the bot stops promptly
        section = {"base_url": fake.base_url, "base_file_url": fake.base_file_url, "poll_timeout_s": 1}
        return harness.bot_settings(
            data, frames=args.frames, steps=args.steps, telegram={"enabled": True, **section}
        )
    section = {"api_base_url": fake.api_base_url, "gateway_url": fake.gateway_url}
    return harness.bot_settings(
        data, frames=args.frames, steps=args.steps, discord={"enabled": True, **section}
    )


def prefill(args: argparse.Namespace, data: Any, platform: str, count: int) -> None:
    """`count` people with a job each, waiting before the bot starts."""
    store = Store(data / DB_FILE)
    try:
        chat = ChatRef("discord", "777", is_group=True) if platform == "discord" else None
        params = RenderParams(PROMPT, "", 1, args.frames, args.steps, 9.0, 64, 64, 8)
        fill_queue(store, count, first=QUEUED_USERS_BASE, platform=platform, params=params, chat=chat)
    finally:
        store.close()


async def arriving(start: float, users: int, spread: float, rng: random.Random) -> AsyncIterator[int]:
    """Each user's number at their arrival time (uniformly at random over `spread` s from `start`)."""
    offsets = sorted(rng.uniform(0.0, spread) for _ in range(users)) if spread > 0 else [0.0] * users
    for i, offset in enumerate(offsets):
        delay = start + offset - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        yield i


@dataclass
class AckRun:
    name: str
    platform: str
    users: int
    queued: int
    target_s: float
    latencies: list[float] = field(default_factory=list)  # answered commands
    unanswered: list[float] = field(default_factory=list)  # lower bounds: waited this long, no answer
    odd_first: int = 0  # first replies that were not "queued" (Telegram) or were a deferral (Discord)
    window_s: float = 0.0
    methods: Counter[str] = field(default_factory=Counter)  # API calls in the window, by kind
    lag: list[float] = field(default_factory=list)
    killed: bool = False

    def stat(self, p: float | None) -> str:
        """The p-th percentile (max for None) in ms; "> x" when an unanswered command may be later."""
        combined = self.latencies + self.unanswered
        if not combined:
            return "—"
        value = max(combined) if p is None else percentile(combined, p)
        exact = all(bound > value for bound in self.unanswered)
        return f"{value * 1000:.0f}" if exact else f"> {value * 1000:.0f}"

    def met(self) -> bool:
        combined = self.latencies + self.unanswered
        value = percentile(combined, 99) if combined else math.inf
        return not self.unanswered and value < self.target_s


async def ack_run(
    args: argparse.Namespace, platform: str, name: str, users: int, queued: int, target: float
) -> AckRun:
    """`users` new people send /video (with `queued` jobs waiting before the bot started)."""
    run = AckRun(name, platform.capitalize(), users, queued, target)
    rng = random.Random(args.seed)
    replies = FirstReplies(users)
    telegram = platform == "telegram"
    fake: FakeTelegram | FakeDiscord = FakeTelegram(bot_username=BOT_NAME) if telegram else FakeDiscord()
    with harness.data_dir() as data:
        async with fake:
            log = time_telegram(fake, replies) if isinstance(fake, FakeTelegram) else []
            if isinstance(fake, FakeDiscord):
                time_discord(fake, replies)
            if queued:
                prefill(args, data, platform, queued)
            env = {"TELEGRAM_TOKEN" if telegram else "DISCORD_TOKEN": fake.token}
            # the tiny model renders (CPU contention is part of the measure); a smoke run needs no model
            spec = BotSpec(settings_for(args, data, fake), env, platform, args.quick, True, args.log_level)
            async with BotChild(spec) as bot:
                if isinstance(fake, FakeTelegram):
                    await fake.wait_until_polling(timeout=120)
                rest_before = len(fake.rest_calls) if isinstance(fake, FakeDiscord) else 0
                start = time.perf_counter()
                async for i in arriving(start, users, args.spread_queued if queued else args.spread, rng):
                    uid = NEW_USERS_BASE + i
                    if isinstance(fake, FakeTelegram):
                        text = f"/video {PROMPT} --seed {i}"
                        message = fake.send_message(
                            uid, uid, text, chat_type="private", first_name=f"User {i}"
                        )
                        replies.command_sent((uid, message))
                    else:
                        replies.command_sent(
                            fake.slash("video", {"prompt": PROMPT, "seed": i}, user_id=uid).token
                        )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(replies.all_answered.wait(), args.timeout)
                end = time.perf_counter()
                run.lag = await bot.lag(start, end)
            run.killed = bot.killed
            if isinstance(fake, FakeTelegram):
                run.methods = Counter(method for t, method, _ in log if start <= t <= end)
            else:
                run.methods = Counter(discord_kind(c) for c in fake.rest_calls[rest_before:])
    for key, sent_at in replies.sent.items():
        reply = replies.first.get(key)
        if reply is None or reply[0] > end:
            run.unanswered.append(end - sent_at)
            continue
        run.latencies.append(reply[0] - sent_at)
        what = reply[1]
        run.odd_first += (not str(what).startswith("⏳")) if telegram else what == 5
    run.window_s = end - start
    return run


@dataclass
class GroupRun:
    name: str
    people: int
    limited: bool
    window_s: float = 0.0
    clips: int = 0
    calls: Counter[str] = field(default_factory=Counter)
    lag: list[float] = field(default_factory=list)
    lag_window_s: float = 0.0

    @property
    def calls_per_clip(self) -> float:
        return sum(self.calls.values()) / self.clips if self.clips else math.inf

    @property
    def clips_per_min(self) -> float:
        return self.clips / self.window_s * 60 if self.window_s > 0 else 0.0


async def group_burst(args: argparse.Namespace, *, limited: bool) -> GroupRun:
    """`--burst` people send /video in one group at once; instant renders."""
    name = "as shipped (group limiter on)" if limited else "raw (per-group limiter lifted)"
    run = GroupRun(name, args.burst, limited)
    replies = FirstReplies(args.burst)
    with harness.data_dir() as data:
        async with FakeTelegram(bot_username=BOT_NAME) as fake:
            log = time_telegram(fake, replies)
            env = {"TELEGRAM_TOKEN": fake.token}
            spec = BotSpec(settings_for(args, data, fake), env, "telegram", True, limited, args.log_level)
            async with BotChild(spec) as bot:
                await fake.wait_until_polling(timeout=120)
                start = time.perf_counter()
                for i in range(args.burst):
                    text = f"/video {PROMPT} --seed {i}"
                    uid = GROUP_USERS_BASE + i
                    fake.send_message(
                        GROUP_CHAT_ID, uid, text, chat_type="supergroup", first_name=f"Member {i}"
                    )

                def group_calls() -> list[tuple[float, str]]:
                    return [(t, m) for t, m, chat in log if chat == GROUP_CHAT_ID and t >= start]

                deadline = start + (args.limited_window if limited else args.timeout)
                while (
                    time.perf_counter() < deadline
                    and sum(m == "sendVideo" for _, m in group_calls()) < args.burst
                ):
                    await asyncio.sleep(0.05)
                while not limited and time.perf_counter() < deadline:  # the last "done" edits: quiet for 1 s
                    calls = group_calls()
                    if calls and time.perf_counter() - calls[-1][0] > 1.0:
                        break
                    await asyncio.sleep(0.1)
                end = min(time.perf_counter(), deadline) if limited else time.perf_counter()
                run.lag = await bot.lag(start, end)
                run.lag_window_s = end - start
    calls = [(t, m) for t, m in group_calls() if t <= end]
    run.calls = Counter(m for _, m in calls)
    videos = [t for t, m in calls if m == "sendVideo"]
    run.clips = len(videos)
    run.window_s = end - start if limited or not videos else videos[-1] - start
    return run


# ----------------------------------------------------------------------------- report


ACK_COLUMNS = ["run", "platform", "users", "queued before", "answered", "p50", "p95", "p99", "max"]
ACK_COLUMNS += ["target p99", "p99 target", "API calls/s"]


def report_acks(report: harness.Report, runs: list[AckRun]) -> None:
    notes = []
    for r in runs:
        label = f"{r.name} ({r.platform})"
        if r.unanswered:
            notes.append(
                f"{label}: {len(r.unanswered)} of {r.users} commands had no answer "
                f"after {r.window_s:.0f} s ('>')."
            )
        if r.odd_first:
            what = "a deferral ('thinking…')" if r.platform == "Discord" else "not a '⏳ Queued' message"
            notes.append(f"{label}: {r.odd_first} first replies were {what}.")
        if r.killed:
            notes.append(f"{label}: the bot did not stop within 10 s and was killed.")
        calls = ", ".join(f"{m} {n}" for m, n in r.methods.most_common())
        notes.append(f"{label}, calls in the {r.window_s:.1f} s window: {calls}")
    report.table(
        "Time from `/video` to the bot's first reply (ms)",
        ACK_COLUMNS,
        [
            [
                r.name, r.platform, r.users, r.queued, f"{len(r.latencies)}/{r.users}",
                r.stat(50), r.stat(95), r.stat(99), r.stat(None), f"< {r.target_s * 1000:.0f}",
                verdict(r.met()), sum(r.methods.values()) / r.window_s if r.window_s else 0.0,
            ]
            for r in runs
        ],
        notes,
    )  # fmt: skip


def report_lag(report: harness.Report, rows: list[tuple[str, str, float, list[float]]]) -> None:
    table = []
    for name, platform, window, lag in rows:
        p50, p99 = percentile(lag, 50), percentile(lag, 99)
        top = max(lag) if lag else math.nan
        ok = verdict(p99 < LAG_P99_TARGET_S) if lag else "—"
        table.append(
            [
                name,
                platform,
                window,
                len(lag),
                p50 * 1000,
                p99 * 1000,
                top * 1000,
                f"< {LAG_P99_TARGET_S * 1000:.0f}",
                ok,
            ]
        )
    report.table(
        f"Event-loop lag in the bot ({PROBE_PERIOD_S * 1000:.0f} ms sleep probe, ms late)",
        ["run", "platform", "window s", "wake-ups", "p50", "p99", "max", "target p99", "p99 target"],
        table,
    )


def report_group(report: harness.Report, runs: list[GroupRun]) -> None:
    notes = [
        f"{r.name}: " + (", ".join(f"{m} {n}" for m, n in r.calls.most_common()) or "no calls") for r in runs
    ]
    raw = next((r for r in runs if not r.limited and r.clips), None)
    if raw is not None:
        budget = TELEGRAM_GROUP_BUDGET / raw.calls_per_clip
        notes.append(
            f"targets: calls per clip ≤ {CALLS_PER_CLIP_TARGET:.0f}: {raw.calls_per_clip:.2f}, "
            f"{verdict(raw.calls_per_clip <= CALLS_PER_CLIP_TARGET)}; ≥ {CLIPS_PER_MIN_TARGET:.0f} clips/min "
            f"within Telegram's budget: {budget:.1f}, {verdict(budget >= CLIPS_PER_MIN_TARGET)}"
        )
    for r in runs:
        if r.limited:
            notes.append(
                f"as shipped, the limiter allows a burst of 20 calls, then one every 3 s: {r.clips} clips in "
                f"{r.window_s:.0f} s ({verdict(r.clips_per_min >= CLIPS_PER_MIN_TARGET)} against "
                f"≥ {CLIPS_PER_MIN_TARGET:.0f}/min)"
            )
    rows = [
        [
            r.name, r.window_s, f"{r.clips}/{r.people}", sum(r.calls.values()),
            r.calls_per_clip if r.clips else None, r.clips_per_min,
            TELEGRAM_GROUP_BUDGET / r.calls_per_clip if r.clips else 0.0,
        ]
        for r in runs
    ]  # fmt: skip
    report.table(
        f"Busy Telegram group: {runs[0].people} people send `/video` at once, instant renders",
        ["run", "window s", "clips delivered", "group API calls", "calls per clip", "clips/min measured",
         f"clips/min at {TELEGRAM_GROUP_BUDGET:.0f} calls/min"],
        rows,
        notes,
    )  # fmt: skip


# ----------------------------------------------------------------------------- main


def parse_args() -> argparse.Namespace:
    parser = harness.parser(__doc__)
    parser.add_argument("--users", type=int, help="people sending /video in run 1 (default 200; quick 3)")
    parser.add_argument("--queued", type=int, help="jobs already waiting in run 2 (default 10000; quick 100)")
    parser.add_argument("--new-users", type=int, help="people sending /video in run 2 (default 50; quick 2)")
    parser.add_argument("--burst", type=int, help="people in the busy group, run 4 (default 20; quick 3)")
    parser.add_argument(
        "--spread", type=float, help="seconds over which run 1's commands arrive (default 10)"
    )
    parser.add_argument("--spread-queued", type=float, help="the same for run 2 (default 5)")
    parser.add_argument("--timeout", type=float, help="seconds to wait for the last answers (default 60)")
    parser.add_argument(
        "--limited-window",
        type=float,
        help="seconds of the group burst as shipped (default 60; quick 0: skip)",
    )
    parser.add_argument(
        "--platforms", default="telegram,discord", help="runs 1 and 2 (default telegram,discord)"
    )
    parser.add_argument("--frames", type=int, default=8, help="frames per clip (tiny model, 64x64)")
    parser.add_argument("--steps", type=int, default=2, help="denoising steps per clip")
    parser.add_argument("--seed", type=int, default=1, help="seed for the arrival times")
    parser.add_argument("--log-level", default="ERROR", help="the bot process's log level (stderr)")
    quick = {
        "users": (200, 3),
        "queued": (10_000, 20),
        "new_users": (50, 2),
        "burst": (20, 3),
        "spread": (10.0, 0.5),
        "spread_queued": (5.0, 0.5),
        "timeout": (60.0, 20.0),
        "limited_window": (60.0, 0.0),
    }
    args = harness.parse(parser, quick)
    args.platform_list = [p.strip() for p in args.platforms.split(",") if p.strip()]
    if unknown := set(args.platform_list) - {"telegram", "discord"}:
        parser.error(f"unknown platform(s): {', '.join(sorted(unknown))}")
    return args


async def bench(args: argparse.Namespace) -> None:
    started = time.perf_counter()

    def progress(what: str) -> None:
        print(f"… {what} done ({time.perf_counter() - started:.0f} s)", file=sys.stderr)

    acks: list[AckRun] = []
    for platform in args.platform_list:
        acks.append(await ack_run(args, platform, f"{args.users} users", args.users, 0, ACK_P99_TARGET_S))
        progress(f"{platform}: {args.users} users")
    for platform in args.platform_list:
        name = f"{args.new_users} users, {args.queued} queued"
        acks.append(await ack_run(args, platform, name, args.new_users, args.queued, ACK_P99_QUEUED_TARGET_S))
        progress(f"{platform}: {args.queued} queued")
    groups = [await group_burst(args, limited=False)]
    progress("group burst")
    if args.limited_window > 0:
        groups.append(await group_burst(args, limited=True))
        progress("group burst as shipped")
    report = harness.Report(
        "ack",
        args,
        f"tiny model 64x64, {args.frames} frames, {args.steps} steps; run 1: {args.users} users over "
        f"{args.spread:g} s; run 2: {args.new_users} users over {args.spread_queued:g} s with {args.queued} "
        f"waiting; answers awaited up to {args.timeout:g} s; group burst: {args.burst} people",
    )
    report_acks(report, acks)
    lag_rows = [(r.name, r.platform, r.window_s, r.lag) for r in acks]
    report_lag(
        report, lag_rows + [(f"group burst, {g.name}", "Telegram", g.lag_window_s, g.lag) for g in groups]
    )
    report_group(report, groups)
    report.finish()


def main() -> None:
    asyncio.run(bench(parse_args()))


if __name__ == "__main__":
    main()
