"""🎞 Smooth and 🔍 HD on remote workers (#35 item 3): the post job travels sealed through Redis
with its parent clip's path and SHA-256, a real `videobot worker` smooths the bot's file with
`minterpolate`, uploads the result, and the bot checks it against the parent (frames × k, fps × k,
the size kept; HD: the size doubled) before signing it with the parent as its ingredient."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bot.core.ports import RenderJob
from bot.dispatch.remote import RemoteJob, WorkerKeys
from bot.dispatch.saq_backend import MAX_POST_FRAMES, SaqBackend, _total
from bot.dispatch.saq_results import clip_misfits, post_misfits
from bot.dispatch.worker import _input_changed
from bot.domain import ButtonAction, Clip, JobStatus, PostKind, PostStep, RenderParams
from bot.pipelines.spec import ClipIdentity
from bot.post.hd import import_spandrel
from bot.provenance import check_clip
from bot.render import Renderer
from bot.settings.loading import parse_config
from bot.settings.root import Config
from tests.harness.core import BOB, COLD, MakeBot
from tests.harness.media import decode
from tests.harness.saq import SECRET, StartRedis, StartWorker, saq_settings, write_saq_config

NO_HUB: dict[str, Any] = {
    "rife_repo": "",
    "upscaler_repo": "",
    "ltx_upsampler": "",
    "smooth_method": "minterpolate",
}
TINY = ClipIdentity("tiny", "tiny", "modelscope", "none")
PARAMS = RenderParams("a cat", "", 1, 8, 2, 9.0, 64, 64, 8)


def upscaler_file(tmp_path: Path) -> str:
    """A ×2 upscaler with random weights in a file spandrel loads (no hub)."""
    import torch
    from safetensors.torch import save_file

    import_spandrel()
    from spandrel.architectures.Compact import Compact

    torch.manual_seed(0)
    path = tmp_path / "x2.safetensors"
    save_file(Compact(num_feat=8, num_conv=2, upscale=2).state_dict(), str(path))
    return str(path)


def remote_config(folder: Path, redis_url: str) -> Config:
    settings = saq_settings(folder / "data", redis_url, post=dict(NO_HUB), quota={"max_queued": 10})
    return parse_config(settings, "remote-post.toml", {"VIDEOBOT_WORKER_SECRET": SECRET})


@pytest.mark.asyncio
async def test_a_remote_worker_smooths_then_upscales_the_bots_clips_and_the_bot_signs_them(
    make_bot: MakeBot, tmp_path: Path, start_redis: StartRedis, start_worker: StartWorker
) -> None:
    redis = start_redis(tmp_path)
    post = {**NO_HUB, "upscaler_path": upscaler_file(tmp_path)}  # the worker's own weights
    worker = start_worker(write_saq_config(tmp_path / "worker", redis.url, post=post))
    bot = await make_bot(
        config=remote_config(tmp_path, redis.url), renderer=Renderer("tiny", tuning=COLD)
    )  # unused
    assert isinstance(bot.service.backend, SaqBackend)
    parent = await bot.video("a red fox --frames 8")
    parent = await bot.until_status(parent.id, JobStatus.DONE, timeout=120)
    used = bot.used_today(BOB)

    await bot.service.button(bot.req(BOB), ButtonAction.SMOOTH, parent.id)  # no longer refused
    [job] = bot.store.jobs.of_user(BOB, 1)
    assert job.params.post is not None and job.params.post.kind == PostKind.SMOOTH
    assert bot.used_today(BOB) == used + 1
    done = await bot.until_status(job.id, JobStatus.DONE, timeout=120)
    await bot.service.button(bot.req(BOB), ButtonAction.HD, done.id)  # a post step on a post clip
    [hd_job] = bot.store.jobs.of_user(BOB, 1)
    hd = await bot.until_status(hd_job.id, JobStatus.DONE, timeout=120)
    worker.stop()

    assert done.clip_path is not None and parent.clip_path is not None
    before, after = decode(Path(parent.clip_path).read_bytes()), decode(Path(done.clip_path).read_bytes())
    assert after.frames == 3 * before.frames and (after.width, after.height) == (before.width, before.height)
    assert after.metadata["videobot_post"] == "smooth:minterpolate"
    assert after.metadata["videobot_fps"] == "24"
    assert (done.params.frames, done.params.fps) == (after.frames, 24), "the post clip's own facts stored"
    check = check_clip(Path(done.clip_path))  # signed by the bot: the worker holds no key
    assert check.state.value == "valid" and check.extends_clip and check.parent_had_credentials
    assert hd.clip_path is not None
    upscaled = decode(Path(hd.clip_path).read_bytes())
    assert (upscaled.frames, upscaled.width, upscaled.height) == (
        after.frames,
        2 * after.width,
        2 * after.height,
    )
    assert upscaled.metadata["videobot_post"] == "smooth:minterpolate,hd:spandrel"
    assert check_clip(Path(hd.clip_path)).state.value == "valid"
    assert "Traceback" not in worker.log


def test_a_post_job_travels_sealed_with_its_parent_clips_hash_and_the_worker_checks_it(
    tmp_path: Path,
) -> None:
    parent = tmp_path / "1.mp4"
    parent.write_bytes(b"the bot's clip")
    step = PostStep(PostKind.HD, 1, str(parent), loop=True)
    job = RenderJob(2, "tiny", replace(PARAMS, post=step), TINY)
    keys = WorkerKeys.of(SECRET)
    sealed = RemoteJob(
        job, "run", parse_config({}, "t.toml", {}).video, hashlib.sha256(b"the bot's clip").hexdigest()
    )
    opened = RemoteJob.from_kwargs(keys, "k", sealed.to_kwargs(keys, "k"))

    assert opened == sealed and opened.job.params.post == step
    assert _input_changed(opened) is None
    parent.write_bytes(b"another clip")  # someone changed it on the shared disk
    assert _input_changed(opened) == "parent clip"
    assert _input_changed(replace(opened, parent_sha256="")) == "parent clip", "no hash: never read"


@pytest.mark.parametrize(
    ("kind", "made", "fits"),
    [
        (PostKind.SMOOTH, Clip("c", 1, 64, 64, 24, 24), True),
        (PostKind.SMOOTH, Clip("c", 1, 64, 64, 25, 24), False),  # one frame more
        (PostKind.SMOOTH, Clip("c", 1, 64, 64, 8, 8), False),  # not smoothed
        (PostKind.SMOOTH, Clip("c", 1, 128, 128, 24, 24), False),  # bigger
        (PostKind.SMOOTH, Clip("c", 1, 64, 64, 12, 12), False),  # fps not a whole multiple
        (PostKind.HD, Clip("c", 1, 128, 128, 8, 8), True),
        (PostKind.HD, Clip("c", 1, 128, 128, 24, 24), False),  # HD keeps frames and fps
        (PostKind.HD, Clip("c", 1, 64, 64, 8, 8), False),  # not upscaled
        (PostKind.HD, Clip("c", 1, 256, 256, 8, 8), False),  # ×4
    ],
)
def test_an_uploaded_post_clip_is_checked_against_its_parent(kind: PostKind, made: Clip, fits: bool) -> None:
    parent = Clip("p", 1, 64, 64, 8, 8)
    job = RenderJob(2, "tiny", replace(PARAMS, post=PostStep(kind, 1, "p.mp4")), TINY)

    assert (post_misfits(made, kind, parent) is None) == fits
    assert (clip_misfits(made, job, parent) is None) == fits
    assert clip_misfits(made, job) is not None, "never without its parent"


def test_a_remote_post_steps_progress_counts_its_frames_as_its_worker_says_bounded() -> None:
    render = RenderJob(2, "tiny", PARAMS, TINY)
    post = RenderJob(3, "tiny", replace(PARAMS, post=PostStep(PostKind.SMOOTH, 1, "p.mp4")), TINY)

    assert _total(post, {"total": 24}) == 24
    assert _total(render, {"total": 24}) == PARAMS.steps, "a render counts its own steps"
    assert _total(post, {"total": True}) == _total(post, {"total": "24"}) == PARAMS.steps
    assert _total(post, {"total": 10**12}) == MAX_POST_FRAMES
