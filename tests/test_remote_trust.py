"""Remote workers against a hostile Redis and hostile uploads: a real `redis-server`, the bot's
SAQ backend, and in-test SAQ workers that play a lying or newer worker.

Whoever can write to Redis cannot get a clip delivered or signed, cannot read prompts, and
cannot stop remote rendering; whoever sees one upload on the wire cannot replay it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from saq.job import Job as SaqJob
from saq.worker import Worker

from bot.core.ports import RenderJob
from bot.dispatch.remote import (
    SIGNATURE_HEADER,
    RemoteJob,
    Uploaded,
    UploadGrant,
    WorkerKeys,
    clip_key,
    queue_name,
    seal_result,
)
from bot.dispatch.saq_backend import SaqBackend, VideobotQueue
from bot.dispatch.saq_results import clip_misfits
from bot.dispatch.uploads import ClipInbox
from bot.domain import Clip, Continuation, Extension, JobStatus, Loop, Picture, RenderParams
from bot.encode import encode_mp4
from bot.pipelines.spec import ClipIdentity
from bot.render import Renderer
from bot.settings.loading import parse_config
from bot.settings.root import Config
from tests.harness.core import COLD, CoreBot, MakeBot
from tests.harness.lanes import starts
from tests.harness.polling import eventually, eventually_async
from tests.harness.saq import (
    SECRET,
    RedisServer,
    StartWorker,
    redis_missing,
    saq_settings,
    write_saq_config,
)

KEYS = WorkerKeys.of(SECRET)
RUN = "run123"


# the upload endpoint alone ------------------------------------------------------------------


@pytest_asyncio.fixture
async def inbox(tmp_path: Path) -> AsyncIterator[tuple[ClipInbox, TestClient[Any, Any]]]:
    waiting = {1, 2, 3}
    box = ClipInbox(
        tmp_path / "clips", KEYS, RUN, lambda job: job in waiting, max_bytes=10_000, body_timeout_s=2.0,
        max_attempts=3,
    )  # fmt: skip
    async with TestClient(TestServer(box.app())) as client:
        yield box, client


def grant_for(body: bytes, job: int = 1, *, run: str = RUN, expires: float | None = None) -> dict[str, str]:
    when = int(expires if expires is not None else time.time() + 60)
    return {SIGNATURE_HEADER: UploadGrant(run, job, 1, hashlib.sha256(body).hexdigest(), when).token(KEYS)}


@pytest.mark.asyncio
async def test_an_upload_credential_covers_one_body_one_run_one_job_until_it_expires_once(
    inbox: tuple[ClipInbox, TestClient[Any, Any]],
) -> None:
    box, client = inbox
    clip, forged = b"the real clip", b"a solid red clip"
    headers = grant_for(clip)
    assert (await client.put("/clips/1", data=forged, headers=headers)).status == 403  # another body
    assert (await client.put("/clips/1", data=clip, headers=grant_for(clip, run="earlier"))).status == 403
    assert (
        await client.put("/clips/1", data=clip, headers=grant_for(clip, expires=time.time() - 1))
    ).status == 403
    assert (await client.put("/clips/2", data=clip, headers=headers)).status == 403  # another job
    assert (await client.put("/clips/1", data=clip, headers=headers)).status == 200
    assert (await client.put("/clips/1", data=clip, headers=headers)).status == 403  # a replay
    assert (box.clips_dir / clip_key(1, RUN)).read_bytes() == clip


@pytest.mark.asyncio
async def test_uploads_are_bounded_and_nothing_lingers_after_a_cancel(
    inbox: tuple[ClipInbox, TestClient[Any, Any]], tmp_path: Path
) -> None:
    box, client = inbox
    big = b"x" * 20_000
    assert (await client.put("/clips/2", data=big, headers=grant_for(big, 2))).status == 413
    huge_id = "9" * 5000  # past Python's int-string limit: a plain refusal, not a 500
    assert (await client.put(f"/clips/{huge_id}", data=b"x", headers=grant_for(b"x"))).status == 400
    assert (await client.put("/clips/3", data=b"first", headers=grant_for(b"first", 3))).status == 200
    again = await client.put("/clips/3", data=b"second", headers=grant_for(b"second", 3))
    assert again.status == 200 and (await again.json())["sha256"] == hashlib.sha256(b"first").hexdigest()
    assert sorted(p.name for p in box.clips_dir.iterdir()) == [clip_key(3, RUN)]  # no partial left

    cancelled = False
    box.expects = lambda job: not cancelled

    async def slow_body() -> AsyncIterator[bytes]:
        nonlocal cancelled
        yield b"half"
        cancelled = True  # /cancel lands while the body is on its way
        yield b"-done"

    late = await client.put("/clips/1", data=slow_body(), headers=grant_for(b"half-done"))
    assert late.status == 409
    assert not (box.clips_dir / clip_key(1, RUN)).exists()


# the bot and its workers over a real Redis ----------------------------------------------------


@pytest.fixture
@starts("redis")
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    if redis_missing():
        pytest.skip(redis_missing() or "")
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.kill()


def saq_config(tmp_path: Path, redis: RedisServer) -> Config:
    settings = saq_settings(tmp_path / "data", redis.url, queue={"max_attempts": 2}, quota={"max_queued": 10})
    return parse_config(settings, "t.toml", {"VIDEOBOT_WORKER_SECRET": SECRET})


def backend(bot: CoreBot) -> SaqBackend:
    assert isinstance(bot.service.backend, SaqBackend)
    return bot.service.backend


Script = Callable[[SaqJob, RemoteJob, SaqBackend], Awaitable[dict[str, Any]]]


@contextlib.asynccontextmanager
async def lying_worker(bot: CoreBot, script: Script) -> AsyncIterator[None]:
    """An in-test SAQ worker on the bot's queue that answers every job as `script` says."""
    queue = VideobotQueue.at(bot.config.queue.redis_url, queue_name(bot.config.default_model))

    async def render(ctx: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        job: SaqJob = ctx["job"]
        return await script(job, RemoteJob.from_kwargs(KEYS, job.id, kwargs), backend(bot))

    worker: Worker[Any] = Worker(
        queue, functions=[("render", render)], concurrency=1, dequeue_timeout=0.5,  # type: ignore[list-item]
        timers={"worker_info": 1, "sweep": 1, "abort": 1},  # type: ignore[arg-type]
    )  # fmt: skip
    task = asyncio.create_task(worker.start())
    try:
        yield
    finally:
        await worker.stop()
        await asyncio.gather(task, return_exceptions=True)
        await queue.disconnect()


async def upload(b: SaqBackend, job: RemoteJob, body: bytes) -> Uploaded:
    grant = UploadGrant(job.run, job.job.job_id, 1, hashlib.sha256(body).hexdigest(), int(time.time() + 60))
    async with (
        aiohttp.ClientSession() as http,
        http.put(f"{b.upload_url}/clips/{job.job.job_id}", data=body, headers={SIGNATURE_HEADER: grant.token(KEYS)}) as answer,
    ):  # fmt: skip
        assert answer.status == 200, await answer.text()
        return Uploaded.from_result(await answer.json()) or Uploaded("", 0, "")


def mp4(tmp_path: Path, frames: int, side: int) -> bytes:
    pixels = np.full((frames, side, side, 3), 200, dtype=np.uint8)
    return Path(encode_mp4(pixels, tmp_path / f"made-{frames}.mp4", fps=8).path).read_bytes()


@pytest.mark.asyncio
async def test_bad_worker_results_fail_only_their_job_and_remote_rendering_goes_on(
    make_bot: MakeBot, tmp_path: Path, redis: RedisServer
) -> None:
    bot = await make_bot(config=saq_config(tmp_path, redis), renderer=Renderer("tiny", tuning=COLD))
    b = backend(bot)
    await eventually(lambda: b.upload_url.split(":")[-1] != "0", what="the upload endpoint")

    async def script(job: SaqJob, remote: RemoteJob, b: SaqBackend) -> dict[str, Any]:
        prompt, params = remote.job.params.prompt, remote.job.params
        if prompt == "new kind":  # a newer worker's failure kind
            return seal_result(KEYS, job.id, {"failed": "bogus", "detail": "new"})
        if prompt == "unsigned":  # anyone writing a result into Redis
            return {"failed": "out_of_memory"}
        if prompt == "bad meta":
            await job.update(meta={"step": "many", "total": None})
            return seal_result(KEYS, job.id, {"dropped": True})
        if prompt == "not an mp4":
            return seal_result(KEYS, job.id, (await upload(b, remote, b"not a video at all")).to_result())
        if prompt == "too many frames":
            body = mp4(tmp_path, params.frames + 8, params.width)
            return seal_result(KEYS, job.id, (await upload(b, remote, body)).to_result())
        if prompt == "another job's clip":
            return seal_result(KEYS, job.id, Uploaded(clip_key(1, b.run_id), 1, "00").to_result())
        body = mp4(tmp_path, params.frames, params.width)
        return seal_result(KEYS, job.id, (await upload(b, remote, body)).to_result())

    async with lying_worker(bot, script):
        prompts = ["new kind", "unsigned", "bad meta", "not an mp4", "too many frames", "another job's clip"]
        jobs = [await bot.video(f"{prompt} --frames 8") for prompt in prompts]
        for job in jobs:
            assert (await bot.until_status(job.id, JobStatus.FAILED, timeout=60)).status == JobStatus.FAILED
        good = await bot.video("a fine clip --frames 8")
        await bot.until_status(good.id, JobStatus.DONE, timeout=60)
    assert not bot.worker.done()  # type: ignore[union-attr]
    assert sorted(p.name for p in bot.config.data_dir.glob("clips/*.mp4")) == [clip_key(good.id, b.run_id)]


@pytest.mark.asyncio
async def test_a_job_someone_wrote_into_redis_is_refused_and_prompts_are_not_readable_there(
    make_bot: MakeBot, tmp_path: Path, redis: RedisServer, start_worker: StartWorker
) -> None:
    """The attack that once worked: cheap jobs with the attacker's own `upload_url` made a real
    worker hand over valid upload signatures."""
    harvested: list[str] = []

    async def attacker_endpoint(request: web.Request) -> web.Response:
        harvested.append(request.headers.get(SIGNATURE_HEADER, ""))
        return web.json_response({"key": "1.mp4", "size": 1, "sha256": "00"})

    app = web.Application()
    app.router.add_put("/clips/{job}", attacker_endpoint)
    bot = await make_bot(config=saq_config(tmp_path, redis), renderer=Renderer("tiny", tuning=COLD))
    worker = start_worker(write_saq_config(tmp_path / "worker", redis.url))
    try:
        await asyncio.to_thread(worker.wait_for_line, "serving", 120)
        async with TestServer(app) as attacker:
            queue = VideobotQueue.at(redis.url, queue_name(bot.config.default_model))
            forged_params = {
                "prompt": "cheap", "negative": "", "seed": 1, "frames": 8, "steps": 1, "guidance": 1.0,
                "width": 64, "height": 64, "fps": 8,
            }  # fmt: skip
            forged = await queue.enqueue(
                "render", key="job-1-forged", job_id=1, model=bot.config.default_model, params=forged_params,
                upload_url=str(attacker.make_url("")).rstrip("/"), video={},
            )  # fmt: skip
            assert forged is not None

            async def forged_done() -> bool:
                record = await queue.job(forged.key)
                return record is not None and record.status.value in ("complete", "failed")

            await eventually_async(forged_done, timeout=120, what="the worker to take the forged job")
            record = await queue.job(forged.key)
            assert record is not None and record.result == {"refused": True}
            real = await bot.video("a private wish nobody else may read")
            await bot.until_status(real.id, JobStatus.DONE, timeout=60)
            keys = await queue.redis.keys("*")
            stored = b"".join(
                [await queue.redis.get(k) or b"" for k in keys if (await queue.redis.type(k)) == b"string"]
            )
            await queue.disconnect()
        assert harvested == []
        assert b"private wish" not in stored
    finally:
        worker.stop()


# G4 (#32): an upload is checked against what the job really makes ---------------------------------


@pytest.mark.parametrize(
    ("kind", "made"),
    [("text", 8), ("extension", 12 + 8 - 1), ("text loop", 2 * 8 - 2), ("picture loop", 8 - 1)],
)
def test_an_upload_is_checked_against_the_jobs_whole_output(kind: str, made: int) -> None:
    params = RenderParams("a cat", "", 1, 8, 2, 9.0, 64, 64, 8)
    if kind == "extension":
        params = replace(params, conditioning=Continuation(Extension(1, "parent.mp4", 12, 1)))
    if kind == "text loop":
        params = replace(params, conditioning=Loop())
    if kind == "picture loop":
        params = replace(params, conditioning=Loop(Picture("0" * 64, 10, "png", 64, 64)))
    job = RenderJob(7, "tiny", params, ClipIdentity("tiny", "tiny", "modelscope", "none"))

    assert clip_misfits(Clip("c.mp4", 1000, 64, 64, made, 8), job) is None
    assert clip_misfits(Clip("c.mp4", 1000, 64, 64, made + 1, 8), job) is not None  # one frame more: refused
