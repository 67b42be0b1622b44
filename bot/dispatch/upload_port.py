"""The HTTP endpoint `videobot worker`s upload clips to (`uploads.ClipInbox` behind it), opened
at start-up and tried again while its port is taken."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiohttp import web

from bot.core.tasks import wait_event
from bot.dispatch.uploads import ClipInbox
from bot.listen import ConnectionLimits, LimitedSite
from bot.settings.sections import QueueConfig

log = logging.getLogger(__name__)

UPLOAD_RETRY_S = 5.0


class UploadPort:
    """`problem` says why clips cannot come in now; `url` is where workers send them."""

    def __init__(self, q: QueueConfig, inbox: ClipInbox, url: str) -> None:
        self.q = q
        self.inbox = inbox
        self.url = url
        self.problem: str | None = None
        self._runner: web.AppRunner | None = None

    async def open(self, wake: asyncio.Event, stopping: Callable[[], bool]) -> None:
        """Listen; while the port is taken, say so and try again every few seconds (or on `wake`)."""
        runner = web.AppRunner(
            self.inbox.app(),
            handle_signals=False,
            shutdown_timeout=2.0,
            access_log=None,
            keepalive_timeout=15,
        )
        await runner.setup()
        self._runner = runner
        try:
            await self._listen(runner, wake, stopping)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _listen(self, runner: web.AppRunner, wake: asyncio.Event, stopping: Callable[[], bool]) -> None:
        where = f"{self.q.upload_listen}:{self.q.upload_port}"
        while not stopping():
            try:
                limits = ConnectionLimits(
                    per_address=self.q.max_upload_connections, lifetime_s=self.q.upload_body_s + 30
                )
                await LimitedSite(runner, self.q.upload_listen, self.q.upload_port, limits).start()
            except OSError as error:
                if self.problem is None:
                    log.error("cannot take clips from workers on %s (%s); trying again", where, error)
                self.problem = (
                    f"Rendering is paused: the bot cannot listen for clips on {where} ({error}); "
                    "set [queue] upload_listen / upload_port to a free address."
                )
                wake.clear()
                await wait_event(wake, UPLOAD_RETRY_S)
                continue
            self.problem = None
            if not self.q.upload_url and self.q.upload_port == 0:
                self.url = f"http://{self.q.upload_listen}:{runner.addresses[0][1]}"
            log.info("taking clips from workers at %s", self.url)
            return


__all__ = ["UPLOAD_RETRY_S", "UploadPort"]
