"""Listening sockets that strangers cannot exhaust: a connection cap per listener and per
address, a deadline for a request's headers and for a connection's whole life, a raised
descriptor limit, and a quiet log when the machine runs short anyway.

1,100 half-sent requests once took every file descriptor: `/healthz` went dark, a job
failed, and asyncio logged 414,497 error records in a minute.  aiohttp has no header
deadline and no connection cap of its own; `LimitedSite` adds both around its handler.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConnectionLimits:
    max_connections: int = 512  # open at once on this listener
    per_address: int = 64  # open at once from one address
    header_s: float = 10.0  # a request's headers must arrive within this after connecting
    lifetime_s: float = 600.0  # no connection lives longer (uploads finish well within)


class _Guard:
    """Stands between the event loop and aiohttp's handler for one connection."""

    def __init__(self, site: LimitedSite, handler: Any) -> None:
        self.site, self.handler = site, handler
        self.address: str | None = None
        self.transport: asyncio.Transport | None = None
        self.headers_seen = False
        self.timers: list[asyncio.TimerHandle] = []

    def connection_made(self, transport: asyncio.Transport) -> None:
        peer = transport.get_extra_info("peername")
        address = str(peer[0]) if isinstance(peer, tuple) and peer else ""
        site, limits = self.site, self.site.limits
        if site.open_total >= limits.max_connections or site.open_by_address[address] >= limits.per_address:
            site.refused += 1
            transport.abort()
            return
        self.address, self.transport = address, transport
        site.open_total += 1
        site.open_by_address[address] += 1
        loop = asyncio.get_running_loop()
        self.timers = [
            loop.call_later(limits.header_s, self._headers_late),
            loop.call_later(limits.lifetime_s, transport.abort),
        ]
        self.handler.connection_made(transport)

    def _headers_late(self) -> None:
        if not self.headers_seen and self.transport is not None:
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        if not self.headers_seen and (b"\r\n\r\n" in data or b"\n\n" in data):
            self.headers_seen = True
        self.handler.data_received(data)

    def eof_received(self) -> bool | None:
        return self.handler.eof_received()  # type: ignore[no-any-return]

    def pause_writing(self) -> None:
        self.handler.pause_writing()

    def resume_writing(self) -> None:
        self.handler.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.address is None:
            return  # refused: aiohttp never saw it
        for timer in self.timers:
            timer.cancel()
        site = self.site
        site.open_total -= 1
        site.open_by_address[self.address] -= 1
        if site.open_by_address[self.address] <= 0:
            del site.open_by_address[self.address]
        self.handler.connection_lost(exc)


class LimitedSite(web.TCPSite):
    """`web.TCPSite` with `ConnectionLimits`."""

    def __init__(self, runner: web.BaseRunner, host: str, port: int, limits: ConnectionLimits) -> None:
        super().__init__(runner, host, port)
        self.limits = limits
        self.open_total = 0
        self.open_by_address: Counter[str] = Counter()
        self.refused = 0

    async def start(self) -> None:
        await web.BaseSite.start(self)
        server = self._runner.server
        assert server is not None
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Guard(self, server()),  # type: ignore[arg-type, return-value]
            self._host,
            self._port,
            backlog=self._backlog,
            reuse_address=self._reuse_address,
            reuse_port=self._reuse_port,
        )
        sockets = self._server.sockets
        self._bound_port = sockets[0].getsockname()[1] if sockets else self._port


def raise_open_files_limit() -> int:
    """Raise the soft descriptor limit to the hard one (Linux defaults to 1,024); the new limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 65_536)
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            return target
        except (ValueError, OSError):
            pass
    return soft


class OncePerWindow(logging.Filter):
    """The same message at most once per `window_s` (asyncio repeats an accept() failure
    for as long as descriptors are short); how many were held back is said with the next."""

    def __init__(self, window_s: float = 60.0) -> None:
        super().__init__()
        self.window_s = window_s
        self._last: dict[str, float] = {}
        self._held: Counter[str] = Counter()

    def filter(self, record: logging.LogRecord) -> bool:
        key = str(record.msg)[:200]
        now = time.monotonic()
        if now - self._last.get(key, -self.window_s - 1) < self.window_s:
            self._held[key] += 1
            return False
        self._last[key] = now
        if held := self._held.pop(key, 0):
            record.msg = f"{record.msg} ({held} more like it held back)"
        if len(self._last) > 1000:
            self._last.clear()
        return True
