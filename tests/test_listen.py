"""Listeners strangers cannot exhaust: half-sent requests are cut off, one address cannot hold
every connection, and a repeated asyncio error is logged once a minute, not 400,000 times."""

from __future__ import annotations

import asyncio
import logging
import resource
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from aiohttp import web

from bot.listen import ConnectionLimits, LimitedSite, OncePerWindow, raise_open_files_limit

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def site() -> AsyncIterator[LimitedSite]:
    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="hello")

    app = web.Application()
    app.router.add_get("/", hello)
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.5)
    await runner.setup()
    limited = LimitedSite(
        runner, "127.0.0.1", 0, ConnectionLimits(max_connections=8, per_address=4, header_s=0.5)
    )
    await limited.start()
    yield limited
    await runner.cleanup()


async def half_sent(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
    await writer.drain()
    return reader, writer


async def closed_by_server(reader: asyncio.StreamReader) -> bool:
    async with asyncio.timeout(10):
        return await reader.read() == b""


async def test_half_sent_requests_are_cut_off_and_one_address_cannot_take_every_connection(
    site: LimitedSite,
) -> None:
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    held = [await half_sent(port) for _ in range(4)]
    extra_reader, extra_writer = await half_sent(port)
    assert await closed_by_server(extra_reader)  # over the per-address cap: closed at once
    for reader, _ in held:  # the header deadline ends each
        assert await closed_by_server(reader)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert b"hello" in await reader.read()
    for _, w in [*held, (extra_reader, extra_writer), (reader, writer)]:
        w.close()
    assert site.open_total == 0 and site.refused >= 1


async def test_a_repeated_asyncio_error_is_logged_once_per_window() -> None:
    records: list[logging.LogRecord] = []
    logger = logging.getLogger("test-storm")
    logger.propagate = False
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign, assignment]
    logger.addHandler(handler)
    logger.addFilter(OncePerWindow(60))
    for _ in range(10_000):
        logger.error("socket.accept() out of system resource")
    assert len(records) == 1


async def test_the_open_files_limit_is_raised_to_the_hard_limit() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert raise_open_files_limit() == (hard if hard != resource.RLIM_INFINITY else raise_open_files_limit())
