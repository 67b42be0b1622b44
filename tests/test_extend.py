"""Extend and loop through the core with tiny models: an extension is a job like any other
(quota, cancel, restart, exactly one delivery), refused in one sentence and free where it
cannot be; the renderer joins the parent and the new segment into one clip, and closes loops."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bot.core.parsing import parse_video_text
from bot.domain import ButtonAction, Continuation, Extension, JobStatus, PostKind, RenderParams
from bot.encode import read_clip
from bot.pipelines.extend import close_loop, join
from bot.settings.loading import parse_config
from bot.settings.root import Config
from tests.harness.config import COLD_RENDER, SMALL
from tests.harness.core import ALICE, CAROL, CoreBot, MakeBot
from tests.harness.media import decode
from tests.harness.polling import eventually

MODELS = {"ms": {"id": "tiny"}, "ltx": {"id": "tiny-ltx"}, "wan22": {"id": "tiny-wan22"}}
LTX = "--model ltx --frames 9"


def extend_config(tmp_path: Path, **video: Any) -> Config:
    raw: dict[str, Any] = {
        "models": MODELS,
        "storage": {"dir": str(tmp_path / "data")},
        "queue": {"progress_interval_s": 0.0, "group_progress_interval_s": 0.0},
        "quota": {"per_minute": 1000.0, "burst": 1000, "daily": 100, "max_queued": 10},
        "admin": {"owners": [CAROL.key]},
        "video": {"width": SMALL, "height": SMALL, **video},
        "render": COLD_RENDER,
    }
    return parse_config(raw, "test-extend.toml", {})


async def done_clip(bot: CoreBot, text: str = f"a red fox {LTX}") -> Any:
    job = await bot.video(text)
    return await bot.until_status(job.id, JobStatus.DONE, timeout=90)


def frames_of(path: str | None) -> int:
    assert path is not None
    return decode(Path(path).read_bytes()).frames


def mean_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean())


# the core --------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_an_extension_is_a_job_with_a_parent_one_clip_of_quota_and_one_longer_clip(
    make_bot: MakeBot, tmp_path: Path, renders: None
) -> None:
    bot = await make_bot(config=extend_config(tmp_path))
    parent = await done_clip(bot)
    [delivered] = bot.outbox.videos
    assert ButtonAction.EXTEND in [b.action for b in delivered.buttons]
    assert [b.label for b in delivered.buttons][2] == "⏩ Extend"
    used = bot.used_today()

    await bot.service.button(bot.req(), ButtonAction.EXTEND, parent.id)
    extension = bot.store.jobs.of_user(ALICE, 1)[0]
    assert extension.parent_id == parent.id and extension.params.extends is not None
    assert extension.params.extends.parent_id == parent.id
    p, q = parent.params, extension.params
    assert (q.prompt, q.frames, q.steps, q.guidance, q.width, q.height, q.fps, extension.model) == (
        p.prompt, p.frames, p.steps, p.guidance, p.width, p.height, p.fps, parent.model,
    )  # fmt: skip
    assert bot.used_today() == used + 1
    done = await bot.until_status(extension.id, JobStatus.DONE, timeout=90)
    assert len(bot.outbox.videos) == 2  # delivered once
    # the parent, then the segment less the one frame that overlaps the parent's last
    assert frames_of(done.clip_path) == frames_of(parent.clip_path) + q.frames - 1

    # extended again, with a prompt of its own; its chain shows in /info
    again = await bot.service.extend(bot.req(), done.id, "it jumps")
    assert again is not None and again.params.prompt == "it jumps"
    assert again.params.extends is not None and again.params.extends.root_id == parent.id
    await bot.service.info(bot.req(), again.id)
    assert f"extends: #{parent.id} “a red fox” → #{done.id} “a red fox”" in bot.last_text


@pytest.mark.asyncio
async def test_extend_typed_with_smooth_and_hd_queues_each_step_after_the_extension(
    make_bot: MakeBot, tmp_path: Path
) -> None:
    bot = await make_bot(config=extend_config(tmp_path))
    parent = await done_clip(bot)
    used = bot.used_today()

    refused = await bot.service.extend_text(bot.req(), f"{parent.id} it jumps --seed 3")
    assert refused is None and "/extend takes a clip, a prompt, --smooth and --hd" in bot.last_text
    assert bot.used_today() == used, "a refusal is free"

    extension = await bot.service.extend_text(bot.req(), f"#{parent.id} it —smooth jumps --hd")
    assert extension is not None and extension.params.extends is not None
    assert (extension.params.prompt, extension.params.then_post) == ("it jumps", "smooth,hd")
    await eventually(lambda: len(bot.store.jobs.of_user(ALICE, 10)) == 4, timeout=60, what="both steps")
    jobs = sorted(bot.store.jobs.of_user(ALICE, 10), key=lambda job: job.id)
    assert [(j.params.post.kind, j.parent_id) for j in jobs[2:] if j.params.post] == [
        (PostKind.SMOOTH, extension.id),
        (PostKind.HD, jobs[2].id),
    ]

    plain = await bot.service.extend_text(bot.req(), f"{parent.id} it lands")  # no flags: none queued after
    assert plain is not None and plain.params.then_post == "" and plain.params.prompt == "it lands"


@pytest.mark.asyncio
async def test_extending_past_max_extended_s_is_one_sentence_and_free(
    make_bot: MakeBot, tmp_path: Path
) -> None:
    bot = await make_bot(config=extend_config(tmp_path, max_extended_s=2.5))  # tiny-ltx: 8 fps
    parent = await done_clip(bot)  # 9 frames
    first = await bot.service.extend(bot.req(), parent.id)  # 17 frames: 2.1 s
    assert first is not None
    await bot.until_status(first.id, JobStatus.DONE, timeout=90)
    used, jobs = bot.used_today(), len(bot.store.jobs.of_user(ALICE, 50))

    assert await bot.service.extend(bot.req(), first.id) is None  # 25 frames would be 3.1 s
    assert (
        bot.last_text
        == "That clip is already 2.1 s long and can't be extended past 2.5 s. Nothing was charged."
    )
    assert bot.used_today() == used and len(bot.store.jobs.of_user(ALICE, 50)) == jobs


@pytest.mark.asyncio
async def test_who_may_extend_and_which_clips_can_be(make_bot: MakeBot, tmp_path: Path) -> None:
    from tests.harness.core import BOB

    bot = await make_bot(config=extend_config(tmp_path))
    parent = await done_clip(bot)
    assert await bot.service.extend(bot.req(BOB), parent.id) is None
    assert bot.last_text.startswith("Only the person who asked for this clip (or an admin) can extend it")
    assert await bot.service.extend(bot.req(BOB, admin=True), parent.id) is not None  # the chat's admin

    text_only = await done_clip(bot, "a red fox --model ms")
    assert ButtonAction.EXTEND not in [b.action for b in bot.outbox.videos[-1].buttons]
    used = bot.used_today()
    assert await bot.service.extend(bot.req(), text_only.id) is None
    assert bot.last_text.startswith("Clips made with ms can't be extended")
    assert bot.used_today() == used


@pytest.mark.asyncio
async def test_an_extension_can_be_cancelled_and_rerolled(make_bot: MakeBot, tmp_path: Path) -> None:
    bot = await make_bot(config=extend_config(tmp_path))
    parent = await done_clip(bot)
    await bot.service.button(bot.req(), ButtonAction.EXTEND, parent.id)
    extension = bot.store.jobs.of_user(ALICE, 1)[0]
    used = bot.used_today()
    await bot.service.cancel(bot.req(), str(extension.id))
    await bot.until_status(extension.id, JobStatus.CANCELLED, timeout=90)
    assert bot.used_today() == used - 1  # refunded, as any cancelled job

    kept = await bot.service.extend(bot.req(), parent.id)
    assert kept is not None
    kept = await bot.until_status(kept.id, JobStatus.DONE, timeout=90)
    await bot.service.button(bot.req(), ButtonAction.REROLL, kept.id)
    reroll = bot.store.jobs.of_user(ALICE, 1)[0]
    assert reroll.params.extends == kept.params.extends  # another continuation of the same parent
    done = await bot.until_status(reroll.id, JobStatus.DONE, timeout=90)
    assert frames_of(done.clip_path) == frames_of(kept.clip_path)


@pytest.mark.asyncio
async def test_a_queued_extension_survives_a_restart_and_is_delivered_once(
    make_bot: MakeBot, tmp_path: Path
) -> None:
    config = extend_config(tmp_path)
    first = await make_bot(config=config)
    parent = await done_clip(first)
    extension = await first.service.extend(first.req(), parent.id)
    assert extension is not None
    await first.close()

    second = await make_bot(config=config)
    done = await second.until_status(extension.id, JobStatus.DONE, timeout=90)
    assert done.params.extends == extension.params.extends  # stored with the job
    assert [v.clip.frames for v in second.outbox.videos if v.clip] == [frames_of(done.clip_path)]


# --loop -----------------------------------------------------------------------------------------


def test_loop_is_a_flag_and_the_prompt_goes_on_after_it() -> None:
    args = parse_video_text("a cat --loop spinning --seed 3")
    assert args.loop and args.prompt == "a cat spinning" and args.seed == 3
    assert not parse_video_text("a cat").loop


@pytest.mark.asyncio
async def test_loop_where_the_model_cannot_is_one_sentence_and_free(
    make_bot: MakeBot, tmp_path: Path
) -> None:
    bot = await make_bot(config=extend_config(tmp_path))
    for model in ("wan22", "ms"):
        assert await bot.service.video_text(bot.req(), f"a cat --loop --model {model}") is None
        assert bot.last_text == f"{model} can't make loops; loops work with ltx. Nothing was charged."
    assert bot.used_today() == 0


@pytest.mark.asyncio
async def test_a_loop_closes_on_its_first_frame(make_bot: MakeBot, tmp_path: Path, renders: None) -> None:
    """Measured on tiny-ltx's output (random weights: its conditioned frames do not reproduce the
    pictures): the jump from the last frame back to the first is under half the clip's median
    frame-to-frame change (about a fifth, measured)."""
    bot = await make_bot(config=extend_config(tmp_path))
    job = await bot.video(f"a cat {LTX} --loop")
    done = await bot.until_status(job.id, JobStatus.DONE, timeout=90)
    assert done.params.loop
    frames = read_clip(Path(done.clip_path or ""))[0]
    steps = [mean_diff(frames[i], frames[i + 1]) for i in range(len(frames) - 1)]
    seam = mean_diff(frames[-1], frames[0])
    assert seam < 0.5 * float(np.median(steps)), (seam, steps)
    assert len(frames) == 2 * 9 - 2  # the clip, then its bridge back; the first frame not repeated
    assert not np.array_equal(frames[1:4], frames[-2:-5:-1])  # no ping-pong


# the joins ------------------------------------------------------------------------------------


def test_join_overlaps_the_conditioning_frames_instead_of_repeating_them() -> None:
    parent = np.full((9, 4, 4, 3), 10, np.uint8)
    segment = np.full((9, 4, 4, 3), 200, np.uint8)
    joined = join(parent, segment, 3)
    assert len(joined) == 9 + 9 - 3
    assert joined[5].mean() == 10 and joined[6].mean() == 10  # the overlap starts on the parent
    assert 10 < joined[7].mean() < joined[8].mean() < 200 and joined[9].mean() == 200


def test_close_loop_drops_the_repeated_first_frame_and_eases_into_it() -> None:
    frames = np.stack([np.full((2, 2, 3), 10 * i, np.uint8) for i in range(17)])
    looped = close_loop(frames)
    assert len(looped) == 16 and looped[-1].mean() < frames[15].mean()


def test_an_extension_renders_as_one_clip_with_its_parent(tmp_path: Path, renders: None) -> None:
    from bot.encode import encode_mp4
    from bot.render import Renderer
    from bot.settings.sections import RenderConfig

    renderer = Renderer("tiny-ltx", tuning=RenderConfig(warmup_steps=0))
    parent = renderer.render(RenderParams("a cat", "", 1, 17, 2, 3.0, 64, 64, 8)).frames
    encode_mp4(parent, tmp_path / "1.mp4", fps=8, crf=0)  # near lossless: only yuv420 chroma is lost
    continued = Continuation(Extension(1, str(tmp_path / "1.mp4"), 17, 1))
    params = RenderParams("a cat", "", 2, 17, 2, 3.0, 64, 64, 8, conditioning=continued)
    joined = renderer.render(params).frames
    assert type(renderer.mode_pipeline(renderer.preset.modes.continuation)).__name__ == "LTXConditionPipeline"
    for part in ("transformer", "vae", "text_encoder"):  # no second copy of the weights
        assert getattr(renderer.mode_pipeline(renderer.preset.modes.continuation), part) is getattr(
            renderer.pipe, part
        )
    assert joined.shape == (17 + 17 - 1, 64, 64, 3)
    # the parent's own frames lead (through one yuv420 encode, which blurs random-weight colours):
    # closer to them than to the parent shifted by one frame
    assert mean_diff(joined[:16], parent[:16]) < 0.8 * mean_diff(joined[:16], parent[1:17])


@pytest.mark.asyncio
async def test_the_gallery_shows_an_extended_clip_once_at_full_length(
    make_bot: MakeBot, tmp_path: Path
) -> None:
    from bot.domain import ChatSettings
    from tests.harness.core import GROUP

    bot = await make_bot(config=extend_config(tmp_path))
    bot.store.chats.save(GROUP.scope_key, ChatSettings(gallery=True))
    job = await bot.video(f"a red fox {LTX}", chat=GROUP)
    parent = await bot.until_status(job.id, JobStatus.DONE, timeout=90)
    assert [j.id for _, j in bot.store.public.latest_clips(10)] == [parent.id]

    extension = await bot.service.extend(bot.req(chat=GROUP), parent.id)
    assert extension is not None
    await bot.until_status(extension.id, JobStatus.DONE, timeout=90)
    [(_, shown)] = bot.store.public.latest_clips(10)
    assert shown.id == extension.id  # the chain once, as its longest clip

    from bot.web.site import clip_frames

    assert clip_frames(shown.params) == 9 + 9 - 1
    assert shown.clip_frames == 9 + 9 - 1, "the page states the delivered file's frames"


def test_an_extension_and_a_loop_travel_to_a_remote_worker_intact() -> None:
    import json

    from bot.core.ports import RenderJob
    from bot.dispatch.remote import RemoteJob, WorkerKeys
    from bot.pipelines.registry import TINY_PRESETS
    from bot.settings.sections import VideoConfig

    extends = Extension(4, "/data/clips/4.mp4", 17, 1)
    params = RenderParams("a cat", "", 1, 9, 2, 3.0, 64, 64, 8, conditioning=Continuation(extends, loop=True))
    identity = TINY_PRESETS["tiny-ltx"].identity("ltx", "tiny-ltx")
    keys = WorkerKeys.of("a worker secret of thirty-two chars or more")
    sent = RemoteJob(RenderJob(5, "ltx", params, identity), "run1", VideoConfig())
    kwargs = json.loads(json.dumps(sent.to_kwargs(keys, "saq:job:5")))  # as Redis carries it
    assert RemoteJob.from_kwargs(keys, "saq:job:5", kwargs).job.params == params


@pytest.mark.asyncio
async def test_a_picture_loop_is_conditioned_on_the_picture_at_both_ends(
    make_bot: MakeBot, tmp_path: Path, renders: None
) -> None:
    from tests.harness.pictures import coffee_jpeg, upload

    bot = await make_bot(config=extend_config(tmp_path))
    job = await bot.service.video_text(bot.req(), f"steam rises {LTX} --loop", picture=upload(coffee_jpeg()))
    assert job is not None and job.params.loop and job.params.picture is not None
    done = await bot.until_status(job.id, JobStatus.DONE, timeout=90)
    frames = read_clip(Path(done.clip_path or ""))[0]
    assert len(frames) == 9 - 1  # one clip, its last frame (the picture again) dropped
    steps = [mean_diff(frames[i], frames[i + 1]) for i in range(len(frames) - 1)]
    assert mean_diff(frames[-1], frames[0]) < 0.5 * float(np.median(steps))


@pytest.mark.asyncio
async def test_an_extension_of_a_loop_loops_too(make_bot: MakeBot, tmp_path: Path, renders: None) -> None:
    """⏩ on a loop keeps `--loop` (the option table carries it): the longer clip's end leads back
    into the loop's first frame, with the same seam bound as a loop of its own."""
    bot = await make_bot(config=extend_config(tmp_path))
    parent = await done_clip(bot, f"a cat {LTX} --loop")
    await bot.service.button(bot.req(), ButtonAction.EXTEND, parent.id)
    extension = bot.store.jobs.of_user(ALICE, 1)[0]
    assert extension.params.loop and extension.params.extends is not None
    done = await bot.until_status(extension.id, JobStatus.DONE, timeout=90)
    frames = read_clip(Path(done.clip_path or ""))[0]
    first = read_clip(Path(parent.clip_path or ""))[0][0]
    steps = [mean_diff(frames[i], frames[i + 1]) for i in range(len(frames) - 1)]
    assert mean_diff(frames[-1], first) < 0.5 * float(np.median(steps))
