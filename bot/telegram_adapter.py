"""Telegram, through python-telegram-bot: updates → core calls, and `Outbox` back out.

The entry point the rest of the bot imports; the parts live in `bot.telegrambot`: `refs` (how
the core's message refs name Telegram messages, and who is asking), `buttons` (callback data
and keyboards), `admins` (the chat-administrator cache), `pictures` (photos and clips a
message carries), `outbox` (`TelegramOutbox`), `handlers` (`TelegramAdapter`) and
`application` (PTB's application, polling or webhook, and `TelegramBot`).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from bot.telegrambot.application import WEBHOOK_PATH, TelegramBot
from bot.telegrambot.buttons import parse_callback
from bot.telegrambot.outbox import TelegramOutbox
from bot.telegrambot.refs import PLATFORM

if TYPE_CHECKING:
    from bot.core.service import VideoService
    from bot.web import WebSide

__all__ = ["PLATFORM", "WEBHOOK_PATH", "TelegramBot", "TelegramOutbox", "parse_callback", "run"]


async def run(service: VideoService, stop: asyncio.Event, web: WebSide | None = None) -> None:
    """The Telegram side until `stop` is set: long polling, or a webhook if configured (served by
    the web side when it is on)."""
    bot = TelegramBot(service, service.config, web)
    service.add_outbox(PLATFORM, bot.outbox)
    await bot.run(stop)
