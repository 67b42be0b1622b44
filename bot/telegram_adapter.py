"""Telegram, through python-telegram-bot: updates → core calls, and `Outbox` back out.

Thin on purpose: parsing, limits, quota and words live in the core.  What is here is
Telegram's own shape: commands with entities (`/video@name`), replies quoting the
command, inline keyboards, callback queries, chat administrators, upload limits, and
the rule that one slow handler must never hold up the rest (`block=False`).

Message refs handed to the core are message ids as strings ("t<topic>:<id>" for a message
in a forum topic, so an answer stays in the topic even if the message is gone); a button
press is "cb:<callback query id>:<message ref>" so a private answer can become a pop-up.

Who is asking: a person, or, when someone posts as a channel or as the group itself
(`sender_chat`), that chat: Telegram then names a shared bot account as the sender.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web
from telegram import (
    BotCommand,
    CallbackQuery,
    Chat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    ReplyParameters,
    Update,
    User,
)
from telegram.constants import ChatAction, ChatMemberStatus, ChatType, MessageEntityType
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.config import Config
from bot.core import menu, messages
from bot.core.credentials import Upload
from bot.core.service import VideoService
from bot.core.types import Button, ChatRef, Delivery, Request, Undeliverable, UserRef
from bot.telegram_limits import LaneRateLimiter

log = logging.getLogger(__name__)

PLATFORM = "telegram"
CALLBACK_PREFIX = "v"
ALERT_MAX_CHARS = 200
WEBHOOK_PATH = "/telegram"
UPLOAD_TIMEOUT_S = 300.0
ADMIN_STATUSES = frozenset({ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER})
JOB_ID_MAX = 2**63 - 1  # SQLite's largest integer
# A photo (or an image sent as a file) captioned "/video <prompt> [options]", or "/video@bot …"
VIDEO_CAPTION = re.compile(r"/video(?:@(\w+))?(?:\s|$)", re.IGNORECASE)
VERIFY_CAPTION = re.compile(r"/verify(@\w+)?(\s|$)", re.IGNORECASE)  # a clip captioned "/verify"
# What the handlers consume; chat_member must be asked for by name or Telegram never sends it.
ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY, Update.CHAT_MEMBER]
_CALLBACK = re.compile(rf"{CALLBACK_PREFIX}:([a-z_]{{1,32}}):([0-9]{{1,19}})")  # [0-9]: ASCII only


def callback_data(button: Button) -> str:
    """`v:<action>:<job id>`: all a press needs, so buttons work after a restart."""
    return f"{CALLBACK_PREFIX}:{button.action}:{button.job_id}"


def parse_callback(data: str | None) -> tuple[str, int] | None:
    """(action, job id) from `v:<action>:<id>`, or None: anyone can send a press with any data."""
    match = _CALLBACK.fullmatch(data or "")
    if match is None:
        return None
    job_id = int(match[2])
    return (match[1], job_id) if 1 <= job_id <= JOB_ID_MAX else None


def _keyboard(buttons: Sequence[Button]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(b.label, callback_data=callback_data(b)) for b in buttons]]
    )


def _ref(message: Message) -> str:
    """A message's ref: "17", or "t5:17" in forum topic 5, because only with the topic does an
    answer stay there once 17 is deleted (a reply to a missing message goes to General)."""
    if message.is_topic_message and message.message_thread_id:
        return f"t{message.message_thread_id}:{message.message_id}"
    return str(message.message_id)


def _message_id(ref: str | None) -> int | None:
    """The Telegram message a ref points at ("17", "t5:17", "cb:<query id>:t5:17")."""
    if not ref:
        return None
    tail = ref.rsplit(":", 1)[-1]
    return int(tail) if tail.isascii() and tail.isdigit() else None


def _id(ref: str) -> int:
    """The message id of a ref the core hands back (stored refs may be plain ids)."""
    message_id = _message_id(ref)
    if message_id is None:
        raise ValueError(f"not a Telegram message ref: {ref!r}")
    return message_id


def _thread_id(ref: str | None) -> int | None:
    """The forum topic a ref's message is in, if any."""
    parts = (ref or "").split(":")
    topic = parts[-2] if len(parts) >= 2 else ""
    return int(topic[1:]) if topic[:1] == "t" and topic[1:].isascii() and topic[1:].isdigit() else None


def _reply(ref: str | None) -> ReplyParameters | None:
    message_id = _message_id(ref)
    if message_id is None:
        return None
    return ReplyParameters(message_id=message_id, allow_sending_without_reply=True)


