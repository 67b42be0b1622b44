"""More GPUs: the bot's core over the SAQ backend, a real `redis-server` and real
`videobot worker` processes on the tiny model.

Each story checks the user-visible promise: every job is delivered exactly once, whatever
happens to a worker, to Redis or to SAQ's own bookkeeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import socket
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from bot.dispatch.remote import SIGNATURE_HEADER, UploadGrant, WorkerKeys, clip_key, job_key, queue_name
from bot.dispatch.saq_backend import SaqBackend, VideobotQueue
from bot.domain import JobStatus, UserRef
from bot.provenance import check_clip
from bot.render import Renderer
from bot.settings.bounds import ConfigError
from bot.settings.loading import parse_config
from bot.settings.root import Config
from tests.harness.config import MakeConfig
from tests.harness.core import PLATFORM, CoreBot, MakeBot
from tests.harness.lanes import starts
from tests.harness.media import decode
from tests.harness.polling import eventually, eventually_async
from tests.harness.saq import (
    SECRET,
    RedisServer,
    StartRedis,
    StartWorker,
    WorkerProcess,
    redis_missing,
    saq_settings,
    write_saq_config,
)

pytestmark = [
    pytest.mark.skipif(redis_missing() is not None, reason=redis_missing() or ""),
    pytest.mark.xdist_group("saq"),  # one Redis and one worker pool for the module, on one test worker
]

USERS = [UserRef(PLATFORM, str(n), f"User{n}") for n in range(1, 6)]
LONG = "--steps 150"  # a few seconds on the tiny model: long enough to act on mid-render


@pytest.fixture(scope="module")
@starts("redis")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.kill()


class Pool:
    """The module's worker processes: two, started before any bot exists."""

    def __init__(self, folder: Path, redis: RedisServer) -> None:
        self.config = write_saq_config(folder, redis.url)
        self.workers = [WorkerProcess(self.config, name=f"w{n}") for n in range(2)]

    def replace(self, dead: WorkerProcess) -> None:
        self.workers[self.workers.index(dead)] = WorkerProcess(self.config)

    def by_pid(self, pid: int) -> WorkerProcess:
        return next(w for w in self.workers if w.pid == pid)

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()


@pytest.fixture(scope="module")
@starts("process")
def pool(tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer) -> Iterator[Pool]:
    workers = Pool(tmp_path_factory.mktemp("workers"), redis_server)
    yield workers
    workers.stop()


@pytest.fixture
def saq_config(tmp_path: Path, redis_server: RedisServer) -> Config:
    redis_server.command("FLUSHALL")  # each test's bot numbers its jobs from 1
    return parse_config(
        saq_settings(tmp_path / "data", redis_server.url, quota={"max_queued": 10}),
        "test-saq.toml",
        {"VIDEOBOT_WORKER_SECRET": SECRET},
    )


@pytest_asyncio.fixture
async def saq_bot(make_bot: MakeBot, saq_config: Config, pool: Pool) -> AsyncIterator[CoreBot]:
    bot = await make_bot(config=saq_config, renderer=Renderer("tiny"))  # the renderer stays unused
    assert isinstance(bot.service.backend, SaqBackend)
    yield bot


def backend(bot: CoreBot) -> SaqBackend:
    assert isinstance(bot.service.backend, SaqBackend)
    return bot.service.backend


async def saq_record(bot: CoreBot, job_id: int) -> Any:
    queue = VideobotQueue.at(bot.config.queue.redis_url, queue_name(bot.config.default_model))
    try:
        return await queue.job(job_key(job_id, backend(bot).run_id))
    finally:
        await queue.disconnect()


async def until_workers(bot: CoreBot, count: int, timeout: float = 60.0) -> None:
    await eventually(lambda: backend(bot).workers() >= count, timeout=timeout, what=f"{count} workers")


def delivered(bot: CoreBot) -> Counter[str]:
    """How many clips each job got, by the clip's file name less the bot's run ("7.mp4")."""
    run = f"-{backend(bot).run_id}"
    return Counter(Path(v.clip.path).name.replace(run, "") for v in bot.outbox.videos if v.clip is not None)


async def until_step(bot: CoreBot, job_id: int, step: int = 2) -> None:
    def rendering() -> bool:
        running = bot.service.rooms.running.get(job_id)
        return running is not None and running.step >= step

    await eventually(rendering, timeout=30, what=f"job {job_id} to render a few steps")


@pytest.mark.asyncio
async def test_twenty_jobs_from_five_users_are_each_delivered_once_by_two_workers(
    saq_bot: CoreBot, redis_server: RedisServer
) -> None:
    await until_workers(saq_bot, 2)
    jobs = [await saq_bot.video(f"a cat number {n}", USERS[n % 5]) for n in range(20)]
    for job in jobs:
        await saq_bot.until_status(job.id, JobStatus.DONE, timeout=60)
    assert delivered(saq_bot) == Counter({f"{job.id}.mp4": 1 for job in jobs})
    clip = saq_bot.outbox.videos[0].clip
    assert clip is not None
    decoded = decode(Path(clip.path).read_bytes())
    assert (decoded.frames, decoded.width, decoded.height) == (8, 64, 64)
    assert "AI-generated" in decoded.metadata.get("comment", "")
    credentials = check_clip(Path(clip.path))  # signed by the bot: workers hold no key
    assert credentials.valid and credentials.ai_generated
    workers = {(await saq_record(saq_bot, job.id)).worker_id for job in jobs}
    assert len(workers) == 2, f"both workers rendered: {workers}"
    assert "⏳ Queued" in saq_bot.outbox.texts[0]


