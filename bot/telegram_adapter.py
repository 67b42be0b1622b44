"""Telegram, through python-telegram-bot: updates → core calls, and `Outbox` back out.

Thin on purpose: parsing, limits, quota and words live in the core.  What is here is
Telegram's own shape: commands with entities (`/video@name`), replies quoting the
command, inline keyboards, callback queries, chat administrators, upload limits, and
the rule that one slow handler must never hold up the rest (`block=False`).

Message refs handed to the core are message ids as strings; a button press is
"cb:<callback query id>:<message id>" so a private answer can become a pop-up.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from aiohttp import web
from telegram import (
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    ReplyParameters,
    Update,
)
from telegram.constants import ChatAction, ChatMemberStatus, ChatType, MessageEntityType
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.config import Config
from bot.core import menu, messages
from bot.core.service import VideoService
from bot.core.types import Button, ChatRef, Delivery, Request, Undeliverable, UserRef

log = logging.getLogger(__name__)

PLATFORM = "telegram"
CALLBACK_PREFIX = "v"
ALERT_MAX_CHARS = 200
WEBHOOK_PATH = "/telegram"
UPLOAD_TIMEOUT_S = 300.0


def callback_data(button: Button) -> str:
    """`v:<action>:<job id>`: all a press needs, so buttons work after a restart."""
    return f"{CALLBACK_PREFIX}:{button.action}:{button.job_id}"


def _keyboard(buttons: Sequence[Button]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(b.label, callback_data=callback_data(b)) for b in buttons]]
    )


def _message_id(ref: str | None) -> int | None:
    """The Telegram message a ref points at ("17" or "cb:<query id>:17")."""
    if not ref:
        return None
    tail = ref.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else None


def _reply(ref: str | None) -> ReplyParameters | None:
    message_id = _message_id(ref)
    if message_id is None:
        return None
    return ReplyParameters(message_id=message_id, allow_sending_without_reply=True)


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
        sent = await self.bot.send_message(int(chat.id), text, reply_parameters=_reply(reply_to))
        return str(sent.message_id)

    async def edit_text(self, chat: ChatRef, message: str, text: str) -> None:
        try:
            await self.bot.edit_message_text(text, chat_id=int(chat.id), message_id=int(message))
        except BadRequest as error:
            if "not modified" not in str(error).lower():
                raise

    async def send_video(self, delivery: Delivery) -> str:
        try:
            sent = await self._send_video(delivery)
        except Forbidden as error:
            raise Undeliverable(str(error)) from error
        except BadRequest as error:
            if "chat not found" in str(error).lower():
                raise Undeliverable(str(error)) from error
            raise
        return str(sent.message_id)

    async def _send_video(self, delivery: Delivery) -> Message:
        clip = delivery.clip
        return await self.bot.send_video(
            int(delivery.chat.id),
            video=Path(clip.path).read_bytes(),
            filename=Path(clip.path).name,
            caption=delivery.caption,
            width=clip.width,
            height=clip.height,
            duration=max(1, round(clip.duration_s)),
            supports_streaming=True,
            # Long: a timed-out upload may still have arrived, and the core would send it again.
            read_timeout=UPLOAD_TIMEOUT_S,
            write_timeout=UPLOAD_TIMEOUT_S,
            reply_markup=_keyboard(delivery.buttons),
            reply_parameters=_reply(delivery.reply_to),
        )

    async def delete(self, chat: ChatRef, message: str) -> None:
        await self.bot.delete_message(int(chat.id), int(message))

    async def edit_buttons(self, chat: ChatRef, message: str, buttons: Sequence[Button]) -> None:
        try:
            await self.bot.edit_message_reply_markup(
                int(chat.id), int(message), reply_markup=_keyboard(buttons)
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
        self.admin_cache_s = service.config.telegram.admin_cache_s
        self._admins: dict[tuple[int, int], tuple[float, bool]] = {}
        only_new = filters.UpdateType.MESSAGE  # an edited /video must not render twice
        handlers = {
            "video": self.on_video,
            "cancel": self.on_cancel,
            "queue": self.on_queue,
            "quota": self.on_quota,
            "info": self.on_info,
            "help": self.on_help,
            "admin": self.on_admin,
            "challenge": self.on_challenge,
            "leaderboard": self.on_leaderboard,
        }
        assert set(handlers) == set(menu.BY_NAME), "every command in the menu has a handler"
        handlers.update({alias: handlers[name] for alias, name in menu.ALIASES.items()})
        self.known_commands = set(handlers)
        for name, handler in handlers.items():
            application.add_handler(CommandHandler(name, handler, filters=only_new, block=False))
        application.add_handler(
            CallbackQueryHandler(self.on_button, pattern=rf"^{CALLBACK_PREFIX}:", block=False)
        )
        application.add_handler(
            MessageHandler(
                filters.COMMAND & filters.ChatType.PRIVATE & only_new, self.on_unknown, block=False
            ),
            group=1,
        )
        application.add_error_handler(self.on_error)

    async def register_commands(self) -> None:
        """The command menu, in each language we speak (setMyCommands)."""
        for locale in messages.LOCALES:
            commands = [BotCommand(c.name, c.describe(locale)) for c in menu.everyone_menu()]
            await self.application.bot.set_my_commands(
                commands, language_code=None if locale == messages.DEFAULT_LOCALE else locale
            )

    async def _request(self, update: Update, reply_to: str | None = None) -> Request:
        message, user, chat = update.effective_message, update.effective_user, update.effective_chat
        assert user is not None and chat is not None
        is_group = chat.type in (ChatType.GROUP, ChatType.SUPERGROUP)
        if reply_to is None and message is not None:
            reply_to = str(message.message_id)
        return Request(
            user=UserRef(
                PLATFORM, str(user.id), user.full_name, messages.normalise_locale(user.language_code)
            ),
            chat=ChatRef(PLATFORM, str(chat.id), is_group),
            reply_to=reply_to,
            is_admin=await self._is_chat_admin(chat.id, user.id) if is_group else False,
        )

    async def _is_chat_admin(self, chat_id: int, user_id: int) -> bool:
        """Asked from Telegram, cached briefly: admins change rarely, presses come in bursts."""
        cached = self._admins.get((chat_id, user_id))
        if cached and time.monotonic() - cached[0] < self.admin_cache_s:
            return cached[1]
        try:
            member = await self.application.bot.get_chat_member(chat_id, user_id)
            is_admin = member.status in (ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER)
        except TelegramError:
            log.warning("could not ask Telegram whether %s administers %s", user_id, chat_id)
            is_admin = False
        self._admins[(chat_id, user_id)] = (time.monotonic(), is_admin)
        return is_admin

    @staticmethod
    def _argument(message: Message) -> str:
        """Text after `/video` or `/video@bot`, spacing kept (context.args loses it)."""
        text = message.text or ""
        if message.entities and message.entities[0].offset == 0:
            return text[len(message.parse_entity(message.entities[0])) :].strip()
        return text.partition(" ")[2].strip()

    async def on_video(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """`/video <prompt> [options]`; as a reply to a clip, that clip's settings fill the gaps."""
        message = update.effective_message
        assert message is not None
        req = await self._request(update)
        based_on = None
        replied = message.reply_to_message
        if replied is not None and replied.video is not None:
            based_on = self.service.job_for_message(req.chat, str(replied.message_id))
        await self.service.video_text(req, self._argument(message), based_on=based_on)

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
        replied = message.reply_to_message
        if job_ref is None and replied is not None and replied.video is not None:
            job = self.service.job_for_message(req.chat, str(replied.message_id))
            job_ref = job.id if job else None
        await self.service.info(req, job_ref)

    async def on_help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self.service.help(await self._request(update))

    async def on_challenge(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await self.service.challenge(await self._request(update), self._argument(update.effective_message))

    async def on_leaderboard(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self.service.leaderboard(await self._request(update))

    async def on_admin(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """`/admin …`; the user it is about may be named by replying to them or a text mention."""
        message = update.effective_message
        assert message is not None
        mentioned = None
        target = message.reply_to_message.from_user if message.reply_to_message else None
        for entity in message.entities:
            if entity.type == MessageEntityType.TEXT_MENTION and entity.user is not None:
                target = entity.user
        if target is not None and not target.is_bot:
            mentioned = UserRef(PLATFORM, str(target.id), target.full_name)
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
        query = update.callback_query
        assert query is not None and query.data is not None
        message_id = query.message.message_id if query.message else 0
        req = await self._request(update, reply_to=f"cb:{query.id}:{message_id}")
        _, action, job_id = query.data.split(":", 2)
        if job_id.isdigit():
            await self.service.button(req, action, int(job_id))
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
        .rate_limiter(AIORateLimiter(max_retries=tg.max_retries))
        .concurrent_updates(True)
        .media_write_timeout(300)
        .get_updates_read_timeout(tg.poll_timeout_s + 10)
        .build()
    )


def webhook_secret(token: str) -> str:
    """The header Telegram echoes on each webhook call: derived from, never part of, the token."""
    return hmac.new(token.encode(), b"videobot webhook", hashlib.sha256).hexdigest()


async def _serve_webhook(application: Application, config: Config) -> web.AppRunner:  # type: ignore[type-arg]
    """Webhook mode: aiohttp receives updates and feeds PTB's update queue."""
    tg = config.telegram
    secret = webhook_secret(config.secrets.telegram_token)

    async def receive(request: web.Request) -> web.Response:
        if request.headers.get("X-Telegram-Bot-Api-Secret-Token") != secret:
            return web.Response(status=403)
        update = Update.de_json(await request.json(), application.bot)
        await application.update_queue.put(update)
        return web.Response()

    app = web.Application()
    app.router.add_post(WEBHOOK_PATH, receive)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, tg.webhook_listen, tg.webhook_port).start()
    url = tg.webhook_url.rstrip("/") + WEBHOOK_PATH
    await application.bot.set_webhook(url, secret_token=secret, allowed_updates=Update.ALL_TYPES)
    return runner


class TelegramBot:
    """The Telegram side of one bot: PTB's application, the handlers and the outbox."""

    def __init__(self, service: VideoService, config: Config) -> None:
        self.config = config
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
            if config.telegram.webhook_url:
                runner = await _serve_webhook(application, config)
            else:
                assert application.updater is not None
                await application.updater.start_polling(
                    timeout=timedelta(seconds=config.telegram.poll_timeout_s),
                    allowed_updates=Update.ALL_TYPES,
                )
            log.info("telegram: connected as @%s", application.bot.username)
            await self.service.platform_ready(PLATFORM)
            await stop.wait()
            if runner is not None:
                await runner.cleanup()
            elif application.updater is not None:
                await application.updater.stop()
            await application.stop()
