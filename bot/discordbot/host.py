"""What the outbox, the buttons and the command tree need from the Discord client.

They depend on this protocol, not on `client.py`, which builds them: no import cycle.
"""

import asyncio
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

import discord

from bot.core.service import VideoService
from bot.discordbot.refs import EDIT_WINDOW_S, OriginRef
from bot.domain import Request


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


class Host(Protocol):
    service: VideoService
    live: dict[int, Live]

    def serving(
        self,
        interaction: discord.Interaction[Any],
        *,
        private: bool = False,
        public_answer: bool = False,
        lasting: bool = False,
        chat_id: int | None = None,
    ) -> AbstractAsyncContextManager[Request]: ...

    def token_fresh(self, born: float, window: float = EDIT_WINDOW_S) -> bool: ...

    def webhook(self, token: str) -> discord.Webhook: ...

    def get_channel(self, id: int, /) -> Any: ...

    async def fetch_channel(self, channel_id: int, /) -> Any: ...

    def get_partial_messageable(self, id: int, /) -> Any: ...