@pytest.mark.asyncio
async def test_a_worker_killed_mid_render_hands_its_job_to_the_other_and_the_clip_comes_once(
    saq_bot: CoreBot, redis_server: RedisServer, pool: Pool
) -> None:
    await until_workers(saq_bot, 2)
    job = await saq_bot.video(f"a long one {LONG}")
    await until_step(saq_bot, job.id)
    record = await saq_record(saq_bot, job.id)
    victim = pool.by_pid(int(record.worker_id.rsplit("-", 1)[1]))
    victim.kill()
    pool.replace(victim)
    await saq_bot.until_status(job.id, JobStatus.DONE, timeout=40)
    assert delivered(saq_bot) == Counter({f"{job.id}.mp4": 1})
    record = await saq_record(saq_bot, job.id)
    assert record.attempts == 2 and not record.worker_id.endswith(f"-{victim.pid}")


@pytest.mark.asyncio
async def test_cancel_stops_a_job_rendering_on_a_worker_and_the_worker_takes_the_next(
    saq_bot: CoreBot, redis_server: RedisServer
) -> None:
    await until_workers(saq_bot, 1)
    job = await saq_bot.video(f"a long one {LONG}")
    await until_step(saq_bot, job.id)
    await saq_bot.service.cancel(saq_bot.req(), str(job.id))
    await saq_bot.until_status(job.id, JobStatus.CANCELLED, timeout=15)
    record = await saq_record(saq_bot, job.id)
    # SAQ's abort stopped it (aborted), or the worker's own look at the cancel did (a result saying so)
    assert record.status.value == "aborted" or record.result.get("cancelled") is True, record
    assert 0 < int(record.meta["step"]) < 150, "stopped mid-render, not at the end"
    assert saq_bot.used_today() == 0  # refunded
    after = await saq_bot.video("the next one")
    await saq_bot.until_status(after.id, JobStatus.DONE, timeout=30)
    assert delivered(saq_bot) == Counter({f"{after.id}.mp4": 1})


@pytest.mark.asyncio
async def test_redis_restarted_mid_run_loses_nothing_and_doubles_nothing(
    saq_bot: CoreBot, redis_server: RedisServer
) -> None:
    await until_workers(saq_bot, 2)
    jobs = [await saq_bot.video(f"clip {n} --steps 40", USERS[n % 3]) for n in range(6)]
    await until_step(saq_bot, jobs[0].id, 1)
    redis_server.kill()
    await eventually(
        lambda: "paused" in (saq_bot.service.backend.problem or ""), timeout=10, what="the pause"
    )
    late = await saq_bot.video("while Redis is down", USERS[4])
    assert "rendering is paused" in saq_bot.last_text
    redis_server.start()
    for job in [*jobs, late]:
        await saq_bot.until_status(job.id, JobStatus.DONE, timeout=60)
    assert delivered(saq_bot) == Counter({f"{job.id}.mp4": 1 for job in [*jobs, late]})
    assert saq_bot.service.backend.problem is None


@pytest.mark.asyncio
async def test_a_job_that_saq_runs_twice_is_still_delivered_once(
    saq_bot: CoreBot, redis_server: RedisServer, pool: Pool
) -> None:
    """SAQ's sweep can requeue a job a worker has just taken (saq issues #124, #277)."""
    await until_workers(saq_bot, 2)
    job = await saq_bot.video("twice --steps 30")
    await until_step(saq_bot, job.id, 1)
    queue = VideobotQueue.at(redis_server.url, queue_name(saq_bot.config.default_model))
    try:  # what the race leaves behind: the same job queued again while a worker runs it
        await queue.redis.rpush(queue._queued, queue.job_id(job_key(job.id, backend(saq_bot).run_id)))  # type: ignore[misc]
        await saq_bot.until_status(job.id, JobStatus.DONE, timeout=30)

        async def both_runs_over() -> bool:
            return not await queue.count("queued") and not await queue.count("active")

        await eventually_async(both_runs_over, timeout=20, what="the second run to end", every=0.05)
    finally:
        await queue.disconnect()
    key = job_key(job.id, backend(saq_bot).run_id)
    runs = [line for w in pool.workers for line in w.lines if "Processing" in line and f"key: {key}," in line]
    assert len(runs) >= 2, "a second run did start"
    assert delivered(saq_bot) == Counter({f"{job.id}.mp4": 1})
    assert [p.name for p in saq_bot.config.data_dir.glob("clips/*")] == [
        clip_key(job.id, backend(saq_bot).run_id)
    ]


