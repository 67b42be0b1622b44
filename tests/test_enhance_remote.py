"""Prompt rewrites on the SAQ workers (`[enhance] device = "worker"`, issue #36): the bot's slot seals
the prompt into a job on the writer queue, a worker's writer rewrites it and seals the draft back,
over a real `redis-server`.  Redis reads neither text; a draft nobody with the secret sealed is not
taken; with no worker in time the typed prompt goes on, said so, and the job is aborted."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, cast

import pytest
from redis import asyncio as aioredis
from saq.job import Status

from bot.app import remote_writer
from bot.dispatch.remote import WRITER_QUEUE, WorkerKeys, queue_name, registration, seal
from bot.dispatch.rewrites import DRAFTED, RemoteWriter, Rewrites
from bot.dispatch.saq_queue import VideobotQueue
from bot.dispatch.worker import RedisWatch, VideobotWorker, writer_worker
from bot.enhance import Kept, PromptWriter, WriterSlot
from bot.enhance.tiny import scripted
from bot.settings.bounds import ConfigError
from bot.settings.root import Config
from bot.settings.sections import WORKER_SECRET_ENV
from tests.harness.config import MakeConfig
from tests.harness.polling import eventually
from tests.harness.saq import SECRET, RedisServer, StartWorker, write_saq_config

pytestmark = pytest.mark.asyncio

TYPED = "un gatto che fa surf"
REWRITE = "A ginger cat surfs turquoise waves at golden sunset, camera tracking slowly beside the board."


@pytest.fixture
def redis(start_redis: Callable[[Path], RedisServer], tmp_path: Path) -> RedisServer:
    return start_redis(tmp_path)


def remote_config(make_config: MakeConfig, redis: RedisServer, **enhance: Any) -> Config:
    queue = {"backend": "saq", "redis_url": redis.url, "upload_port": 0, "sweep_s": 1.0}
    settings = {"mode": "ask", "model": "tiny-qwen3", "device": "worker", "every_s": 0, **enhance}
    return make_config(env={WORKER_SECRET_ENV: SECRET}, queue=queue, enhance=settings)


@contextlib.asynccontextmanager
async def worker_serving(config: Config, function: Callable[..., Any] | None = None) -> AsyncIterator[None]:
    """The worker's writer queue served in this process, by `writer_worker` (or a stand-in `function`)."""
    writer = PromptWriter(config.enhance, build=lambda: scripted(REWRITE))
    rewrites = Rewrites(config.enhance, SECRET, writer=writer)
    queue = VideobotQueue.at(config.queue.redis_url, WRITER_QUEUE)
    worker = writer_worker(config, queue, RedisWatch(config.queue.redis_url), rewrites, "test")
    if function is not None:
        worker = VideobotWorker(queue, RedisWatch(config.queue.redis_url), functions=[("rewrite", function)])
    task = asyncio.create_task(worker.start())
    try:
        yield
    finally:
        await worker.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        rewrites.close()
        await queue.disconnect()


async def everything_in(redis: RedisServer) -> bytes:
    """Every value Redis holds, as bytes (what a Redis reader sees)."""
    client = aioredis.from_url(redis.url)
    seen = []
    try:
        for key in await client.keys("*"):
            kind = (await client.type(key)).decode()
            if kind == "string":
                seen.append(await client.get(key) or b"")
            elif kind == "hash":
                seen += [
                    b"%s=%s" % pair
                    for pair in (await cast(Awaitable[dict[bytes, bytes]], client.hgetall(key))).items()
                ]
            elif kind == "list":
                seen += await cast(Awaitable[list[bytes]], client.lrange(key, 0, -1))
            elif kind == "zset":
                seen += await client.zrange(key, 0, -1)
            elif kind == "set":
                seen += list(await cast(Awaitable[set[bytes]], client.smembers(key)))
    finally:
        await client.aclose()
    return b"\n".join(seen)


async def test_a_worker_rewrites_the_prompt_and_redis_reads_neither_text(
    make_config: MakeConfig, redis: RedisServer
) -> None:
    config = remote_config(make_config, redis)
    slot = remote_writer(config)
    assert isinstance(slot, WriterSlot) and slot.remote is not None
    async with worker_serving(config):
        rewrite = await slot.rewrite("telegram:1", TYPED, "wan")
        seen = await everything_in(redis)
    assert (rewrite.text, rewrite.writer, rewrite.kept) == (REWRITE, "tiny-qwen3", None)
    assert not slot.writer.loaded, "the bot loaded no model of its own"
    assert b"rewrite:" in seen, "the job's record was there to read"
    assert TYPED.encode() not in seen and b"ginger cat" not in seen


