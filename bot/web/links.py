"""The web side's public addresses, given to the core as its `WebLinks` port: the core says which
page it means, the web side knows where that page lives."""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain import ChatRef
from bot.settings.sections import WebConfig
from bot.store import Store
from bot.store.public import CHALLENGE, CHAT

PAGES = {CHALLENGE: "challenges", CHAT: "leaderboard"}  # the web side's path for each kind


@dataclass(frozen=True)
class PublicLinks:
    """Links under `[web] public_url`, only for chats whose admins put them on the gallery."""

    config: WebConfig
    store: Store

    def challenge(self, chat: ChatRef, challenge_id: int) -> str | None:
        return self._page(chat, CHALLENGE, challenge_id)

    def leaderboard(self, chat: ChatRef) -> str | None:
        return self._page(chat, CHAT, chat.key)

    def _page(self, chat: ChatRef, kind: str, target: str | int) -> str | None:
        base = self.config.public_url.rstrip("/")
        if not base or not self.store.public.is_published(chat):
            return None
        token = self.store.public.token(kind, target)
        if token is None:  # the database was locked: this reply goes without the link
            return None
        return f"{base}/{PAGES[kind]}/{token}"


__all__ = ["PAGES", "PublicLinks"]
