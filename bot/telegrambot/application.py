"""PTB's application wired to our settings, updates by long polling or a webhook, and
`TelegramBot`, which runs the handlers and the outbox until told to stop."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import logging
import ssl
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Protocol

import httpx
from aiohttp import web
from telegram import Update
from telegram.ext import Application, ApplicationBuilder
from telegram.request import HTTPXRequest

from bot.core.observe import Tally
from bot.core.service import VideoService
from bot.settings.root import Config
from bot.telegrambot.handlers import TelegramAdapter
from bot.telegrambot.limits import LaneRateLimiter
from bot.telegrambot.outbox import TelegramOutbox
from bot.telegrambot.refs import PLATFORM

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/telegram"
# What the handlers consume; chat_member must be asked for by name or Telegram never sends it.
ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY, Update.CHAT_MEMBER]


@functools.cache
def _tls() -> ssl.SSLContext:
    """The one verifying TLS context of the process, as httpx makes it by default: each PTB
    request would otherwise load the CA bundle again (~30 ms of CPU, twice an application)."""
    return httpx.create_ssl_context()


def build_application(config: Config, tally: Tally | None = None) -> Application:  # type: ignore[type-arg]
    """PTB wired to our settings: API server, rate limiter (counting its 429 retries on `tally`),
    timeouts, concurrency.  The two requests are PTB's own defaults (a pool of 256 for calls, one
    connection for long polling) with our timeouts, sharing one TLS context."""
    tg = config.telegram
    tls = {"verify": _tls()}
    calls = HTTPXRequest(connection_pool_size=256, media_write_timeout=300, httpx_kwargs=tls)
    updates = HTTPXRequest(connection_pool_size=1, read_timeout=tg.poll_timeout_s + 10, httpx_kwargs=tls)
    return (
        ApplicationBuilder()
        .token(config.secrets.telegram_token)
        .base_url(tg.base_url)
        .base_file_url(tg.base_file_url)
        .rate_limiter(
            LaneRateLimiter(max_retries=tg.max_retries, group_per_min=tg.group_per_min, tally=tally)
        )
        .concurrent_updates(True)
        .request(calls)
        .get_updates_request(updates)
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
        self.application = build_application(config, service.rooms.tally)
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
