"""Discord: slash commands and result buttons, translated into calls on the core.

The entry point the rest of the bot imports; the parts live in `bot.discordbot`:
`refs` (how the core's stored refs name Discord messages), `client` (`VideoBotClient`,
`point_at`, `run_client`), `outbox` (`DiscordOutbox`), `buttons` (`ResultButton`) and
`commands` (the slash commands).  Only what the rest of the bot uses is named here; tests of
a part import it from its module.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from bot.discordbot.client import VideoBotClient, point_at, run_client
from bot.discordbot.refs import PLATFORM

if TYPE_CHECKING:
    from bot.core.service import VideoService
    from bot.web import WebSide

__all__ = ["PLATFORM", "VideoBotClient", "point_at", "run", "run_client"]


async def run(service: VideoService, stop: asyncio.Event, web: WebSide | None = None) -> None:
    """The Discord side until `stop` is set (discord.py reconnects by itself; no web part)."""
    point_at(service.config.discord)
    client = VideoBotClient(service)
    service.add_outbox(PLATFORM, client.outbox)
    await run_client(client, service.config.secrets.discord_token, stop)
