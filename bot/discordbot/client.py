"""The Discord client: serving interactions as core requests, deferring slow answers, staying connected."""

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import discord
import yarl
from discord import app_commands

from bot.core import messages
from bot.core.service import VideoService
from bot.discordbot.buttons import ResultButton
from bot.discordbot.commands import Words, animate_command, build_commands
from bot.discordbot.groups import AdminCommands, ChallengeCommands, leaderboard_command
from bot.discordbot.host import Live
from bot.discordbot.outbox import NO_MENTIONS, DiscordOutbox
from bot.discordbot.refs import EDIT_WINDOW_S, PLATFORM, OriginRef
from bot.domain import ChatRef, Request, UserRef
from bot.settings.sections import DiscordConfig

# One name for the whole adapter's log, as before it was split into modules.
log = logging.getLogger(__name__)

# Discord wants an answer within 3 s; the core normally answers at once, but some commands
# edit or delete a message first, and a 429 there could eat the whole budget.
DEFER_AFTER_S = 2.0


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
        self.clock = clock
        self.defer_after_s = defer_after_s
        self.tree = _Tree(self)
        self.outbox = DiscordOutbox(self)
        self.live: dict[int, Live] = {}
        self._caught_up = False  # READY comes again after a lost session; catching up is once

    async def setup_hook(self) -> None:
        """Register the persistent buttons and sync the commands (to the test guild if set)."""
        self.add_dynamic_items(ResultButton)
        await self.tree.set_translator(Words())
        guild_id = self.service.config.discord.test_guild_id
        guild = discord.Object(guild_id) if guild_id else None
        for command in [
            *build_commands(self),
            ChallengeCommands(self),
            leaderboard_command(self),
            AdminCommands(self),
        ]:
            self.tree.add_command(command, guild=guild)
        self.tree.add_command(animate_command(self), guild=guild)  # Apps → Animate on a picture
        synced = await self.tree.sync(guild=guild)
        where = f"to guild {guild_id}" if guild else "globally"
        log.info("synced %d Discord commands %s", len(synced), where)

    async def on_ready(self) -> None:
        """Connected: the first time, let the core deliver what waited for us (clips, failure notices)."""
        log.info("Discord connected as %s", self.user)
        if not self._caught_up:
            self._caught_up = True
            await self.service.platform_ready(PLATFORM)

    def request(
        self, interaction: discord.Interaction[Any], origin: OriginRef, chat_id: int | None = None
    ) -> Request:
        """Who asked and where (`chat_id`: instead of the interaction's channel).

        Admin: Manage Server in this guild (the core adds owners and roles).  Roles are given
        by id only: anyone can make a server with a role called "VIP".  The chat carries its
        server, whose settings and bans cover all its channels and threads.
        """
        user = interaction.user
        permissions = interaction.permissions
        manages = interaction.guild_id is not None and (permissions.manage_guild or permissions.administrator)
        roles: tuple[str, ...] = ()
        if isinstance(user, discord.Member):
            held = [role for role in user.roles if not role.is_default()]
            roles = tuple(str(role.id) for role in held)
        return Request(
            user=UserRef(
                PLATFORM, str(user.id), user.display_name, messages.normalise_locale(str(interaction.locale))
            ),
            chat=ChatRef(
                PLATFORM,
                str(chat_id or interaction.channel_id),
                is_group=interaction.guild_id is not None,
                server=str(interaction.guild_id or ""),
            ),
            reply_to=str(origin),
            is_admin=manages,
            roles=roles,
        )

    @contextlib.asynccontextmanager
    async def serving(
        self,
        interaction: discord.Interaction[Any],
        *,
        private: bool = False,
        public_answer: bool = False,
        lasting: bool = False,
        chat_id: int | None = None,
    ) -> AsyncIterator[Request]:
        """The `Request` for an interaction, answerable through the outbox while the handler runs.

        `private`: every answer is ephemeral (button presses).  `public_answer`: the answer we
        expect is public (the /video ack), which decides how a slow answer is deferred.
        `lasting`: a public answer is named by its channel message (`ch:`), not by the token.
        `chat_id`: the chat the core sees, instead of the interaction's channel.

        A handler the core answered nowhere here (its news went to the channel) gets a short
        "Done": Discord shows an error for an interaction left without an answer.
        """
        if interaction.channel_id is not None:
            self.outbox.upload_limits[str(interaction.channel_id)] = interaction.filesize_limit
        origin = OriginRef(interaction.id, self.clock(), interaction.token)
        defer_private = private or not public_answer
        live = Live(interaction, origin, private, defer_private, lasting)
        self.live[interaction.id] = live
        timer = asyncio.create_task(self._defer_when_slow(live))
        try:
            yield self.request(interaction, origin, chat_id)
            locale = messages.normalise_locale(str(interaction.locale))
            await self.outbox.answer_if_silent(live, messages.text("command_done", locale))
        finally:
            timer.cancel()
            del self.live[interaction.id]

    async def _defer_when_slow(self, live: Live) -> None:
        await asyncio.sleep(self.defer_after_s)
        async with live.lock:
            if not live.interaction.response.is_done():
                await live.interaction.response.defer(ephemeral=live.defer_private, thinking=True)
                live.deferred = True

    def token_fresh(self, born: float, window: float = EDIT_WINDOW_S) -> bool:
        return self.clock() - born < window

    def webhook(self, token: str) -> discord.Webhook:
        """The webhook of the interaction with `token`: it needs only the app id, so it survives restarts."""
        assert self.application_id is not None, "used before login"
        return discord.Webhook.partial(self.application_id, token, client=self)


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
