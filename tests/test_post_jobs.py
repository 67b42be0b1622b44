"""🎞 Smooth and 🔍 HD through the core: a post step is a job with a parent (quota, fair order,
one delivery, refund on failure), refused in one sentence and free where it would do nothing;
the new clip is decoded back (frames, size, its `videobot_post` tag)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import save_file

from bot.core.parsing import parse_video_text
from bot.domain import ButtonAction, JobStatus, PostKind
from bot.post.hd import import_spandrel
from bot.settings.loading import parse_config
from bot.settings.root import Config
from tests.harness.config import COLD_RENDER, SMALL
from tests.harness.core import ALICE, BOB, GROUP, CoreBot, MakeBot
from tests.harness.media import decode
from tests.harness.polling import eventually
from tests.harness.web import MakeWeb

pytestmark = pytest.mark.usefixtures("renders")  # post steps run on real tiny clips


def post_config(tmp_path: Path, **post: Any) -> Config:
    raw: dict[str, Any] = {
        "models": {"ms": {"id": "tiny"}},
        "storage": {"dir": str(tmp_path / "data")},
        "queue": {"progress_interval_s": 0.0, "group_progress_interval_s": 0.0},
        "quota": {"per_minute": 1000.0, "burst": 1000, "daily": 100, "max_queued": 10},
        "post": {"rife_repo": "", "upscaler_repo": "", "ltx_upsampler": "", **post},
        "render": COLD_RENDER,
        "video": {"width": SMALL, "height": SMALL},
    }
    return parse_config(raw, "test-post.toml", {})


def upscaler_file(tmp_path: Path) -> str:
    import_spandrel()
    from spandrel.architectures.Compact import Compact

    torch.manual_seed(0)
    path = tmp_path / "x2.safetensors"
    save_file(Compact(num_feat=8, num_conv=2, upscale=2).state_dict(), str(path))
    return str(path)


def decoded(path: str | None) -> Any:
    assert path is not None
    return decode(Path(path).read_bytes())


async def done_clip(bot: CoreBot) -> Any:
    job = await bot.video("a red fox --frames 8")
    return await bot.until_status(job.id, JobStatus.DONE, timeout=90)


@pytest.mark.asyncio
async def test_smooth_is_a_job_with_a_parent_one_clip_of_quota_and_a_new_smoother_clip(
    make_bot: MakeBot, tmp_path: Path
) -> None:
    bot = await make_bot(config=post_config(tmp_path))
    parent = await done_clip(bot)
    [delivered] = bot.outbox.videos
    labels = {b.action: b.label for b in delivered.buttons}
    assert (labels[ButtonAction.SMOOTH], labels[ButtonAction.HD]) == ("🎞 Smooth", "🔍 HD")
    used = bot.used_today(BOB)

    await bot.service.button(bot.req(BOB), ButtonAction.SMOOTH, parent.id)  # anyone may, as with 🔁
    [job] = bot.store.jobs.of_user(BOB, 1)
    assert job.parent_id == parent.id and job.params.post is not None
    assert (job.params.post.kind, job.params.post.parent_id, job.params.seed) == (
        PostKind.SMOOTH, parent.id, parent.params.seed,
    )  # fmt: skip
    assert bot.used_today(BOB) == used + 1
    done = await bot.until_status(job.id, JobStatus.DONE, timeout=90)
    assert len(bot.outbox.videos) == 2

    before, after = decoded(parent.clip_path), decoded(done.clip_path)
    assert after.frames == 3 * before.frames and (after.width, after.height) == (before.width, before.height)
    assert after.metadata["videobot_post"] == "smooth:minterpolate"
    assert after.metadata["videobot_fps"] == "24" and after.metadata["videobot_seed"] == str(
        parent.params.seed
    )

    await bot.service.info(bot.req(BOB), done.id)
    assert f"made from clip #{parent.id}: 🎞 Smooth" in bot.last_text

    await bot.service.button(bot.req(BOB), ButtonAction.SMOOTH, done.id)
    assert f"Clip #{done.id} is already smooth" in bot.last_text
    assert bot.used_today(BOB) == used + 1, "a refusal is free"

    await bot.service.button(bot.req(BOB), ButtonAction.REROLL, done.id)  # the render's request again
    [reroll] = bot.store.jobs.of_user(BOB, 1)
    assert reroll.params.post is None and reroll.params.frames == parent.params.frames


@pytest.mark.asyncio
async def test_hd_doubles_the_clip_and_a_free_post_costs_no_quota(make_bot: MakeBot, tmp_path: Path) -> None:
    bot = await make_bot(config=post_config(tmp_path, upscaler_path=upscaler_file(tmp_path), free=True))
    parent = await done_clip(bot)
    used = bot.used_today()

    await bot.service.button(bot.req(), ButtonAction.HD, parent.id)
    [job] = bot.store.jobs.of_user(ALICE, 1)
    assert job.params.post is not None and job.params.post.kind == PostKind.HD
    assert bot.used_today() == used
    done = await bot.until_status(job.id, JobStatus.DONE, timeout=90)

    before, after = decoded(parent.clip_path), decoded(done.clip_path)
    assert (after.frames, after.width, after.height) == (before.frames, 2 * before.width, 2 * before.height)
    assert after.metadata["videobot_post"] == "hd:spandrel"


@pytest.mark.asyncio
async def test_a_post_step_that_fails_is_refunded_and_said_in_one_sentence(
    make_bot: MakeBot, tmp_path: Path
) -> None:
    bot = await make_bot(config=post_config(tmp_path))  # no upscaler weights anywhere
    parent = await done_clip(bot)
    used = bot.used_today()

    await bot.service.button(bot.req(), ButtonAction.HD, parent.id)
    [job] = bot.store.jobs.of_user(ALICE, 1)
    failed = await bot.until_status(job.id, JobStatus.FAILED, timeout=90)

    assert failed.params.post is not None and bot.used_today() == used
    await bot.outbox.wait_for_text("Something went wrong")
    assert bot.outbox.edits[-1] == f"❌ Something went wrong with video #{job.id}; your quota was refunded."
    assert "Traceback" not in bot.outbox.everything_said()


def test_smooth_and_hd_are_flags_and_the_prompt_goes_on_after_them() -> None:
    args = parse_video_text("a red fox --smooth --hd running")
    assert (args.prompt, args.smooth, args.hd) == ("a red fox running", True, True)


@pytest.mark.asyncio
async def test_smooth_and_hd_flags_follow_the_clip_with_each_step_in_order(
    make_bot: MakeBot, tmp_path: Path
) -> None:
    bot = await make_bot(config=post_config(tmp_path, upscaler_path=upscaler_file(tmp_path)))
    used = bot.used_today()

    render = await bot.video("a red fox --frames 8 --smooth --hd")
    assert render.params.then_post == "smooth,hd"
    await eventually(lambda: len(bot.outbox.videos) == 3, timeout=120, what="three clips")

    jobs = sorted(bot.store.jobs.of_user(ALICE, 3), key=lambda job: job.id)
    assert [job.params.post.kind if job.params.post else None for job in jobs] == [
        None,
        PostKind.SMOOTH,
        PostKind.HD,
    ]
    assert [job.parent_id for job in jobs[1:]] == [jobs[0].id, jobs[1].id]
    final = await bot.until_status(jobs[2].id, JobStatus.DONE, timeout=90)
    last = decoded(final.clip_path)
    assert last.metadata["videobot_post"] == "smooth:minterpolate,hd:spandrel"
    first = decoded(jobs[0].clip_path)
    assert (last.frames, last.width) == (3 * first.frames, 2 * first.width)
    assert bot.used_today() == used + 3, "each step is a clip of quota unless [post] free"


def test_demo_writes_the_smoothed_clip_beside_the_render(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli import main

    (tmp_path / "config.toml").write_text(f'[storage]\ndir = "{tmp_path / "data"}"\n[post]\nrife_repo = ""\n')
    out = tmp_path / "fox.mp4"
    argv = ["demo", "a red fox", "--tiny", "--frames", "8", "--steps", "2", "--smooth", "--out", str(out)]
    assert main([*argv, "--config", str(tmp_path / "config.toml")]) == 0

    assert "(smooth:minterpolate)" in capsys.readouterr().out
    smoothed = decoded(str(tmp_path / "fox.smooth.mp4"))
    assert smoothed.frames == 3 * decoded(str(out)).frames


@pytest.mark.asyncio
async def test_the_web_page_of_a_post_clip_links_the_clip_it_was_made_from(make_web: MakeWeb) -> None:
    site = await make_web(post={"rife_repo": ""})
    await site.publish(GROUP)
    parent = await site.clip("a lighthouse in a storm", GROUP)
    await site.bot.service.button(site.bot.req(ALICE, GROUP), ButtonAction.SMOOTH, parent.id)
    [job] = site.bot.store.jobs.of_user(ALICE, 1)
    done = await site.bot.until_status(job.id, JobStatus.DONE, timeout=90)
    assert (done.params.frames, done.params.fps) == (3 * parent.params.frames, 24), "the file's facts, stored"

    html = " ".join((await (await site.client.get(f"/clip/{site.token(done)}")).text()).split())
    assert f'🎞 Smoothed from <a href="/clip/{site.token(parent)}">clip #{parent.id}</a>' in html
    assert f"{done.params.frames} at 24 fps" in html


def test_a_step_that_would_do_nothing_or_pass_a_cap_is_refused() -> None:
    from bot.core.parsing import CommandError
    from bot.core.post import check_post
    from bot.domain import Job, PostStep, RenderParams
    from tests.harness.core import CHAT

    def job(job_id: int, fps: int, side: int, post: PostKind | None = None) -> Job:
        step = PostStep(post, job_id - 1, "x.mp4") if post else None
        params = RenderParams("a fox", "", 1, 8, 2, 9.0, side, side, fps, post=step)
        return Job(job_id, ALICE, CHAT, params, "ms")

    check_post([job(1, 16, 512)], PostKind.SMOOTH)  # 16 fps → 32
    check_post([job(1, 8, 1024)], PostKind.HD)  # → 2048, the cap itself
    refusals = [
        ([job(1, 31, 256)], PostKind.SMOOTH, "post_already_smooth"),
        (
            [job(1, 8, 256), job(2, 24, 256, PostKind.SMOOTH), job(3, 24, 512, PostKind.HD)],
            PostKind.SMOOTH,
            "post_already_smooth",
        ),
        ([job(1, 8, 256), job(2, 8, 1032, PostKind.HD)], PostKind.HD, "post_at_size_cap"),
    ]
    for chain, kind, key in refusals:
        with pytest.raises(CommandError) as refused:
            check_post(chain, kind)
        assert refused.value.key == key
