"""🎞 Smooth and 🔍 HD, the engine: random weights saved and loaded through the real loaders (the
project's IFNet from safetensors, spandrel's `ModelLoader`, diffusers' LTX latent upsampler), the
real FFmpeg `minterpolate`, and the clips encoded and decoded back with PyAV."""

from __future__ import annotations

import itertools
import pickle
from dataclasses import replace
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from bot.encode import encode_mp4
from bot.post import (
    LTX_UPSAMPLER,
    MINTERPOLATE,
    RIFE,
    SPANDREL,
    AlreadySmooth,
    AtSizeCap,
    PostEngine,
    PostWeightsMissing,
    UpscalerError,
    load_upscaler,
    mean_frame_difference,
    smooth_factor,
    smooth_frames,
    upscale_frames,
)
from bot.post.hd import import_spandrel
from bot.post.ifnet import IFNet, WeightsError, load_ifnet
from bot.settings.bounds import ConfigError
from bot.settings.loading import parse_config
from bot.settings.sections import PostConfig

NO_HUB = PostConfig(rife_repo="", upscaler_repo="", ltx_upsampler="")  # only what a test puts on disk


def tiny_ifnet(seed: int = 0) -> IFNet:
    torch.manual_seed(seed)
    return IFNet(widths=(16, 16, 16), head_hidden=8, head_out=4).eval()


def moving_loop(count: int = 8, size: int = 64) -> np.ndarray:
    """A smooth pattern that moves size/count pixels a frame and comes back round to frame 0."""
    x = np.arange(size)
    frames = np.empty((count, size, size, 3), dtype=np.uint8)
    for i in range(count):
        wave = 127.5 + 120 * np.sin(2 * np.pi * (x - i * size / count) / size)
        frames[i] = np.round(wave).astype(np.uint8)[None, :, None]
    return frames


def steps(frames: np.ndarray, *, loop: bool) -> list[float]:
    """Mean change between neighbouring frames (with the wrap from last to first for a loop)."""
    pairs = list(itertools.pairwise(frames))
    if loop:
        pairs.append((frames[-1], frames[0]))
    return [float(np.abs(b.astype(np.int16) - a.astype(np.int16)).mean()) for a, b in pairs]


def decode(path: Path) -> tuple[int, float, int, int]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [frame for frame in container.decode(stream)]
        return len(frames), float(stream.average_rate or 0), frames[0].width, frames[0].height


def save_compact(path: Path, scale: int = 4, seed: int = 0) -> Path:
    import_spandrel()
    from spandrel.architectures.Compact import Compact

    torch.manual_seed(seed)
    save_file(Compact(num_feat=8, num_conv=2, upscale=scale).state_dict(), str(path))
    return path


# ----------------------------------------------------------------------------- RIFE


def test_ifnet_weights_round_trip_through_safetensors_and_practical_rifes_pickle(tmp_path):
    net = tiny_ifnet()
    save_file(net.state_dict(), str(tmp_path / "rife.safetensors"))
    torch.save({f"module.{k}": v for k, v in net.state_dict().items()}, tmp_path / "flownet.pkl")
    a, b = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)

    for name in ("rife.safetensors", "flownet.pkl"):
        loaded = load_ifnet(tmp_path / name)
        assert [int(2**i) for i in range(3)][::-1] == [int(s) for s in loaded.scales]
        with torch.inference_mode():
            assert torch.equal(loaded(a, b, 0.5), net(a, b, 0.5))