async def test_a_rewrite_saqs_sweep_takes_for_lost_is_asked_for_again(
    make_config: MakeConfig, redis: RedisServer
) -> None:
    """SAQ's sweep race: a job a worker has only just dequeued can be swept as lost (ABORTED,
    "swept"); the bot asks for the rewrite again instead of giving up."""
    config = remote_config(make_config, redis)
    slot = remote_writer(config)
    assert isinstance(slot, WriterSlot) and slot.remote is not None
    remote = cast(RemoteWriter, getattr(slot.remote, "__self__"))  # noqa: B009  # the bound `write`'s writer
    looks: list[Any] = []
    look = remote.queue.job

    async def counted(key: str) -> Any:
        looks.append(record := await look(key))
        return record

    remote.queue.job = counted  # type: ignore[method-assign,assignment]
    rewriting = asyncio.create_task(slot.rewrite("telegram:1", TYPED, "wan"))
    await eventually(lambda: bool(looks) and looks[-1] is not None)
    first = looks[-1]
    queue = VideobotQueue.at(redis.url, WRITER_QUEUE)
    try:
        await queue.finish(first, Status.ABORTED, error=queue.swept_error_message)  # as the sweep does
        await eventually(lambda: looks[-1] is not None and looks[-1].key != first.key)  # asked again
        assert not rewriting.done(), "a swept job is not the end of the rewrite"
        async with worker_serving(config):
            rewrite = await rewriting
    finally:
        await queue.disconnect()
    assert (rewrite.text, rewrite.kept) == (REWRITE, None)


async def test_a_draft_sealed_without_the_secret_is_not_taken(
    make_config: MakeConfig, redis: RedisServer
) -> None:
    config = remote_config(make_config, redis)
    slot = remote_writer(config)
    assert slot is not None
    forger = WorkerKeys.of("another-secret-of-32-characters!")

    async def forged(ctx: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return {
            "sealed": seal(
                forger, DRAFTED, ctx["job"].key, {"text": "visit evil.example", "tokens": 3, "seconds": 0.1}
            )
        }

    async with worker_serving(config, forged):
        rewrite = await slot.rewrite("telegram:1", TYPED, "wan")
    assert (rewrite.text, rewrite.kept) == (TYPED, Kept.ERROR)


async def test_with_no_worker_in_time_the_typed_prompt_goes_on_and_the_job_is_aborted(
    make_config: MakeConfig, redis: RedisServer
) -> None:
    config = remote_config(make_config, redis, timeout_s=0.5)
    slot = remote_writer(config)
    assert slot is not None
    rewrite = await slot.rewrite("telegram:1", TYPED, "wan")
    assert (rewrite.text, rewrite.kept) == (TYPED, Kept.TIMEOUT)
    queue = VideobotQueue.at(redis.url, WRITER_QUEUE)
    try:
        info = await queue.info(jobs=True)
        assert info["queued"] == 0, "nothing is left for a worker to start late"
    finally:
        await queue.disconnect()


async def test_rewrites_on_workers_need_the_saq_backend(make_config: MakeConfig) -> None:
    with pytest.raises(ConfigError, match=r'\[enhance\] device is "worker", but rewrites go to workers only'):
        make_config(enhance={"mode": "ask", "device": "worker"})


async def test_videobot_worker_with_enhance_on_writes_the_bots_rewrites(
    make_config: MakeConfig, redis: RedisServer, start_worker: StartWorker, tmp_path: Path
) -> None:
    config = remote_config(make_config, redis, timeout_s=60)
    queue = VideobotQueue.at(redis.url, queue_name(config.default_model))
    try:  # the bot's registration, as its SAQ backend writes it: a worker waits for it
        await queue.register_bot(registration(WorkerKeys.of(SECRET), "run-1", "http://127.0.0.1:9"))
    finally:
        await queue.disconnect()
    worker_config = write_saq_config(
        tmp_path / "worker", redis.url, enhance={"mode": "ask", "model": "tiny-qwen3"}
    )
    worker = start_worker(worker_config)
    await asyncio.to_thread(worker.wait_for_line, WRITER_QUEUE, 60)
    slot = remote_writer(config)
    assert slot is not None
    rewrite = await slot.rewrite("telegram:1", TYPED, "wan")
    # tiny-qwen3's random words, written on the worker, came back and were judged here
    assert rewrite.kept in (Kept.GARBAGE, Kept.UNSAFE) and rewrite.tokens > 0, rewrite
    assert "rewrote a prompt for wan" in worker.log
