"""Every mode on real-shaped weights (issue #31): each tiny family, built in its real checkpoint's
dtypes (bf16, Wan's VAE fp32), renders each mode its family's file declares and keeps every
component's dtype and parameter count; a mode's pipeline shares the loaded weights (no second
copy); and a clip's frames and fps in its MP4 tags and its signed C2PA record are the decoded
file's, for text, picture, extend, loop and sound clips."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image

from bot.domain import (
    ConditioningKind,
    Continuation,
    Extension,
    FromPicture,
    JobStatus,
    Loop,
    Picture,
    RenderParams,
)
from bot.encode import encode_clip, encode_mp4, read_clip
from bot.pipelines import ltx, wan
from bot.pipelines.registry import TINY_PRESETS
from bot.pipelines.spec import ClipIdentity, Preset
from bot.pipelines.tiny import build_tiny
from bot.provenance import ContentCredentials, ensure_local_identity, read_record
from bot.render import Renderer
from bot.rendering.loading import component_dtypes
from bot.settings.loading import parse_config
from bot.settings.sections import RenderConfig, VideoConfig
from tests.harness.config import SMALL
from tests.harness.core import MakeBot

pytestmark = pytest.mark.usefixtures("renders")  # every test here renders with diffusers

# The published checkpoint each tiny build stands for: its dtypes on CUDA are what the test casts to.
REAL = {"tiny-ltx": ltx.LTX_VIDEO, "tiny-wan22": wan.WAN22_TI2V_5B, "tiny-wan": wan.WAN21_1_3B,
        "tiny-wan-flf2v": wan.WAN21_FLF2V_14B}  # fmt: skip


class RealDtypeRenderer(Renderer):
    """The tiny build with each component cast as `component_dtypes` casts the real checkpoint's
    on a GPU (bf16; Wan's VAE fp32): what a picture, extend or loop job must leave as it is."""

    def _build(self, device: str) -> Any:
        pipe = build_tiny(self.source)
        dtypes = component_dtypes(REAL[self.source], "cuda")
        for name, module in pipe.components.items():
            if isinstance(module, torch.nn.Module):
                module.to(dtypes.get(name, dtypes["default"]))
        return pipe


def facts(pipe: Any) -> dict[str, tuple[set[torch.dtype], int]]:
    """Each module component's parameter dtypes and parameter count."""
    return {
        name: ({p.dtype for p in module.parameters()}, sum(p.numel() for p in module.parameters()))
        for name, module in pipe.components.items()
        if isinstance(module, torch.nn.Module)
    }


def storages(pipe: Any) -> set[int]:
    return {
        p.untyped_storage().data_ptr()
        for module in pipe.components.values()
        if isinstance(module, torch.nn.Module)
        for p in module.parameters()
    }


def picture_at(tmp_path: Path, colour: str = "orange") -> Picture:
    path = tmp_path / f"{colour}.png"
    Image.new("RGB", (80, 48), colour).save(path)
    return Picture("0" * 64, path.stat().st_size, "png", 80, 48, str(path))


def base(preset: Preset, seed: int = 1) -> RenderParams:
    return RenderParams("a fox", "", seed, preset.frames, 2, preset.guidance, SMALL, SMALL, preset.fps)


def requests(name: str, renderer: Renderer, tmp_path: Path) -> dict[ConditioningKind, list[RenderParams]]:
    """One request (two for a loop: with and without a picture) per mode the preset declares."""
    preset = TINY_PRESETS[name]
    plain = base(preset)
    parent = tmp_path / "parent.mp4"
    if preset.extends:
        encode_mp4(renderer.render(plain).frames, parent, fps=plain.fps, crf=0)
    made = {
        ConditioningKind.NONE: [plain],
        ConditioningKind.PICTURE: [replace(plain, conditioning=FromPicture(picture_at(tmp_path)))],
        ConditioningKind.CONTINUATION: [
            replace(plain, conditioning=Continuation(Extension(1, str(parent), plain.frames, 1)))
        ],
        ConditioningKind.LOOP: [replace(plain, conditioning=Loop(picture_at(tmp_path)))]
        + ([replace(plain, conditioning=Loop())] if preset.modes.text else []),  # text first, then a bridge
    }
    return {kind: made[kind] for kind in preset.modes.declared}


@pytest.mark.parametrize("name", ["tiny-ltx", "tiny-wan22", "tiny-wan-flf2v"])
def test_every_declared_mode_renders_in_bf16_and_leaves_every_component_as_loaded(
    name: str, tmp_path: Path
) -> None:
    renderer = RealDtypeRenderer(name, tuning=RenderConfig(warmup_steps=0))
    renderer.load()
    loaded = facts(renderer.pipe)
    assert torch.bfloat16 in loaded["transformer"][0]
    if renderer.preset.family.name == "wan":
        assert loaded["vae"][0] == {torch.float32}, "Wan's VAE stays fp32"
    if "image_encoder" in loaded:
        assert loaded["image_encoder"][0] == {torch.float32}, "Wan I2V's CLIP image encoder stays fp32"
    weights = storages(renderer.pipe)
    for kind, batch in requests(name, renderer, tmp_path).items():
        for params in batch:
            clip = renderer.render(params)
            assert clip.frames.ndim == 4 and clip.frames.std() > 0, kind
            assert facts(renderer.pipe) == loaded, f"a {kind} job changed a component's dtype or size"
        mode = renderer.preset.modes.mode(kind)
        used = renderer.mode_pipeline(mode)
        assert facts(used) == {part: loaded[part] for part in facts(used)}, kind
        assert storages(used) <= weights, f"the {kind} pipeline holds weights of its own"
    assert len(storages(renderer.pipe)) == len(weights)


def test_a_family_without_a_last_frame_declares_no_loop(tmp_path: Path) -> None:
    """N2: only Wan's first-last-frame checkpoint takes `last_image`; TI2V-5B ignores it. FLF2V's
    transformer takes both frames on every call, so it cannot continue a clip (no end frame)."""
    assert not wan.WAN21_I2V_14B.loops and not wan.WAN22_TI2V_5B.loops
    assert wan.WAN21_FLF2V_14B.loops and TINY_PRESETS["tiny-ltx"].loops
    assert not wan.WAN21_FLF2V_14B.extends and wan.WAN21_I2V_14B.extends
    flf2v = Renderer("tiny-wan-flf2v", tuning=RenderConfig(warmup_steps=0))
    loop = replace(base(TINY_PRESETS["tiny-wan-flf2v"]), conditioning=Loop(picture_at(tmp_path)))
    assert flf2v.render(loop).count == loop.frames - 1  # both ends on the picture, the repeat dropped


# Facts from the clip ---------------------------------------------------------------------------


def signed(renderer: Renderer, params: RenderParams, path: Path, credentials: ContentCredentials) -> None:
    identity = ClipIdentity("m", renderer.source, renderer.preset.family.name, "none")
    encode_clip(renderer.render(params), path, params, made_by=identity, video=VideoConfig(),
                credentials=credentials)  # fmt: skip


@pytest.mark.parametrize(
    ("name", "kind"),
    [("tiny-wan", "text"), ("tiny-ltx", "picture"), ("tiny-ltx", "extend"), ("tiny-ltx", "loop"),
     ("tiny-ltx", "picture loop"), ("tiny-wan22", "extend"), ("tiny-ltx2", "sound")],
)  # fmt: skip
def test_tags_and_the_signed_record_state_the_decoded_files_frames_and_fps(
    name: str, kind: str, tmp_path: Path
) -> None:
    renderer = Renderer(name, tuning=RenderConfig(warmup_steps=0))
    credentials = ContentCredentials(ensure_local_identity(tmp_path / "data"))
    preset = TINY_PRESETS[name]
    params = base(preset)
    if kind == "extend":
        signed(renderer, params, tmp_path / "parent.mp4", credentials)
        parent = Extension(1, str(tmp_path / "parent.mp4"), params.frames, 1)
        params = replace(params, seed=2, conditioning=Continuation(parent))
    elif kind == "picture":
        params = replace(params, conditioning=FromPicture(picture_at(tmp_path)))
    elif kind == "picture loop":
        params = replace(params, conditioning=Loop(picture_at(tmp_path)))
    elif kind == "loop":
        params = replace(params, conditioning=Loop())
    path = tmp_path / "clip.mp4"
    signed(renderer, params, path, credentials)

    frames, fps, tags = read_clip(path)
    record = read_record(path)
    assert record is not None
    assert (int(tags["videobot_frames"]), int(tags["videobot_fps"])) == (len(frames), fps)
    assert (record.frames, record.fps) == (len(frames), fps)
    assert (record.width, record.height) == frames.shape[2:0:-1]
    if kind in ("extend", "loop", "picture loop"):
        assert len(frames) != params.frames, "the request's frame count is not the clip's"


# Every denoiser tuned, two experts, distilled schedules (N5, N8, N9) ------------------------------


def expert_weights(pipe: Any) -> tuple[torch.Tensor, torch.Tensor]:
    return (pipe.transformer.blocks[0].attn1.to_q.weight, pipe.transformer_2.blocks[0].attn1.to_q.weight)


class TwoBlockA14B(Renderer):
    def _build(self, device: str) -> Any:
        return build_tiny(self.source, layers=2)  # first-block caching needs a block to skip


def test_memory_modes_and_step_caches_reach_both_experts() -> None:
    low = Renderer("tiny-wan-a14b", tuning=RenderConfig(memory="low", warmup_steps=0))
    low.load()
    assert {w.dtype for w in expert_weights(low.pipe)} == {torch.float8_e4m3fn}, "FP8 storage on both"
    cached = TwoBlockA14B("tiny-wan-a14b", tuning=RenderConfig(warmup_steps=0), model_cache="first-block")
    cached.load()
    assert cached.pipe.transformer.is_cache_enabled and cached.pipe.transformer_2.is_cache_enabled
    assert cached.render(base(TINY_PRESETS["tiny-wan-a14b"])).frames.std() > 0


def test_the_low_noise_expert_gets_its_own_guidance() -> None:
    preset = TINY_PRESETS["tiny-wan-a14b"]
    seen: list[int] = []
    three = Renderer("tiny-wan-a14b", tuning=RenderConfig(warmup_steps=0))
    three.load()
    three.pipe.transformer_2.register_forward_pre_hook(lambda *_: seen.append(1))
    params = replace(base(preset), steps=4)
    first = three.render(params).frames
    assert seen, "the low-noise expert denoises the last steps"
    six = Renderer(
        "tiny-wan-a14b", preset=replace(preset, second_guidance=6.0), tuning=RenderConfig(warmup_steps=0)
    )
    assert not (six.render(params).frames == first).all(), "guidance_scale_2 reaches the call"
    unguided = replace(params, guidance=1.0)  # guidance 1: guidance_scale_2 is 1 too (no negative pass)
    assert three.render(unguided).frames.std() > 0


class DistilledLtx(Renderer):
    """tiny-ltx shipped as the distilled checkpoints ship: an `LTXConditionPipeline`."""

    def _build(self, device: str) -> Any:
        from bot.pipelines.modes import mode_pipeline

        return mode_pipeline(build_tiny("tiny-ltx"), "LTXConditionPipeline")


def test_a_distilled_ltx_renders_with_its_schedule_rescale_and_tiling(tmp_path: Path) -> None:
    real = ltx.LTX_VIDEO_DISTILLED
    preset = replace(TINY_PRESETS["tiny-ltx"], steps=8, guidance=1.0, extra_call=real.extra_call,
                     timesteps=real.timesteps, vae_tiling=True, modes=real.modes)  # fmt: skip
    renderer = DistilledLtx("tiny-ltx", preset=preset, tuning=RenderConfig(warmup_steps=0))
    steps: list[int] = []
    params = replace(base(preset), steps=8, guidance=1.0)
    for request in (params, replace(params, conditioning=FromPicture(picture_at(tmp_path)))):
        steps.clear()
        assert renderer.render(request, lambda step, total: steps.append(step)).frames.std() > 0
        assert steps == list(range(1, 9))
    assert renderer.memory == "fast" and renderer.pipe.vae.use_tiling, "tiled even in fast"
    schedule = list(renderer.pipe.scheduler.timesteps.float())
    assert [round(float(t)) for t in schedule] == [round(t) for t in real.timesteps]


@pytest.mark.asyncio
async def test_a_loops_reply_info_and_stored_facts_are_the_delivered_files(
    make_bot: MakeBot, tmp_path: Path
) -> None:
    """A loop asks for 9 frames and delivers 16: the chat caption, /info and the job say 16."""
    renderer = Renderer("tiny-ltx", tuning=RenderConfig(warmup_steps=0))
    renderer.load()
    config = parse_config(
        {"model": {"id": "tiny-ltx"}, "storage": {"dir": str(tmp_path / "data")},
         "queue": {"progress_interval_s": 0.0, "group_progress_interval_s": 0.0}},
        "test-modes.toml", {},
    )  # fmt: skip
    bot = await make_bot(config=config, renderer=renderer)
    job = await bot.video("a red fox --frames 9 --loop")
    done = await bot.until_status(job.id, JobStatus.DONE, timeout=90)
    assert done.clip_path is not None
    frames, fps, _ = read_clip(Path(done.clip_path))
    assert (done.clip_frames, done.clip_fps) == (len(frames), fps) and len(frames) != done.params.frames
    [delivered] = bot.outbox.videos
    assert f"{len(frames)} frames" in delivered.text and delivered.clip is not None
    await bot.service.info(bot.req(), done.id)
    assert f"{len(frames)} frames" in bot.last_text and f"{done.params.frames} frames" not in bot.last_text


def test_a_remote_extension_is_checked_against_its_joined_length() -> None:
    """A worker's upload of an extension holds the parent and the segment: 17 frames for 9 + 9."""
    from bot.core.ports import RenderJob
    from bot.dispatch.saq_results import clip_misfits
    from bot.domain import Clip

    params = replace(
        base(TINY_PRESETS["tiny-ltx"]), conditioning=Continuation(Extension(1, "/clips/1.mp4", 9, 1))
    )
    job = RenderJob(2, "ltx", params, TINY_PRESETS["tiny-ltx"].identity("ltx", "tiny-ltx"))
    assert clip_misfits(Clip("x.mp4", 1000, SMALL, SMALL, 17, 8), job) is None
    assert (
        clip_misfits(Clip("x.mp4", 1000, SMALL, SMALL, 25, 8), job)
        == "25 frames where the job makes at most 17"
    )
