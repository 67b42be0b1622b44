"""A recording in-memory `Outbox` for core tests: what the bot said, edited, sent, deleted.

Tests await what they expect (`await outbox.wait_for(...)`) instead of sleeping: every
record wakes the waiters, and a deadline turns "never happened" into a clear failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.domain import Button, ChatRef, Clip, Delivery, UserRef

if TYPE_CHECKING:
    from bot.core.ports import Outbox


@dataclass
class Sent:
    """One thing the core asked the platform to do."""

    kind: str  # "text", "edit", "video", "delete", "buttons", "thread", "activity"
    chat: ChatRef
    text: str = ""
    ref: str | None = None  # the message it created, or the one it edited/deleted
    reply_to: str | None = None
    private: bool = False
    user: UserRef | None = None
    clip: Clip | None = None
    buttons: list[Button] = field(default_factory=list)
    status_message: str | None = None


class DeliveryFailed(Exception):
    """What a flaky platform raises from `send_video`."""


class RecordingOutbox:
    """Implements the whole `bot.core.ports.Outbox` in memory and records every call in order."""

    def __init__(
        self,
        *,
        upload_limit: int = 2**40,
        network_yields: int = 0,
        fail_videos: int = 0,
        on_send_text: Callable[[ChatRef, str], Awaitable[None] | None] | None = None,
        on_edit: Callable[[ChatRef, str, str], Awaitable[None] | None] | None = None,
    ) -> None:
        self.records: list[Sent] = []
        self._upload_limit = upload_limit
        self._network_yields = network_yields  # event-loop turns each call takes, like a real API
        self.fail_videos = fail_videos  # how many send_video calls fail before one works
        self.video_attempts = 0
        self.on_send_text = on_send_text  # called before a text is "sent" (may be async)
        self.on_edit = on_edit  # called before an edit is recorded (may be async)
        self._ids = itertools.count(100)
        self._changed = asyncio.Event()

    # the Outbox protocol ---------------------------------------------------------------

    def upload_limit(self, chat: ChatRef) -> int:
        return self._upload_limit

    async def send_text(
        self,
        chat: ChatRef,
        text: str,
        *,
        reply_to: str | None = None,
        private: bool = False,
        user: UserRef | None = None,
    ) -> str | None:
        if self.on_send_text is not None:
            result = self.on_send_text(chat, text)
            if result is not None:
                await result
        await self._network()
        ref = f"m{next(self._ids)}"
        self._record(Sent("text", chat, text, ref, reply_to=reply_to, private=private, user=user))
        return ref

    async def edit_text(self, chat: ChatRef, message: str, text: str) -> None:
        if self.on_edit is not None:
            result = self.on_edit(chat, message, text)
            if result is not None:
                await result
        await self._network()
        self._record(Sent("edit", chat, text, message))

    async def send_video(self, delivery: Delivery) -> str:
        await self._network()
        self.video_attempts += 1
        if self.video_attempts <= self.fail_videos:
            raise DeliveryFailed(f"upload {self.video_attempts} failed")
        ref = f"v{next(self._ids)}"
        self._record(
            Sent(
                "video",
                delivery.chat,
                delivery.caption,
                ref,
                reply_to=delivery.reply_to,
                user=delivery.user,
                clip=delivery.clip,
                buttons=list(delivery.buttons),
                status_message=delivery.status_message,
            )
        )
        return ref

    async def delete(self, chat: ChatRef, message: str) -> None:
        await self._network()
        self._record(Sent("delete", chat, "", message))

    async def show_activity(self, chat: ChatRef) -> None:
        await self._network()
        self._record(Sent("activity", chat))

    async def edit_buttons(self, chat: ChatRef, message: str, buttons: Sequence[Button]) -> None:
        await self._network()
        self._record(
            Sent("buttons", chat, " ".join(b.label for b in buttons), message, buttons=list(buttons))
        )

    async def open_thread(self, chat: ChatRef, message: str, name: str) -> ChatRef | None:
        await self._network()
        self._record(Sent("thread", chat, name, message))
        return None

    # for tests ------------------------------------------------------------------------

    async def _network(self) -> None:
        for _ in range(self._network_yields):
            await asyncio.sleep(0)

    def _record(self, sent: Sent) -> None:
        self.records.append(sent)
        self._changed.set()

    def of_kind(self, kind: str) -> list[Sent]:
        return [r for r in self.records if r.kind == kind]

    @property
    def texts(self) -> list[str]:
        return [r.text for r in self.of_kind("text")]

    @property
    def edits(self) -> list[str]:
        return [r.text for r in self.of_kind("edit")]

    @property
    def videos(self) -> list[Sent]:
        return self.of_kind("video")

    def everything_said(self) -> str:
        return "\n".join(r.text for r in self.records)

    async def wait_for(
        self, predicate: Callable[[Sent], bool], *, timeout: float = 10.0, what: str = "a message"
    ) -> Sent:
        """The first record matching `predicate`, waiting for it up to `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            for record in self.records:
                if predicate(record):
                    return record
            self._changed.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                said = "\n  ".join(f"{r.kind}: {r.text!r}" for r in self.records)
                raise AssertionError(f"timed out waiting for {what}; the bot said:\n  {said}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)

    async def wait_for_text(self, needle: str, *, kind: str | None = None, timeout: float = 10.0) -> Sent:
        return await self.wait_for(
            lambda r: needle in r.text and (kind is None or r.kind == kind),
            timeout=timeout,
            what=f"{kind or 'anything'} containing {needle!r}",
        )

    async def wait_for_edit(self, message: str, *, timeout: float = 10.0) -> Sent:
        """The first edit of the message `message`."""
        return await self.wait_for(
            lambda r: r.kind == "edit" and r.ref == message, timeout=timeout, what=f"an edit of {message}"
        )

    async def wait_for_video(self, timeout: float = 10.0) -> Sent:
        return await self.wait_for(lambda r: r.kind == "video", timeout=timeout, what="a video")


if TYPE_CHECKING:
    # mypy checks here that the recording outbox still implements every method of the port.
    _implements_the_port: type[Outbox] = RecordingOutbox
