"""The Discord client: the command tree, the buttons, the outbox and its `Interactions`; staying connected."""

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import discord
import yarl
from discord import app_commands

from bot.core import messages
from bot.core.service import VideoService
from bot.discordbot.buttons import ResultButton
from bot.discordbot.commands import Words, animate_command, build_commands
from bot.discordbot.groups import AdminCommands, ChallengeCommands, leaderboard_command
from bot.discordbot.interactions import DEFER_AFTER_S, NO_MENTIONS, Interactions
from bot.discordbot.outbox import DiscordOutbox
from bot.discordbot.refs import PLATFORM
from bot.settings.sections import DiscordConfig

# One name for the whole adapter's log, as before it was split into modules.
log = logging.getLogger(__name__)


def point_at(config: DiscordConfig) -> None:
    """Send discord.py's REST and gateway traffic where the config says (a proxy, a test server).

    discord.py has no option for this; these class attributes decide, and REST proxies such as
    nirn-proxy are used the same way.  Webhooks and interaction callbacks follow `Route.BASE`.
    """
    discord.http.Route.BASE = config.api_base_url.rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(config.gateway_url)


class _Tree(app_commands.CommandTree["VideoBotClient"]):
    async def on_error(
        self, interaction: discord.Interaction["VideoBotClient"], error: app_commands.AppCommandError
    ) -> None:
        """The core answers its own errors; this is for ours: log, and never leave the user hanging."""
        log.error("Discord command failed", exc_info=error)
        if not interaction.response.is_done():
            locale = messages.normalise_locale(str(interaction.locale))
            with contextlib.suppress(discord.HTTPException):
                await interaction.response.send_message(
                    messages.text("internal_error", locale), ephemeral=True
                )


class VideoBotClient(discord.Client):
    """The Discord side of the bot: commands, buttons and the outbox, over one `VideoService`.

    `clock` dates interaction tokens (tests age them without waiting); other options go to
    `discord.Client` (tests pass a short `guild_ready_timeout`).
    """

    def __init__(
        self,
        service: VideoService,
        *,
        clock: Callable[[], float] = time.time,
        defer_after_s: float = DEFER_AFTER_S,
        **options: Any,
    ) -> None:
        options.setdefault("intents", discord.Intents(guilds=True))
        options.setdefault("allowed_mentions", NO_MENTIONS)
        super().__init__(**options)
        self.service = service
        self.tree = _Tree(self)
        self.interactions = Interactions(self, service, clock=clock, defer_after_s=defer_after_s)
        self.outbox = DiscordOutbox(self.interactions)
        self._caught_up = False  # READY comes again after a lost session; catching up is once

    async def setup_hook(self) -> None:
        """Register the persistent buttons and sync the commands (to the test guild if set)."""
        self.add_dynamic_items(ResultButton)
        await self.tree.set_translator(Words())
        guild_id = self.service.config.discord.test_guild_id
        guild = discord.Object(guild_id) if guild_id else None
        for command in [
            *build_commands(self.interactions),
            ChallengeCommands(self.interactions),
            leaderboard_command(self.interactions),
            AdminCommands(self.interactions),
        ]:
            self.tree.add_command(command, guild=guild)
        self.tree.add_command(animate_command(self.interactions), guild=guild)  # Apps → Animate on a picture
        synced = await self.tree.sync(guild=guild)
        where = f"to guild {guild_id}" if guild else "globally"
        log.info("synced %d Discord commands %s", len(synced), where)

    async def on_ready(self) -> None:
        """Connected: the first time, let the core deliver what waited for us (clips, failure notices)."""
        log.info("Discord connected as %s", self.user)
        if not self._caught_up:
            self._caught_up = True
            await self.service.platform_ready(PLATFORM)


async def run_client(client: VideoBotClient, token: str, stop: asyncio.Event) -> None:
    """Log in, stay connected (discord.py reconnects), close on `stop`."""
    async with client:
        await client.login(token)
        connection = asyncio.create_task(client.connect(reconnect=True), name="discord-gateway")
        stopping = asyncio.create_task(stop.wait(), name="discord-stop")
        try:
            await asyncio.wait({connection, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            await client.close()
            if not connection.done():
                with contextlib.suppress(asyncio.CancelledError):
                    await connection
        connection.result()  # a gateway that gave up (bad token, intents) stops the bot with its reason