async def _send_reply(send: Callable[..., Awaitable[Message]], ref: str | None, **kwargs: Any) -> Message:
    """`send(...)` as a reply to `ref`, in its forum topic; if the topic is gone (deleted, or the
    group no longer has topics), where Telegram puts it without one."""
    thread = _thread_id(ref)
    try:
        return await send(reply_parameters=_reply(ref), message_thread_id=thread, **kwargs)
    except BadRequest as error:
        if thread is None or "thread not found" not in str(error).lower():
            raise
        return await send(reply_parameters=_reply(ref), **kwargs)


def _sender_ref(chat: Chat) -> UserRef:
    """Someone posting as a channel, or an admin posting as the group: the chat is who asks."""
    return UserRef(PLATFORM, str(chat.id), chat.effective_name or chat.username or "")


def _user_ref(user: User) -> UserRef:
    return UserRef(PLATFORM, str(user.id), user.full_name, messages.normalise_locale(user.language_code))


def _replied(message: Message) -> Message | None:
    """The message this one replies to, if it is a real one: in a forum topic every message
    "replies" to the topic's creation, which names neither a user nor a clip."""
    replied = message.reply_to_message
    if replied is None or replied.forum_topic_created is not None:
        return None
    if message.is_topic_message and replied.message_id == message.message_thread_id:
        return None
    return replied


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
        sent = await _send_reply(self.bot.send_message, reply_to, chat_id=int(chat.id), text=text)
        return _ref(sent)

    async def edit_text(self, chat: ChatRef, message: str, text: str) -> None:
        try:
            text = messages.fit(text, TEXT_MAX, utf16=True)
            await self.bot.edit_message_text(text, chat_id=int(chat.id), message_id=_id(message))
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
        return await _send_reply(
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
            reply_markup=_keyboard(delivery.buttons),
        )

    async def delete(self, chat: ChatRef, message: str) -> None:
        await self.bot.delete_message(int(chat.id), _id(message))

    async def edit_buttons(self, chat: ChatRef, message: str, buttons: Sequence[Button]) -> None:
        try:
            await self.bot.edit_message_reply_markup(
                int(chat.id), _id(message), reply_markup=_keyboard(buttons)
            )
        except BadRequest as error:
            if "not modified" not in str(error).lower():
                raise

    async def open_thread(self, chat: ChatRef, message: str, name: str) -> ChatRef | None:
        return None  # entries are replies to the announcement instead

    async def show_activity(self, chat: ChatRef) -> None:
        try:
            await self.bot.send_chat_action(int(chat.id), ChatAction.UPLOAD_VIDEO)
        except TelegramError:
            log.debug("chat action failed", exc_info=True)


