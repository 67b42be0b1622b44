"""How the core speaks on Telegram: `TelegramOutbox`, the core's `Outbox`.

Each call says which lane of `LaneRateLimiter` it is in (PTB's `rate_limit_args`): a text that
replies to someone is an answer to a person, served before clips and edits; "uploading…" is
decoration, dropped rather than late.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from telegram import Message
from telegram.constants import ChatAction
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import Application

from bot.core import messages
from bot.domain import Button, ChatRef, Delivery, Undeliverable, UserRef
from bot.telegrambot.buttons import keyboard
from bot.telegrambot.limits import ANSWER, DECORATION, WORK, Call, LaneRateLimiter
from bot.telegrambot.refs import id_of, message_ref, send_reply

log = logging.getLogger(__name__)

ALERT_MAX_CHARS = 200
UPLOAD_TIMEOUT_S = 300.0
TEXT_MAX = 4096  # UTF-16 units in a message
CAPTION_MAX = 1024  # ... and in a caption
# Answers to sendVideo that no retry changes: the job fails at once (told, refunded, deleted).
FINAL_ANSWERS = (
    "chat not found",
    "not enough rights",
    "topic_closed",
    "topic_deleted",
    "caption is too long",
    "request entity too large",
    "have no rights to send",
)


def is_final(description: str) -> bool:
    return any(answer in description.lower() for answer in FINAL_ANSWERS)


class TelegramOutbox:
    """How the core speaks on Telegram."""

    def __init__(self, application: Application, upload_limit_bytes: int) -> None:  # type: ignore[type-arg]
        self.bot = application.bot
        self.upload_limit_bytes = upload_limit_bytes
        self.answered_queries: set[str] = set()
        # PTB refuses rate_limit_args without a limiter, and another limiter would misread ours.
        self._says_lanes = isinstance(self.bot.rate_limiter, LaneRateLimiter)

    def _lane(self, call: Call) -> dict[str, Any]:
        return {"rate_limit_args": call} if self._says_lanes else {}

    def upload_limit(self, chat: ChatRef) -> int:
        return self.upload_limit_bytes

    async def send_text(
        self,
        chat: ChatRef,
        text: str,
        *,
        reply_to: str | None = None,
        private: bool = False,
        user: UserRef | None = None,
    ) -> str | None:
        if reply_to and reply_to.startswith("cb:"):
            query_id = reply_to.split(":")[1]
            if private and len(text) <= ALERT_MAX_CHARS and query_id not in self.answered_queries:
                self.answered_queries.add(query_id)
                await self.bot.answer_callback_query(query_id, text=text, show_alert=True)
                return None
        text = messages.fit(text, TEXT_MAX, utf16=True)
        # A reply answers someone; a text of its own (a board, an announcement) is work.
        lane = self._lane(ANSWER if reply_to else WORK)
        sent = await send_reply(self.bot.send_message, reply_to, chat_id=int(chat.id), text=text, **lane)
        return message_ref(sent)

    async def edit_text(self, chat: ChatRef, message: str, text: str) -> None:
        try:
            text = messages.fit(text, TEXT_MAX, utf16=True)
            await self.bot.edit_message_text(
                text, chat_id=int(chat.id), message_id=id_of(message), **self._lane(WORK)
            )
        except BadRequest as error:
            if "not modified" not in str(error).lower():
                raise

    async def send_video(self, delivery: Delivery) -> str:
        try:
            sent = await self._send_video(delivery)
        except Forbidden as error:
            raise Undeliverable(str(error)) from error
        except BadRequest as error:
            if is_final(str(error)):
                raise Undeliverable(str(error)) from error
            raise
        except TelegramError as error:
            if "413" in str(error) or "too large" in str(error).lower():
                raise Undeliverable(str(error)) from error
            raise
        return str(sent.message_id)

    async def _send_video(self, delivery: Delivery) -> Message:
        clip = delivery.clip
        data = Path(clip.path).read_bytes()
        # a loop goes as an animation (a silent MP4 Telegram plays round like a GIF)
        send, media = (
            (self.bot.send_animation, {"animation": data})
            if delivery.job.params.loop
            else (self.bot.send_video, {"video": data, "supports_streaming": True})
        )
        return await send_reply(
            send,  # type: ignore[arg-type]
            delivery.reply_to,
            chat_id=int(delivery.chat.id),
            filename=Path(clip.path).name,
            caption=messages.fit(delivery.caption, CAPTION_MAX, utf16=True),
            width=clip.width,
            height=clip.height,
            duration=max(1, round(clip.duration_s)),
            **media,
            # Long: a timed-out upload may still have arrived, and the core would send it again.
            read_timeout=UPLOAD_TIMEOUT_S,
            write_timeout=UPLOAD_TIMEOUT_S,
            reply_markup=keyboard(delivery.buttons),
            **self._lane(WORK),
        )

    async def delete(self, chat: ChatRef, message: str) -> None:
        await self.bot.delete_message(int(chat.id), id_of(message), **self._lane(WORK))

    async def edit_buttons(self, chat: ChatRef, message: str, buttons: Sequence[Button]) -> None:
        try:
            await self.bot.edit_message_reply_markup(
                int(chat.id), id_of(message), reply_markup=keyboard(buttons), **self._lane(WORK)
            )
        except BadRequest as error:
            if "not modified" not in str(error).lower():
                raise

    async def open_thread(self, chat: ChatRef, message: str, name: str) -> ChatRef | None:
        return None  # entries are replies to the announcement instead

    async def show_activity(self, chat: ChatRef) -> None:
        try:
            await self.bot.send_chat_action(int(chat.id), ChatAction.UPLOAD_VIDEO, **self._lane(DECORATION))
        except TelegramError:
            log.debug("chat action failed", exc_info=True)
