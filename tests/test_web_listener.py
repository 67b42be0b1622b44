"""The web listener against slow and vanishing clients (#32, G6): a request body must arrive within
its deadline, `/healthz` answers while a thousand slow connections from 16 addresses hang on,
and a client that drops mid-body is one quiet log line, not a traceback."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from bot.web import WebSide
from bot.web.server import WEB_LIMITS
from tests.harness.config import MakeConfig
from tests.harness.core import MakeBot

pytestmark = pytest.mark.asyncio

Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]
SLOW_BODY = b"POST /admin/login HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\ntoken="


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest_asyncio.fixture
async def listening(make_bot: MakeBot, make_config: MakeConfig) -> AsyncIterator[tuple[WebSide, int]]:
    """The web side on a real loopback port with the production limits and a short body deadline."""
    port = free_port()
    bot = await make_bot(config=make_config(web={"host": "127.0.0.1", "port": port}))
    web = WebSide(bot.service, bot.config, body_s=0.5)
    await web.start()
    yield web, port
    await web.stop()


async def connect(port: int, address: str) -> Stream | None:
    """A connection from `address` (any 127.x.y.z is loopback on Linux), None when refused."""
    try:
        return await asyncio.open_connection("127.0.0.1", port, local_addr=(address, 0))
    except OSError:
        return None


async def answer(stream: Stream) -> bytes:
    """All the server says until it closes the connection (b"" for one it just dropped)."""
    reader, _ = stream
    with contextlib.suppress(ConnectionError):
        async with asyncio.timeout(20):  # a deadline for the test, not a measurement
            return await reader.read()
    return b""


async def test_a_slow_body_is_answered_408_and_its_connection_closed(listening: tuple[WebSide, int]) -> None:
    _, port = listening
    stream = await connect(port, "127.0.0.1")
    assert stream is not None
    stream[1].write(SLOW_BODY)  # and never the rest
    said = await answer(stream)
    assert said.startswith(b"HTTP/1.1 408"), said[:80]
    stream[1].close()


async def test_healthz_stays_up_under_a_thousand_slow_connections_from_16_addresses(
    listening: tuple[WebSide, int],
) -> None:
    _, port = listening
    slow: list[Stream] = []
    for address in range(16):
        for _ in range(64):  # 1,024 in all; the listener keeps 16 an address
            stream = await connect(port, f"127.0.1.{address + 1}")
            if stream is not None:
                stream[1].write(SLOW_BODY)
                slow.append(stream)
    try:
        health = await connect(port, "127.0.2.1")
        assert health is not None
        health[1].write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        said = await answer(health)
        assert said.split(b"\r\n", 1)[0] in (b"HTTP/1.1 200 OK", b"HTTP/1.1 503 Service Unavailable")
        assert b'"database": true' in said
        kept = [s for s in slow if not s[0].at_eof()]
        assert len(kept) <= 16 * WEB_LIMITS.per_address
    finally:
        for _, writer in slow:
            writer.close()


async def test_a_client_that_drops_mid_body_leaves_no_traceback(
    listening: tuple[WebSide, int], caplog: pytest.LogCaptureFixture
) -> None:
    _, port = listening
    caplog.set_level(logging.INFO)
    for _ in range(5):
        stream = await connect(port, "127.0.0.1")
        assert stream is not None
        stream[1].write(SLOW_BODY)
        await stream[1].drain()
        stream[1].transport.abort()  # gone, mid-body
    stream = await connect(port, "127.0.0.1")  # and the next request is served
    assert stream is not None
    stream[1].write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert b'"database": true' in await answer(stream)
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR], [
        r.getMessage() for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR
    ]