def test_a_hostile_pickle_is_refused_and_never_run(tmp_path):
    witness = tmp_path / "ran"

    class Boom:
        def __reduce__(self):
            return (Path.touch, (witness,))

    (tmp_path / "flownet.pkl").write_bytes(pickle.dumps({"block0.x": Boom()}))
    with pytest.raises(WeightsError, match="not a plain tensor file"):
        load_ifnet(tmp_path / "flownet.pkl")
    assert not witness.exists()
    save_file({"unet.weight": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(WeightsError, match="not RIFE"):
        load_ifnet(tmp_path / "other.safetensors")


def test_rife_triples_an_8_fps_clip_keeping_every_original_frame(tmp_path):
    frames = moving_loop(6, 48)  # 48 is no multiple of the net's 16: padded and cropped
    smoothed = smooth_frames(frames, 8, 24, rife=tiny_ifnet(), rife_name="tiny")

    assert (smoothed.method, smoothed.model, smoothed.fps) == (RIFE, "tiny", 24)
    assert smoothed.frames.shape == (18, 48, 48, 3) and smoothed.frames.dtype == np.uint8
    assert np.array_equal(smoothed.frames[::3], frames)
    assert np.array_equal(smoothed.frames[-2:], frames[[-1, -1]]), "the last frame is held, not wrapped"
    clip = encode_mp4(smoothed.frames, tmp_path / "s.mp4", fps=int(smoothed.fps))
    assert decode(Path(clip.path)) == (18, 24.0, 48, 48)


def test_smoothing_stays_a_whole_multiple_at_least_double_and_stops_at_60():
    assert smooth_factor(8, 24) == 3
    assert smooth_factor(16, 24) == 2  # Wan: at least ×2 → 32 fps
    assert smooth_factor(8, 20) == 3
    assert smooth_factor(30, 24) == 2
    with pytest.raises(AlreadySmooth, match="already plays at 48 fps"):
        smooth_factor(48, 24)


# ----------------------------------------------------------------------------- minterpolate


def test_minterpolate_makes_the_frames_fps_and_size_a_decoder_reads_back(tmp_path):
    frames = moving_loop(16, 64)
    smoothed = smooth_frames(frames, 8, 24)

    assert (smoothed.method, smoothed.fps) == (MINTERPOLATE, 24)
    assert smoothed.frames.shape == (48, 64, 64, 3)
    clip = encode_mp4(smoothed.frames, tmp_path / "m.mp4", fps=24)
    assert decode(Path(clip.path)) == (48, 24.0, 64, 64)
    originals = steps(frames, loop=False)
    made = steps(smoothed.frames[:-3], loop=False)
    assert max(made) < max(originals), "every step is smaller than the original's: frames in between"


def test_a_smoothed_loop_crosses_its_seam_like_every_other_step():
    frames = moving_loop(8, 64)

    looped = smooth_frames(frames, 8, 24, loop=True).frames
    plain = smooth_frames(frames, 8, 24, loop=False).frames

    assert len(looped) == len(plain) == 24
    inside = steps(looped, loop=True)
    seam = inside[-3:] + inside[:1]  # the steps from the last original frame round to frame 0
    assert max(seam) <= 1.5 * float(np.median(inside)) + 1
    plain_steps = steps(plain, loop=True)
    assert plain_steps[-1] > 2 * max(seam), "without the seam frame the wrap is one big jump"


def test_rife_interpolates_a_loops_last_frames_towards_frame_0():
    frames, net = moving_loop(4, 32), tiny_ifnet()

    looped = smooth_frames(frames, 8, 24, loop=True, rife=net).frames

    assert np.array_equal(looped[::3], frames)
    last, first = (torch.from_numpy(f).permute(2, 0, 1)[None].float() / 255 for f in (frames[-1], frames[0]))
    with torch.inference_mode():
        expected = [
            (net(last, first, t) * 255).round().clamp(0, 255)[0].permute(1, 2, 0) for t in (1 / 3, 2 / 3)
        ]
    for made, wanted in zip(looped[-2:], expected, strict=True):
        assert np.abs(made.astype(int) - wanted.numpy().astype(int)).max() <= 1


# ----------------------------------------------------------------------------- HD


def test_spandrel_loads_a_compact_model_from_safetensors_and_doubles_every_frame(tmp_path):
    upscaler = load_upscaler(save_compact(tmp_path / "compact.safetensors"))
    frames = moving_loop(5, 24)

    result = upscale_frames(upscaler, frames, memory="fast", name="compact")

    assert result.method == SPANDREL and "Compact ×4" in result.model
    assert result.frames.shape == (5, 48, 48, 3) and result.frames.dtype == np.uint8
    clip = encode_mp4(result.frames, tmp_path / "hd.mp4", fps=8)
    assert decode(Path(clip.path)) == (5, 8.0, 48, 48)


def test_a_still_scene_stays_still_whatever_the_batch(tmp_path):
    """Temporal stability: the same frame repeated comes out the same, batch of 1 or of all."""
    upscaler = load_upscaler(save_compact(tmp_path / "x2.safetensors", scale=2))
    still = np.repeat(moving_loop(1, 32), 6, axis=0)

    one = upscale_frames(upscaler, still, memory="low").frames
    many = upscale_frames(upscaler, still, memory="fast").frames

    assert mean_frame_difference(still) == 0.0
    assert mean_frame_difference(one) == 0.0 and mean_frame_difference(many) <= 0.01
    assert np.abs(one.astype(int) - many.astype(int)).max() <= 1


def test_spandrel_leaves_no_stand_in_torchvision_behind():
    import importlib.util
    import sys

    import_spandrel()
    assert "torchvision" not in sys.modules or sys.modules["torchvision"].__spec__ is not None
    importlib.util.find_spec("torchvision")  # a stand-in left behind makes this raise


def test_a_file_that_is_no_image_model_is_refused_in_one_line(tmp_path):
    save_file({"unet.weight": torch.zeros(2)}, str(tmp_path / "unet.safetensors"))
    with pytest.raises(UpscalerError, match="spandrel cannot load it"):
        load_upscaler(tmp_path / "unet.safetensors")
    with pytest.raises(AtSizeCap, match="already 1280×1152"):
        upscale_frames(None, np.zeros((1, 1152, 1280, 3), np.uint8))


def test_the_ltx_latent_upsampler_doubles_an_ltx_clip_through_the_engine(tmp_path, renders):
    from diffusers.pipelines.ltx.modeling_latent_upsampler import LTXLatentUpsamplerModel

    from bot.pipelines.tiny import build_tiny_ltx

    torch.manual_seed(0)
    upsampler = LTXLatentUpsamplerModel(in_channels=8, mid_channels=32, num_blocks_per_stage=1)
    upsampler.save_pretrained(tmp_path / "up" / "latent_upsampler")
    vae = build_tiny_ltx().vae
    engine = PostEngine(replace(NO_HUB, ltx_upsampler=str(tmp_path / "up")))

    assert engine.hd_method("wan", vae=vae) == "spandrel"
    result = engine.hd(moving_loop(9, 32), family="ltx", vae=vae)

    assert result.method == LTX_UPSAMPLER
    assert result.frames.shape == (9, 64, 64, 3) and result.frames.dtype == np.uint8


# ----------------------------------------------------------------------------- engine, settings


def test_the_engine_says_which_method_ran_and_falls_back_without_rife_weights(tmp_path):
    frames = moving_loop(4, 32)
    assert PostEngine(NO_HUB).smooth(frames, 8).method == MINTERPOLATE

    save_file(tiny_ifnet().state_dict(), str(tmp_path / "rife.safetensors"))
    engine = PostEngine(replace(NO_HUB, rife_path=str(tmp_path / "rife.safetensors")))
    smoothed = engine.smooth(frames, 8)
    assert (smoothed.method, smoothed.model) == (RIFE, "rife.safetensors")

    asked = PostEngine(replace(NO_HUB, smooth_method="rife", rife_path=str(tmp_path / "gone.pkl")))
    with pytest.raises(PostWeightsMissing, match=r"RIFE weights .*gone\.pkl.* not on this machine"):
        asked.smooth(frames, 8)
    with pytest.raises(PostWeightsMissing, match="videobot pull post"):
        PostEngine(NO_HUB).hd(frames)


def test_post_settings_are_bounded_in_one_line():
    config = parse_config(
        {"post": {"smooth_fps": 30, "hd_method": "ltx"}}, "c.toml", {}, require_tokens=False
    )
    assert (config.post.smooth_fps, config.post.hd_method) == (30, "ltx")
    with pytest.raises(ConfigError, match=r"^c\.toml: \[post\] smooth_fps must be between 12 and 60$"):
        parse_config({"post": {"smooth_fps": 120}}, "c.toml", {}, require_tokens=False)
    with pytest.raises(ConfigError, match=r"\[post\] smooth_method must be one of auto, rife, minterpolate"):
        parse_config({"post": {"smooth_method": "dain"}}, "c.toml", {}, require_tokens=False)
