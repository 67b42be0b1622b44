"""The Telegram harness: the real python-telegram-bot adapter against the loopback fake Bot API.

The bot renders with the ports-level stub backend (`running.stub`), or, in the `render` lane, with
the configured tiny models (or the renderer a test hands `start_bot`)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest_asyncio

from bot.app import build_service, running_worker
from bot.core.ports import Clock
from bot.core.service import VideoService
from bot.render import Renderer
from bot.settings.root import Config
from bot.telegram_adapter import run as run_telegram
from tests.fakes.telegram_api import ApiCall, FakeTelegram
from tests.harness.config import MakeConfig
from tests.harness.core import stub_for
from tests.harness.lanes import in_lane
from tests.harness.stub_backend import StubBackend

BOT_NAME = "videobot_test_bot"


@dataclass
class TelegramBot:
    """A running bot process: its service, and the fake Telegram it talks to."""

    fake: FakeTelegram
    service: VideoService
    config: Config
    stub: StubBackend | None = None


def telegram_settings(fake: FakeTelegram, **extra: Any) -> dict[str, Any]:
    """The `[telegram]` section that points the adapter at `fake`."""
    return {
        "enabled": True,
        "base_url": fake.base_url,
        "base_file_url": fake.base_file_url,
        "poll_timeout_s": 1,
        # the fake enforces no per-group budget, and stories in a group would wait 3 s a message
        # after the first 20; the limiter's pacing has its own tests (tests/test_telegram_limits.py)
        "group_per_min": 0,
        **extra,
    }


@pytest_asyncio.fixture
async def telegram_fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(bot_username=BOT_NAME) as server:
        yield server


@contextlib.asynccontextmanager
async def start_bot(
    fake: FakeTelegram,
    make_config: MakeConfig,
    clock: Clock = time.time,
    *,
    renderer: Renderer | None = None,
    **sections: dict[str, Any],
) -> AsyncIterator[TelegramBot]:
    """The service, its worker and the adapter, polling `fake` (or serving its webhook) until exit."""
    telegram = {**telegram_settings(fake), **sections.pop("telegram", {})}
    config = make_config(env={"TELEGRAM_TOKEN": fake.token}, telegram=telegram, **sections)
    stub = None if renderer is not None or in_lane("render") else stub_for(config)
    service = build_service(config, renderer=renderer, backend=stub, clock=clock)
    stop = asyncio.Event()
    async with running_worker(service):
        task = asyncio.create_task(run_telegram(service, stop))
        try:
            if not config.telegram.webhook_url:
                await fake.wait_until_polling()
            yield TelegramBot(fake, service, config, stub)
        finally:
            service.stop()
            stop.set()
            await task


def replying_to(message_id: int) -> Callable[[ApiCall], bool]:
    """Matches the bot's calls that answer the message `message_id`."""
    return lambda call: (call.params.get("reply_parameters") or {}).get("message_id") == message_id


def in_topic(topic: int) -> Callable[[ApiCall], bool]:
    """Matches the bot's messages that Telegram placed in forum topic `topic`."""
    return lambda call: (call.result or {}).get("message_thread_id") == topic