@pytest.mark.asyncio
async def test_a_worker_with_another_secret_is_refused_in_one_line_and_takes_no_job(
    saq_bot: CoreBot, pool: Pool, start_worker: StartWorker
) -> None:
    await until_workers(saq_bot, 2)
    intruder = start_worker(pool.config, secret="not-the-secret-but-long-enough-0123456789")
    assert intruder.exit_code() == 2
    refusals = [line for line in intruder.lines if "VIDEOBOT_WORKER_SECRET" in line]
    assert len(refusals) == 1 and "refused" in refusals[0], intruder.log
    assert len(intruder.lines) == 1, intruder.log


@pytest.mark.asyncio
async def test_uploads_need_the_signature_and_a_job_the_bot_waits_for(saq_bot: CoreBot) -> None:
    b = backend(saq_bot)
    await eventually(lambda: b.upload_url.split(":")[-1] != "0", what="the upload endpoint")
    async with aiohttp.ClientSession() as http:
        forged = await http.put(f"{b.upload_url}/clips/1", data=b"x", headers={SIGNATURE_HEADER: "00"})
        grant = UploadGrant(b.run_id, 99, 1, hashlib.sha256(b"x").hexdigest(), 2**40)
        unexpected = await http.put(
            f"{b.upload_url}/clips/99",
            data=b"x",
            headers={SIGNATURE_HEADER: grant.token(WorkerKeys.of(SECRET))},
        )
    assert (forged.status, unexpected.status) == (403, 409)
    assert not list(saq_bot.config.data_dir.glob("clips/*"))


@pytest.mark.asyncio
async def test_a_worker_started_before_the_bot_waits_for_it_then_renders(
    make_bot: MakeBot, tmp_path: Path, start_redis: StartRedis, start_worker: StartWorker
) -> None:
    redis = start_redis(tmp_path)
    early = start_worker(write_saq_config(tmp_path / "worker", redis.url))
    early.wait_for_line("waiting for the bot")
    config = parse_config(
        saq_settings(tmp_path / "data", redis.url), "t.toml", {"VIDEOBOT_WORKER_SECRET": SECRET}
    )
    bot = await make_bot(config=config, renderer=Renderer("tiny"))
    job = await bot.video("first light")
    await bot.until_status(job.id, JobStatus.DONE, timeout=40)
    assert delivered(bot) == Counter({f"{job.id}.mp4": 1})


@pytest.mark.asyncio
async def test_without_workers_jobs_wait_and_the_bot_says_why_and_drops_an_earlier_runs_jobs(
    make_bot: MakeBot, tmp_path: Path, start_redis: StartRedis
) -> None:
    redis = start_redis(tmp_path)
    config = parse_config(
        saq_settings(tmp_path / "data", redis.url), "t.toml", {"VIDEOBOT_WORKER_SECRET": SECRET}
    )
    queue = VideobotQueue.at(redis.url, queue_name(config.default_model))
    left_behind = await queue.enqueue("render", key=job_key(1, "crashed-run"))  # a killed bot's job
    assert left_behind is not None
    bot = await make_bot(config=config, renderer=Renderer("tiny"))
    await eventually(lambda: bot.service.backend.problem is not None, what="the missing workers noticed")
    stale = await queue.job(left_behind.key)
    await queue.disconnect()
    assert stale is not None and stale.status.value == "aborted"
    assert "No `videobot worker`" in (bot.service.backend.problem or "")
    job = await bot.video("nobody renders this")
    assert "rendering is paused" in bot.last_text
    assert bot.job(job.id).status == JobStatus.QUEUED
    with contextlib.suppress(Exception):
        await asyncio.wait_for(bot.close(), 10)


@pytest.mark.asyncio
async def test_a_taken_upload_port_pauses_rendering_and_says_which_setting_to_change(
    make_bot: MakeBot, tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = saq_settings(tmp_path / "data", "redis://127.0.0.1:1/0", queue={"upload_port": port})
        config = parse_config(settings, "t.toml", {"VIDEOBOT_WORKER_SECRET": SECRET})
        bot = await make_bot(config=config, renderer=Renderer("tiny"))
        await eventually(lambda: bot.service.backend.problem is not None, what="the taken port noticed")
        assert f"127.0.0.1:{port}" in (bot.service.backend.problem or "")
        assert "upload_port" in (bot.service.backend.problem or "")
        await bot.video("waits")
        assert "rendering is paused" in bot.last_text


def test_without_the_secret_neither_the_worker_nor_the_bot_starts_and_each_says_why(
    tmp_path: Path, make_config: MakeConfig, start_worker: StartWorker
) -> None:
    worker = start_worker(write_saq_config(tmp_path, "redis://127.0.0.1:1/0"), secret="")
    assert worker.exit_code() == 2
    assert "VIDEOBOT_WORKER_SECRET is not set" in worker.log and len(worker.lines) == 1, worker.log
    with pytest.raises(ConfigError, match="VIDEOBOT_WORKER_SECRET"):
        make_config(queue={"backend": "saq"}, telegram={"enabled": True}, env={"TELEGRAM_TOKEN": "1:x"})