class TelegramAdapter:
    """Handlers that turn Telegram updates into core calls."""

    def __init__(self, service: VideoService, application: Application, outbox: TelegramOutbox) -> None:  # type: ignore[type-arg]
        self.service = service
        self.application = application
        self.outbox = outbox
        tg = service.config.telegram
        self.admins = AdminCache(tg.admin_cache_s, tg.admin_cache_max)
        only_new = filters.UpdateType.MESSAGE  # an edited /video must not render twice
        handlers = {
            "video": self.on_video,
            "extend": self.on_extend,
            "cancel": self.on_cancel,
            "queue": self.on_queue,
            "quota": self.on_quota,
            "info": self.on_info,
            "verify": self.on_verify,
            "help": self.on_help,
            "models": self.on_models,
            "admin": self.on_admin,
            "challenge": self.on_challenge,
            "leaderboard": self.on_leaderboard,
        }
        assert set(handlers) == set(menu.BY_NAME), "every command in the menu has a handler"
        handlers.update({alias: handlers[name] for alias, name in menu.ALIASES.items()})
        self.known_commands = set(handlers)
        for name, handler in handlers.items():
            application.add_handler(CommandHandler(name, handler, filters=only_new, block=False))
        # No pattern: a press with data we never sent must be answered too.
        application.add_handler(CallbackQueryHandler(self.on_button, block=False))
        application.add_handler(ChatMemberHandler(self.on_member, ChatMemberHandler.CHAT_MEMBER))
        application.add_handler(
            MessageHandler(
                filters.COMMAND & filters.ChatType.PRIVATE & only_new, self.on_unknown, block=False
            ),
            group=1,
        )
        # A clip sent to the bot in private, as a reply to it, or captioned /verify, is checked.
        sent_clip = (filters.VIDEO | filters.Document.VIDEO) & only_new
        addressed = filters.ChatType.PRIVATE | filters.REPLY | filters.CaptionRegex(VERIFY_CAPTION)
        application.add_handler(MessageHandler(sent_clip & addressed, self.on_clip, block=False))
        # CommandHandler never looks at captions: a captioned photo is a MessageHandler on purpose.
        picture = (filters.PHOTO | filters.Document.IMAGE) & filters.CaptionRegex(VIDEO_CAPTION) & only_new
        application.add_handler(MessageHandler(picture, self.on_picture, block=False))
        application.add_error_handler(self.on_error)

    async def register_commands(self) -> None:
        """The command menu, in each language we speak (setMyCommands)."""
        for locale in messages.LOCALES:
            commands = [BotCommand(c.name, c.describe(locale)) for c in menu.everyone_menu()]
            await self.application.bot.set_my_commands(
                commands, language_code=None if locale == messages.DEFAULT_LOCALE else locale
            )

    async def _request(
        self, update: Update, reply_to: str | None = None, *, ask_admin: bool = True
    ) -> Request:
        """`ask_admin=False`: the command does not care whether its sender is an admin, so no
        getChatMember call (it counts against the group's 20 calls a minute)."""
        message, user, chat = update.effective_message, update.effective_user, update.effective_chat
        assert user is not None and chat is not None
        is_group = chat.type in (ChatType.GROUP, ChatType.SUPERGROUP)
        if reply_to is None and message is not None:
            reply_to = _ref(message)
        # Only a new message can come from a sender chat; a button press always names a person.
        sender_chat = update.message.sender_chat if update.message is not None else None
        if sender_chat is not None:
            # Only admins may post as the group; a channel administers nothing here, whoever runs it.
            who, is_admin = _sender_ref(sender_chat), is_group and sender_chat.id == chat.id
        else:
            who = _user_ref(user)
            is_admin = await self._is_chat_admin(chat.id, user.id) if is_group and ask_admin else False
        return Request(
            user=who, chat=ChatRef(PLATFORM, str(chat.id), is_group), reply_to=reply_to, is_admin=is_admin
        )

    async def _is_chat_admin(self, chat_id: int, user_id: int) -> bool:
        """Asked from Telegram, cached: admins change rarely, commands and presses come in bursts."""
        cached = self.admins.get(chat_id, user_id)
        if cached is not None:
            return cached
        asked = time.monotonic()
        try:
            member = await self.application.bot.get_chat_member(chat_id, user_id)
            is_admin = member.status in ADMIN_STATUSES
        except TelegramError:
            log.warning("could not ask Telegram whether %s administers %s", user_id, chat_id)
            is_admin = False
        self.admins.put(chat_id, user_id, is_admin, asked)
        return is_admin

    async def on_member(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Promoted, demoted, left or banned: believed now, not when the cached answer expires."""
        change = update.chat_member
        assert change is not None
        member = change.new_chat_member
        self.admins.put(change.chat.id, member.user.id, member.status in ADMIN_STATUSES, time.monotonic())

    @staticmethod
    def _argument(message: Message) -> str:
        """Text after `/video` or `/video@bot`, spacing kept (context.args loses it)."""
        text = message.text or ""
        if message.entities and message.entities[0].offset == 0:
            return text[len(message.parse_entity(message.entities[0])) :].strip()
        return text.partition(" ")[2].strip()

    async def on_video(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """`/video <prompt> [options]`; as a reply to a clip, that clip's settings fill the gaps."""
        message, chat = update.effective_message, update.effective_chat
        assert message is not None and chat is not None
        # Admins matter to /video only where the chat is switched off for everyone else.
        ask_admin = not self.service.open_to_everyone(ChatRef(PLATFORM, str(chat.id), True))
        req = await self._request(update, ask_admin=ask_admin)
        based_on = None
        replied = _replied(message)
        if replied is not None and replied.video is not None:
            based_on = self.service.job_for_message(req.chat, str(replied.message_id))
        picture = self._picture(replied) if replied is not None else None  # `/video …` replying to a photo
        await self.service.video_text(req, self._argument(message), based_on=based_on, picture=picture)

    async def on_picture(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A photo captioned `/video <prompt> [options]` (`/video@thisbot …` in groups): animate it."""
        message, chat = update.effective_message, update.effective_chat
        assert message is not None and chat is not None
        caption = message.caption or ""
        match = VIDEO_CAPTION.match(caption)
        if match is None:
            return
        addressed_to = match.group(1)
        if addressed_to and addressed_to.lower() != (self.application.bot.username or "").lower():
            return  # `/video@other_bot`: not ours, as CommandHandler would skip it
        ask_admin = not self.service.open_to_everyone(ChatRef(PLATFORM, str(chat.id), True))
        req = await self._request(update, ask_admin=ask_admin)
        argument = caption[match.end() :].strip()
        await self.service.video_text(req, argument, picture=self._picture(message))

    def _picture(self, message: Message) -> Upload | None:
        """The photo (its largest size) or image file in `message`, fetched only if the core wants it."""
        media: Any = None
        if message.photo:
            media = message.photo[-1]
        elif message.document is not None and (message.document.mime_type or "").startswith("image/"):
            media = message.document
        if media is None:
            return None
        file_id = media.file_id

        async def fetch() -> bytes:
            file = await self.application.bot.get_file(file_id)
            return bytes(await file.download_as_bytearray())

        return Upload(media.file_size or 0, fetch)

    async def on_extend(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """`/extend [id] [prompt]`, or as a reply to a clip (a loop arrives as an animation)."""
        message = update.effective_message
        assert message is not None
        req = await self._request(update)
        replied = _replied(message)
        job = None
        if replied is not None and (replied.video is not None or replied.animation is not None):
            job = self.service.job_for_message(req.chat, str(replied.message_id))
        await self.service.extend_text(req, self._argument(message), job)

    async def on_cancel(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await self.service.cancel(
            await self._request(update), self._argument(update.effective_message) or None
        )

    async def on_queue(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self.service.queue_status(await self._request(update))

    async def on_quota(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self.service.quota(await self._request(update))

    async def on_info(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        assert message is not None
        req = await self._request(update)
        job_ref: str | int | None = self._argument(message) or None
        replied = _replied(message)
        if job_ref is None and replied is not None and replied.video is not None:
            job = self.service.job_for_message(req.chat, str(replied.message_id))
            job_ref = job.id if job else None
        await self.service.info(req, job_ref)

    async def on_verify(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """`/verify` as a reply to a video: its Content Credentials."""
        message = update.effective_message
        assert message is not None
        replied = _replied(message)
        upload = self._upload(replied) if replied is not None else None
        await self.service.verify(await self._request(update, ask_admin=False), upload)

    async def on_clip(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A video sent to the bot privately, in reply to it, or captioned /verify: checked."""
        message = update.effective_message
        assert message is not None
        replied = _replied(message)
        bot_id = self.application.bot.id
        to_the_bot = replied is not None and replied.from_user is not None and replied.from_user.id == bot_id
        captioned = VERIFY_CAPTION.match(message.caption or "") is not None
        if message.chat.type == ChatType.PRIVATE or to_the_bot or captioned:
            await self.service.verify(await self._request(update, ask_admin=False), self._upload(message))

    def _upload(self, message: Message) -> Upload | None:
        """The video (or video file) in `message`, fetched through getFile only if the core wants it."""
        media = message.video or message.document
        if media is None:
            return None
        file_id = media.file_id

        async def fetch() -> bytes:
            file = await self.application.bot.get_file(file_id)
            return bytes(await file.download_as_bytearray())

        return Upload(media.file_size or 0, fetch)

    async def on_help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self.service.help(await self._request(update))

    async def on_models(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self.service.list_models(await self._request(update))

    async def on_challenge(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await self.service.challenge(await self._request(update), self._argument(update.effective_message))

    async def on_leaderboard(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self.service.challenge.leaderboard(await self._request(update))

    async def on_admin(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """`/admin …`; the user it is about may be named by replying to them or a text mention."""
        message = update.effective_message
        assert message is not None
        mentioned = None
        replied = _replied(message)
        if replied is not None and replied.sender_chat is not None:
            mentioned = _sender_ref(replied.sender_chat)
        elif replied is not None and replied.from_user is not None and not replied.from_user.is_bot:
            mentioned = _user_ref(replied.from_user)
        for entity in message.entities:
            if entity.type == MessageEntityType.TEXT_MENTION and entity.user and not entity.user.is_bot:
                mentioned = _user_ref(entity.user)
        await self.service.admin(await self._request(update), self._argument(message), mentioned)

    async def on_unknown(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None or not message.text:
            return
        command = message.text.split()[0].split("@")[0].lstrip("/").lower()
        if command in self.known_commands:
            return
        req = await self._request(update)
        await self.service.reply(req, messages.text("unknown_command", req.user.locale))

    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A press; answered whatever happens, or the user's button spins on. Data we could not
        have sent (anyone can craft it) gets a silent answer and no core call."""
        query = update.callback_query
        assert query is not None
        try:
            pressed = parse_callback(query.data)
            if pressed is None:
                log.debug("ignored a button press with data %r", (query.data or "")[:64])
                return
            message = query.message
            ref = _ref(message) if isinstance(message, Message) else str(message.message_id if message else 0)
            req = await self._request(update, reply_to=f"cb:{query.id}:{ref}")
            await self.service.button(req, *pressed)
        finally:
            await self._answer(query)

    async def _answer(self, query: CallbackQuery) -> None:
        """answerCallbackQuery, unless the core's reply already was the answer (a pop-up)."""
        if query.id not in self.outbox.answered_queries:
            self.outbox.answered_queries.add(query.id)
            try:
                await query.answer()
            except TelegramError:
                log.debug("late callback answer failed", exc_info=True)
        self.outbox.answered_queries.discard(query.id)

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        log.error("telegram update failed: %s", context.error, exc_info=context.error)


def build_application(config: Config) -> Application:  # type: ignore[type-arg]
    """PTB wired to our settings: API server, rate limiter, timeouts, concurrency."""
    tg = config.telegram
    return (
        ApplicationBuilder()
        .token(config.secrets.telegram_token)
        .base_url(tg.base_url)
        .base_file_url(tg.base_file_url)
        .rate_limiter(LaneRateLimiter(max_retries=tg.max_retries))
        .concurrent_updates(True)
        .media_write_timeout(300)
        .get_updates_read_timeout(tg.poll_timeout_s + 10)
        .build()
    )


def webhook_secret(token: str) -> str:
    """The header Telegram echoes on each webhook call: derived from, never part of, the token."""
    return hmac.new(token.encode(), b"videobot webhook", hashlib.sha256).hexdigest()


class WebhookHost(Protocol):
    """The web side's runner, when it is on: it serves the webhook instead of a runner of our own."""

    def serve_webhook(
        self, path: str, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> None: ...


async def _serve_webhook(
    application: Application,  # type: ignore[type-arg]
    config: Config,
    host: WebhookHost | None = None,
) -> web.AppRunner | None:
    """Webhook mode: aiohttp receives updates and feeds PTB's update queue (on `host`'s runner, if given)."""
    tg = config.telegram
    secret = webhook_secret(config.secrets.telegram_token)

    async def receive(request: web.Request) -> web.Response:
        received = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        # Constant time: a plain comparison tells a prober how many leading characters are right.
        if not hmac.compare_digest(received.encode("utf-8", "surrogateescape"), secret.encode()):
            return web.Response(status=403)
        update = Update.de_json(await request.json(), application.bot)
        await application.update_queue.put(update)
        return web.Response()

    runner = None
    if host is not None:
        host.serve_webhook(WEBHOOK_PATH, receive)
    else:
        app = web.Application()
        app.router.add_post(WEBHOOK_PATH, receive)
        runner = web.AppRunner(app, handle_signals=False)
        await runner.setup()
        await web.TCPSite(runner, tg.webhook_listen, tg.webhook_port).start()
    url = tg.webhook_url.rstrip("/") + WEBHOOK_PATH
    await application.bot.set_webhook(url, secret_token=secret, allowed_updates=ALLOWED_UPDATES)
    return runner


class TelegramBot:
    """The Telegram side of one bot: PTB's application, the handlers and the outbox."""

    def __init__(self, service: VideoService, config: Config, web_host: WebhookHost | None = None) -> None:
        self.config = config
        self.web_host = web_host
        self.application = build_application(config)
        self.outbox = TelegramOutbox(self.application, config.telegram.max_upload_mb * 1_000_000)
        self.adapter = TelegramAdapter(service, self.application, self.outbox)
        self.service = service

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop` is set: long polling, or a webhook if configured."""
        application, config = self.application, self.config
        async with application:
            await self.adapter.register_commands()
            await application.start()
            runner = None
            webhook = bool(config.telegram.webhook_url)
            if webhook:
                runner = await _serve_webhook(application, config, self.web_host)
            else:
                assert application.updater is not None
                await application.updater.start_polling(
                    timeout=timedelta(seconds=config.telegram.poll_timeout_s),
                    allowed_updates=ALLOWED_UPDATES,
                )
            log.info("telegram: connected as @%s", application.bot.username)
            await self.service.platform_ready(PLATFORM)
            await stop.wait()
            if runner is not None:
                await runner.cleanup()
            elif not webhook and application.updater is not None:
                await application.updater.stop()
            await application.stop()
