"""The families added for fast clips and sound (LTX-2, SANA-Video) and the new presets: each checked
against diffusers 0.42.1's classes and call signatures, each with a tiny build that renders through
the production loading path."""

from __future__ import annotations

import inspect
from pathlib import Path

import diffusers
import numpy as np
import pytest
from PIL import Image

from bot.domain import RenderParams
from bot.pipelines import cogvideox, ltx, ltx2, sana_video, wan
from bot.pipelines.registry import CATALOGUE, FAMILIES, TINY_PRESETS
from bot.pipelines.spec import FEW_STEPS, Preset
from bot.pipelines.tiny import build_tiny
from bot.render import Renderer
from bot.rendering.loading import download_command
from bot.settings.sections import RenderConfig
from tests.harness.core import COLD

pytestmark = pytest.mark.usefixtures("renders")  # every test here renders with diffusers

NEW_PRESETS = (
    ltx2.LTX2,
    ltx.LTX_VIDEO_098_DISTILLED,
    sana_video.SANA_VIDEO_2B,
    wan.WAN21_14B,
    wan.WAN22_A14B,
    # and every checkpoint with a picture, continuation or loop mode (#31): each mode's class takes the call
    ltx.LTX_VIDEO,
    ltx.LTX_VIDEO_DISTILLED,
    wan.WAN22_TI2V_5B,
    wan.WAN21_I2V_14B,
    wan.WAN21_FLF2V_14B,
    cogvideox.COGVIDEOX_5B_I2V,
)


def call_arguments(preset: Preset, guidance: float) -> set[str]:
    """Every argument the bot's render call gives this family's pipeline."""
    family = preset.family
    names = {family.frames_argument, "prompt", "negative_prompt", "num_inference_steps", "guidance_scale"}
    names |= {"height", "width", "generator", "output_type", "callback_on_step_end"}
    names |= {key for key, _ in (*family.fixed_call, *preset.extra_call)}
    names |= {key for key, _ in family.unguided_call} if guidance <= 1 else set()
    names |= {"max_sequence_length"} if family.takes_max_sequence_length else set()
    names |= {"frame_rate"} if family.takes_frame_rate else set()
    names |= {"timesteps"} if preset.timesteps else set()
    names |= {"guidance_scale_2"} if preset.second_guidance else set()
    return names


@pytest.mark.parametrize("preset", NEW_PRESETS, ids=lambda p: p.id)
def test_each_new_preset_matches_the_diffusers_classes_it_names(preset: Preset) -> None:
    family = preset.family
    assert CATALOGUE.find(preset.id) is preset and FAMILIES[family.name] is family
    modes = [preset.modes.mode(conditioning) for conditioning in preset.modes.declared]
    for class_name in (*family.pipeline_classes, *(mode.pipeline_class for mode in modes if mode)):
        assert hasattr(diffusers, class_name), f"diffusers has no {class_name}"
    text_class = preset.loads_as or family.pipeline_classes[0]
    frame = Image.new("RGB", (preset.width, preset.height))
    for class_name, mode in [(text_class, None), *((mode.pipeline_class, mode) for mode in modes if mode)]:
        accepted = set(inspect.signature(getattr(diffusers, class_name).__call__).parameters)
        conditioned = set(mode.arguments([frame], frame, preset.frames)) if mode else set()
        for guidance in (1.0, preset.guidance):
            assert call_arguments(preset, guidance) | conditioned <= accepted, class_name
    assert family.frames.fits(preset.frames) and preset.width % preset.size_rule == 0
    assert preset.licence and preset.licence_url.startswith("https://")


def test_ltx2_makes_sound_and_names_its_licence() -> None:
    family = ltx2.FAMILY
    assert family.makes_audio
    assert ltx2.LTX2.licence == "LTX-2 Community License"
    assert "audio_vae/*" in download_command(ltx2.LTX2.id) and "vocoder/*" in download_command(ltx2.LTX2.id)


def test_the_few_step_presets_run_without_guidance() -> None:
    distilled = ltx.LTX_VIDEO_098_DISTILLED
    assert distilled.steps <= FEW_STEPS and distilled.guidance == 1.0
    assert ltx2.LTX2.steps > FEW_STEPS


@pytest.mark.parametrize(("name", "frames"), [("tiny-ltx2", 9), ("tiny-sana-video", 9)])
def test_each_new_tiny_build_renders_from_a_saved_folder_like_real_weights(
    name: str, frames: int, tmp_path: Path
) -> None:
    params = RenderParams("a cat", "", 2, frames, 2, 1.0, 64, 64, 8)
    build_tiny(name).save_pretrained(str(tmp_path / name))
    # its model_index.json decides the family; no warm-up at the real model's size
    from_folder = Renderer(str(tmp_path / name), tuning=RenderConfig(warmup_steps=0))
    rendered = from_folder.render(params)
    clip = rendered.frames
    assert clip.shape == (frames, 64, 64, 3)
    assert from_folder.preset.family is TINY_PRESETS[name].family
    built = Renderer(name, tuning=COLD).render(params).frames
    # the same weights, the same clip (LTX-2's saved Gemma 3 reloads within a few levels of 255)
    assert np.abs(clip.astype(int) - built.astype(int)).mean() < 2
    assert (rendered.soundtrack is not None) == (name == "tiny-ltx2")
