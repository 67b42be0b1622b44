"""Handlers that turn Telegram updates into core calls.

Thin on purpose: parsing, limits, quota and words live in the core.  What is here is
Telegram's own shape: commands with entities (`/video@name`), replies quoting the command,
callback queries, chat administrators, and the rule that one slow handler must never hold up
the rest (`block=False`).
"""

from __future__ import annotations

import logging

from telegram import BotCommand, Message, Update
from telegram.constants import ChatType, MessageEntityType
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.core import menu, messages
from bot.core.service import VideoService
from bot.domain import ChatRef, Request
from bot.telegrambot import pictures, refs
from bot.telegrambot.admins import AdminCache
from bot.telegrambot.buttons import answer_press, parse_callback
from bot.telegrambot.outbox import TelegramOutbox
from bot.telegrambot.refs import PLATFORM, message_ref, sender_ref, user_ref

log = logging.getLogger(__name__)


def argument(message: Message) -> str:
    """Text after `/video` or `/video@bot`, spacing kept (context.args loses it)."""
    text = message.text or ""
    if message.entities and message.entities[0].offset == 0:
        return text[len(message.parse_entity(message.entities[0])) :].strip()
    return text.partition(" ")[2].strip()


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
        addressed = filters.ChatType.PRIVATE | filters.REPLY | filters.CaptionRegex(pictures.VERIFY_CAPTION)
        application.add_handler(MessageHandler(sent_clip & addressed, self.on_clip, block=False))
        # CommandHandler never looks at captions: a captioned photo is a MessageHandler on purpose.
        picture = (
            (filters.PHOTO | filters.Document.IMAGE) & filters.CaptionRegex(pictures.VIDEO_CAPTION) & only_new
        )
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
            reply_to = message_ref(message)
        # Only a new message can come from a sender chat; a button press always names a person.
        sender_chat = update.message.sender_chat if update.message is not None else None
        if sender_chat is not None:
            # Only admins may post as the group; a channel administers nothing here, whoever runs it.
            who, is_admin = sender_ref(sender_chat), is_group and sender_chat.id == chat.id
        else:
            who = user_ref(user)
            is_admin = (
                await self.admins.ask(self.application.bot, chat.id, user.id)
                if is_group and ask_admin
                else False
            )
        return Request(
            user=who, chat=ChatRef(PLATFORM, str(chat.id), is_group), reply_to=reply_to, is_admin=is_admin
        )

    async def on_member(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Promoted, demoted, left or banned: believed now, not when the cached answer expires."""
        change = update.chat_member
        assert change is not None
        member = change.new_chat_member
        self.admins.heard(change.chat.id, member.user.id, member.status)

    async def on_video(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """`/video <prompt> [options]`; as a reply to a clip, that clip's settings fill the gaps."""
        message, chat = update.effective_message, update.effective_chat
        assert message is not None and chat is not None
        # Admins matter to /video only where the chat is switched off for everyone else.
        ask_admin = not self.service.open_to_everyone(ChatRef(PLATFORM, str(chat.id), True))
        req = await self._request(update, ask_admin=ask_admin)
        based_on = None
        replied = refs.replied(message)
        if replied is not None and replied.video is not None:
            based_on = self.service.job_for_message(req.chat, str(replied.message_id))
        picture = (
            pictures.picture(self.application.bot, replied) if replied is not None else None
        )  # `/video …` replying to a photo
        await self.service.video_text(req, argument(message), based_on=based_on, picture=picture)

    async def on_picture(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A photo captioned `/video <prompt> [options]` (`/video@thisbot …` in groups): animate it."""
        message, chat = update.effective_message, update.effective_chat
        assert message is not None and chat is not None
        argument = pictures.caption_request(message.caption, self.application.bot.username)
        if argument is None:
            return
        ask_admin = not self.service.open_to_everyone(ChatRef(PLATFORM, str(chat.id), True))
        req = await self._request(update, ask_admin=ask_admin)
        await self.service.video_text(req, argument, picture=pictures.picture(self.application.bot, message))

    async def on_extend(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """`/extend [id] [prompt]`, or as a reply to a clip (a loop arrives as an animation)."""
        message = update.effective_message
        assert message is not None
        req = await self._request(update)
        replied = refs.replied(message)
        job = None
        if replied is not None and (replied.video is not None or replied.animation is not None):
            job = self.service.job_for_message(req.chat, str(replied.message_id))
        await self.service.extend_text(req, argument(message), job)

    async def on_cancel(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await self.service.cancel(await self._request(update), argument(update.effective_message) or None)

    async def on_queue(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self.service.queue_status(await self._request(update))

    async def on_quota(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self.service.quota(await self._request(update))

    async def on_info(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        assert message is not None
        req = await self._request(update)
        job_ref: str | int | None = argument(message) or None
        replied = refs.replied(message)
        if job_ref is None and replied is not None and replied.video is not None:
            job = self.service.job_for_message(req.chat, str(replied.message_id))
            job_ref = job.id if job else None
        await self.service.info(req, job_ref)

    async def on_verify(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """`/verify` as a reply to a video: its Content Credentials."""
        message = update.effective_message
        assert message is not None
        replied = refs.replied(message)
        upload = pictures.clip(self.application.bot, replied) if replied is not None else None
        await self.service.verify(await self._request(update, ask_admin=False), upload)

    async def on_clip(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A video sent to the bot privately, in reply to it, or captioned /verify: checked."""
        message = update.effective_message
        assert message is not None
        replied = refs.replied(message)
        bot_id = self.application.bot.id
        to_the_bot = replied is not None and replied.from_user is not None and replied.from_user.id == bot_id
        captioned = pictures.is_verify_caption(message.caption)
        if message.chat.type == ChatType.PRIVATE or to_the_bot or captioned:
            await self.service.verify(
                await self._request(update, ask_admin=False), pictures.clip(self.application.bot, message)
            )

    async def on_help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self.service.help(await self._request(update))

    async def on_models(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self.service.list_models(await self._request(update))

    async def on_challenge(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await self.service.challenge(await self._request(update), argument(update.effective_message))

    async def on_leaderboard(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self.service.challenge.leaderboard(await self._request(update))

    async def on_admin(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """`/admin …`; the user it is about may be named by replying to them or a text mention."""
        message = update.effective_message
        assert message is not None
        mentioned = None
        replied = refs.replied(message)
        if replied is not None and replied.sender_chat is not None:
            mentioned = sender_ref(replied.sender_chat)
        elif replied is not None and replied.from_user is not None and not replied.from_user.is_bot:
            mentioned = user_ref(replied.from_user)
        for entity in message.entities:
            if entity.type == MessageEntityType.TEXT_MENTION and entity.user and not entity.user.is_bot:
                mentioned = user_ref(entity.user)
        await self.service.admin(await self._request(update), argument(message), mentioned)

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
            ref = (
                message_ref(message)
                if isinstance(message, Message)
                else str(message.message_id if message else 0)
            )
            req = await self._request(update, reply_to=f"cb:{query.id}:{ref}")
            await self.service.button(req, *pressed)
        finally:
            await answer_press(query, self.outbox.answered_queries)

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        log.error("telegram update failed: %s", context.error, exc_info=context.error)
