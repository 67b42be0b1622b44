"""Interactions while their handlers run: who asked (a core `Request`), the first answer in the
callback or in place of a deferral, a deferral when the answer is slow, and the way back to an
interaction by its token afterwards.

The commands, the buttons and the outbox hold one `Interactions`; the client makes it and the
outbox, so nothing here imports them.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import discord

from bot.core import messages
from bot.core.service import VideoService
from bot.discordbot.refs import EDIT_WINDOW_S, ORIGINAL, PLATFORM, ChannelRef, HookRef, OriginRef
from bot.domain import ChatRef, Request, UserRef

NO_MENTIONS = discord.AllowedMentions.none()
# Discord wants an answer within 3 s; the core normally answers at once, but some commands
# edit or delete a message first, and a 429 there could eat the whole budget.
DEFER_AFTER_S = 2.0


@dataclass
class Live:
    """An interaction whose handler is still running: its first answer is the callback."""

    interaction: discord.Interaction[Any]
    origin: OriginRef
    private: bool  # answer everything ephemerally (button presses)
    defer_private: bool  # how a slow answer is deferred: as the expected answer will be
    lasting: bool = False  # name a public answer by its channel message (challenge announcements)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # the deferral timer vs the answer
    deferred: bool = False
    original_filled: bool = False


class Interactions:
    """The client's interactions, served as core requests.

    `clock` dates interaction tokens (tests age them without waiting); `defer_after_s` is how long
    a handler may take before its answer is deferred ("thinking…").
    """

    def __init__(
        self,
        client: discord.Client,
        service: VideoService,
        *,
        clock: Callable[[], float] = time.time,
        defer_after_s: float = DEFER_AFTER_S,
    ) -> None:
        self.client = client
        self.service = service
        self.clock = clock
        self.defer_after_s = defer_after_s
        self.live: dict[int, Live] = {}
        self.upload_limits: dict[str, int] = {}  # channel id -> last attachment limit Discord told us

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
            self.upload_limits[str(interaction.channel_id)] = interaction.filesize_limit
        origin = OriginRef(interaction.id, self.clock(), interaction.token)
        defer_private = private or not public_answer
        live = Live(interaction, origin, private, defer_private, lasting)
        self.live[interaction.id] = live
        timer = asyncio.create_task(self._defer_when_slow(live))
        try:
            yield self.request(interaction, origin, chat_id)
            locale = messages.normalise_locale(str(interaction.locale))
            await self.answer_if_silent(live, messages.text("command_done", locale))
        finally:
            timer.cancel()
            del self.live[interaction.id]

    async def _defer_when_slow(self, live: Live) -> None:
        await asyncio.sleep(self.defer_after_s)
        async with live.lock:
            if not live.interaction.response.is_done():
                await live.interaction.response.defer(ephemeral=live.defer_private, thinking=True)
                live.deferred = True

    async def answer_live(self, live: Live, text: str, private: bool) -> str | None:
        """The interaction's first answer, in its callback or in place of the deferral; else None."""
        original = str(HookRef(ORIGINAL, live.origin.born, live.origin.token))
        lasting = live.lasting and not private
        async with live.lock:
            response = live.interaction.response
            if not response.is_done():
                answer = await response.send_message(text, ephemeral=private, allowed_mentions=NO_MENTIONS)
                live.original_filled = True
                if lasting:
                    message_id = answer.message_id or (await live.interaction.original_response()).id
                    return str(ChannelRef(channel_id(live.interaction), message_id))
                return original
            if live.deferred and not live.original_filled:
                live.original_filled = True
                if private == live.defer_private:
                    message = await live.interaction.edit_original_response(content=text)
                    return str(ChannelRef(message.channel.id, message.id)) if lasting else original
                # The "thinking…" message has the wrong visibility for this answer.
                await live.interaction.delete_original_response()
        return None

    async def answer_if_silent(self, live: Live, text: str) -> None:
        """Answer an interaction nothing answered yet (ephemerally, or in place of its deferral)."""
        async with live.lock:
            if not live.interaction.response.is_done():
                await live.interaction.response.send_message(text, ephemeral=True)
            elif live.deferred and not live.original_filled:
                await live.interaction.edit_original_response(content=text)
            live.original_filled = True

    def token_fresh(self, born: float, window: float = EDIT_WINDOW_S) -> bool:
        return self.clock() - born < window

    def webhook(self, token: str) -> discord.Webhook:
        """The webhook of the interaction with `token`: it needs only the app id, so it survives restarts."""
        assert self.client.application_id is not None, "used before login"
        return discord.Webhook.partial(self.client.application_id, token, client=self.client)


def interactions_of(client: discord.Client) -> Interactions:
    """The `Interactions` of the client a button press came to (ours, which holds one)."""
    found = getattr(client, "interactions", None)
    if not isinstance(found, Interactions):
        raise TypeError(f"{type(client).__name__} serves no videobot interactions")
    return found


def channel_id(interaction: discord.Interaction[Any]) -> int:
    assert interaction.channel_id is not None, "interactions with an answer come from a channel"
    return interaction.channel_id
