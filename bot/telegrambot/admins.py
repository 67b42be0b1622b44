"""Whether someone administers a chat: asked from Telegram, cached, and corrected by updates."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict

from telegram import Bot
from telegram.constants import ChatMemberStatus
from telegram.error import TelegramError

log = logging.getLogger(__name__)

ADMIN_STATUSES = frozenset({ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER})


class AdminCache:
    """Whether a user administers a chat, as Telegram last said; bounded, oldest dropped first.

    Filled by getChatMember answers (believed for `ttl_s`) and chat_member updates (at once).
    """

    def __init__(self, ttl_s: float, max_entries: int) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[int, int], tuple[float, bool]] = OrderedDict()

    def get(self, chat_id: int, user_id: int) -> bool | None:
        entry = self._entries.get((chat_id, user_id))
        if entry is None or time.monotonic() - entry[0] >= self.ttl_s:
            return None
        return entry[1]

    def put(self, chat_id: int, user_id: int, is_admin: bool, at: float) -> None:
        """What Telegram said at `at`, unless something newer is known (an update beats an
        answer to a question asked before it)."""
        key = (chat_id, user_id)
        known = self._entries.get(key)
        if known is not None and known[0] > at:
            return
        self._entries[key] = (at, is_admin)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def heard(self, chat_id: int, user_id: int, status: str) -> None:
        """A chat_member update (promoted, demoted, left, banned): believed now."""
        self.put(chat_id, user_id, status in ADMIN_STATUSES, time.monotonic())

    async def ask(self, bot: Bot, chat_id: int, user_id: int) -> bool:
        """Asked from Telegram, cached: admins change rarely, commands and presses come in bursts."""
        cached = self.get(chat_id, user_id)
        if cached is not None:
            return cached
        asked = time.monotonic()
        try:
            member = await bot.get_chat_member(chat_id, user_id)
            is_admin = member.status in ADMIN_STATUSES
        except TelegramError:
            log.warning("could not ask Telegram whether %s administers %s", user_id, chat_id)
            is_admin = False
        self.put(chat_id, user_id, is_admin, asked)
        return is_admin
