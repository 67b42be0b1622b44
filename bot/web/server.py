"""The web side: one aiohttp app in the bot's own process and event loop.

Pages (`pages.py`, `admin.py`), `/healthz`, `/metrics`, the stylesheet, and the Telegram
webhook when that adapter asks for it (`serve_webhook`).  Every answer carries headers that
keep the pages to themselves: no scripts, nothing from other sites, and no Referer sent to them, since
the URLs hold the tokens that make clips unguessable.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.resources
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

from aiohttp import ClientPayloadError, web
from prometheus_client import CONTENT_TYPE_LATEST

from bot.core.service import VideoService
from bot.listen import ConnectionLimits, LimitedSite
from bot.settings.root import Config
from bot.web.admin import add_routes as add_admin_routes
from bot.web.auth import AdminAuth
from bot.web.metrics import Metrics
from bot.web.pages import add_routes as add_page_routes
from bot.web.site import SITE, Site, templates

log = logging.getLogger(__name__)

# Pages and forms are small: an address gets 16 connections (1,000 slow ones from 16 addresses
# leave `/healthz` room), a body must be in within `BODY_S` of its headers, nobody stays 2 min.
WEB_LIMITS = ConnectionLimits(max_connections=512, per_address=16, header_s=10.0, lifetime_s=120.0)
BODY_S = 10.0

WebHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; media-src 'self'; img-src 'self'; form-action 'self';"
        " frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def _secure(request: web.Request, headers: MutableMapping[str, str]) -> None:
    headers.update(SECURITY_HEADERS)
    if request.path.startswith("/admin"):
        headers["Cache-Control"] = "no-store"


@web.middleware
async def _headers(request: web.Request, handler: WebHandler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as http:  # redirects and errors are answers too
        _secure(request, http.headers)
        raise
    _secure(request, response.headers)
    return response


@web.middleware
async def _no_tracebacks(request: web.Request, handler: WebHandler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except Exception:
        log.exception("web: %s %s failed", request.method, request.path)
        return web.Response(status=500, text="Something went wrong on our side; it has been logged.")


def _body_deadline(body_s: float) -> Any:
    """Reads a request's body (at most `client_max_size`) before any handler, within `body_s`:
    a slow body is answered 408 and its connection closed; a dropped one is one log line."""

    @web.middleware
    async def deadline(request: web.Request, handler: WebHandler) -> web.StreamResponse:
        if request.can_read_body:
            try:
                async with asyncio.timeout(body_s):
                    await request.read()
            except TimeoutError:
                log.info(
                    "web: %s %s: the body did not arrive within %.0f s", request.method, request.path, body_s
                )
                response = web.Response(status=408, text="The request took too long to arrive.")
                response.force_close()
                return response
            except (ConnectionError, ClientPayloadError, asyncio.IncompleteReadError) as error:
                log.info("web: %s %s: the client went away (%s)", request.method, request.path, error)
                response = web.Response(status=400, text="The request was cut short.")
                response.force_close()
                return response
        return await handler(request)

    return deadline


class WebSide:
    """`await start()` serves on `[web] host:port`; `app` alone is enough for tests."""

    def __init__(
        self,
        service: VideoService,
        config: Config,
        *,
        worker_alive: Callable[[], bool] = lambda: True,
        clock: Callable[[], float] = time.time,
        limits: ConnectionLimits = WEB_LIMITS,
        body_s: float = BODY_S,
    ) -> None:
        self.service = service
        self.config = config
        self.worker_alive = worker_alive
        self.limits, self.body_s = limits, body_s
        self.metrics = Metrics(service)
        self.metrics.attach()
        auth = AdminAuth(config.secrets.admin_token, config.web.admin_session_hours * 3600, clock)
        self.site = Site(service, config, auth, templates())
        self._webhooks: dict[str, WebHandler] = {}
        self._css = importlib.resources.files("bot.web").joinpath("static/style.css").read_bytes()
        self.app = self._build()
        self.runner: web.AppRunner | None = None

    def _build(self) -> web.Application:
        app = web.Application(
            middlewares=[_headers, _no_tracebacks, _body_deadline(self.body_s)], client_max_size=1024**2
        )
        app[SITE] = self.site
        add_page_routes(app)
        add_admin_routes(app)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/metrics", self.scrape)
        app.router.add_get("/static/style.css", self.stylesheet)
        app.router.add_post("/telegram", self.webhook)  # the adapter's WEBHOOK_PATH, when it asks
        app.cleanup_ctx.append(self._loop_lag)
        return app

    async def _loop_lag(self, app: web.Application) -> AsyncIterator[None]:
        watcher = asyncio.create_task(self.metrics.watch_loop_lag(), name="web-loop-lag")
        yield
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher

    # the Telegram adapter's way in ---------------------------------------------------------

    def serve_webhook(self, path: str, handler: WebHandler) -> None:
        """Serve a platform's webhook at `path` ("/telegram") on this runner."""
        self._webhooks[path] = handler

    async def webhook(self, request: web.Request) -> web.StreamResponse:
        handler = self._webhooks.get(request.path)
        if handler is None:
            return web.Response(status=404, text="no webhook here")
        return await handler(request)

    # health and metrics ----------------------------------------------------------------------

    async def healthz(self, request: web.Request) -> web.Response:
        """200 only when the database answers and the render worker runs."""
        status = self.service.status()
        worker = self.worker_alive()
        dead = list(status.dead_tasks)
        body: dict[str, Any] = {
            "ok": status.database and worker and not dead,
            "database": status.database,
            "worker": worker,
            "dead_tasks": dead,
            "model": status.model,
            "model_loaded": status.model_loaded,
            # whether rendering has a problem; what it is (local paths, the Redis host) is for the
            # log and the owner's /admin, not for anyone who can reach this URL
            "model_problem": status.model_problem is not None,
            "platforms": list(status.platforms),
            # enabled, but not connected now (retried with backoff while the rest keeps running)
            "disconnected": list(status.disconnected),
            "queue": status.waiting,
            "rendering": status.rendering,
            "warm": status.warm,
        }
        return web.json_response(body, status=200 if body["ok"] else 503)

    async def scrape(self, request: web.Request) -> web.Response:
        response = web.Response(body=self.metrics.scrape())
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    async def stylesheet(self, request: web.Request) -> web.Response:
        response = web.Response(body=self._css, content_type="text/css")
        response.headers["Cache-Control"] = "public, max-age=86400"
        return response

    # lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        web_config = self.config.web
        # stop in time; idle keep-alive connections do not pile up; a body cut off by its deadline is
        # not drained for aiohttp's default 10 s of lingering: its connection closes with the 408
        self.runner = web.AppRunner(
            self.app, handle_signals=False, shutdown_timeout=1.0, keepalive_timeout=15, lingering_time=0
        )
        await self.runner.setup()
        await LimitedSite(self.runner, web_config.host, web_config.port, self.limits).start()
        log.info("web: serving on http://%s:%d", web_config.host, web_config.port)

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None
        self.metrics.detach()
