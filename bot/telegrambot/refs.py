"""How the core's message refs name Telegram messages, and who is asking.

Message refs handed to the core are message ids as strings ("t<topic>:<id>" for a message in a
forum topic, so an answer stays in the topic even if the message is gone); a button press is
"cb:<callback query id>:<message ref>" so a private answer can become a pop-up.

Who is asking: a person, or, when someone posts as a channel or as the group itself
(`sender_chat`), that chat: Telegram then names a shared bot account as the sender.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from telegram import Chat, Message, ReplyParameters, User
from telegram.error import BadRequest

from bot.core import messages
from bot.domain import UserRef

PLATFORM = "telegram"


def message_ref(message: Message) -> str:
    """A message's ref: "17", or "t5:17" in forum topic 5, because only with the topic does an
    answer stay there once 17 is deleted (a reply to a missing message goes to General)."""
    if message.is_topic_message and message.message_thread_id:
        return f"t{message.message_thread_id}:{message.message_id}"
    return str(message.message_id)


def message_id(ref: str | None) -> int | None:
    """The Telegram message a ref points at ("17", "t5:17", "cb:<query id>:t5:17")."""
    if not ref:
        return None
    tail = ref.rsplit(":", 1)[-1]
    return int(tail) if tail.isascii() and tail.isdigit() else None


def id_of(ref: str) -> int:
    """The message id of a ref the core hands back (stored refs may be plain ids)."""
    found = message_id(ref)
    if found is None:
        raise ValueError(f"not a Telegram message ref: {ref!r}")
    return found


def thread_id(ref: str | None) -> int | None:
    """The forum topic a ref's message is in, if any."""
    parts = (ref or "").split(":")
    topic = parts[-2] if len(parts) >= 2 else ""
    return int(topic[1:]) if topic[:1] == "t" and topic[1:].isascii() and topic[1:].isdigit() else None


def reply_to(ref: str | None) -> ReplyParameters | None:
    found = message_id(ref)
    if found is None:
        return None
    return ReplyParameters(message_id=found, allow_sending_without_reply=True)


async def send_reply(send: Callable[..., Awaitable[Message]], ref: str | None, **kwargs: Any) -> Message:
    """`send(...)` as a reply to `ref`, in its forum topic; if the topic is gone (deleted, or the
    group no longer has topics), where Telegram puts it without one."""
    thread = thread_id(ref)
    try:
        return await send(reply_parameters=reply_to(ref), message_thread_id=thread, **kwargs)
    except BadRequest as error:
        if thread is None or "thread not found" not in str(error).lower():
            raise
        return await send(reply_parameters=reply_to(ref), **kwargs)


def sender_ref(chat: Chat) -> UserRef:
    """Someone posting as a channel, or an admin posting as the group: the chat is who asks."""
    return UserRef(PLATFORM, str(chat.id), chat.effective_name or chat.username or "")


def user_ref(user: User) -> UserRef:
    return UserRef(PLATFORM, str(user.id), user.full_name, messages.normalise_locale(user.language_code))


def replied(message: Message) -> Message | None:
    """The message this one replies to, if it is a real one: in a forum topic every message
    "replies" to the topic's creation, which names neither a user nor a clip."""
    answered = message.reply_to_message
    if answered is None or answered.forum_topic_created is not None:
        return None
    if message.is_topic_message and answered.message_id == message.message_thread_id:
        return None
    return answered
