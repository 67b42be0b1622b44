"""`--aspect 16:9 | 9:16 | 1:1`: each family's nearest valid size of that shape (`spec.size_for`),
rendered for real by every tiny family; a checkpoint with fixed sizes refuses other shapes, free."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.core.options import VideoArgs
from bot.core.parsing import CommandError, validate_video
from bot.domain import ConditioningKind
from bot.pipelines.cogvideox import COGVIDEOX_5B_I2V
from bot.pipelines.registry import TINY_PRESETS
from bot.pipelines.spec import size_for
from bot.render import Renderer
from bot.settings.loading import parse_config
from bot.settings.root import Config
from bot.settings.sections import RenderConfig
from tests.harness.core import MakeBot


def config_for(tmp_path: Path, models: dict[str, Any], **video: Any) -> Config:
    raw: dict[str, Any] = {"models": models, "storage": {"dir": str(tmp_path / "data")}, "video": video}
    return parse_config(raw, "test-aspect.toml", {})


TEXT_FAMILIES = sorted(
    name for name, preset in TINY_PRESETS.items() if preset.modes.takes(ConditioningKind.NONE)
)


def test_every_tiny_family_that_animates_pictures_only_has_a_vertical_size_too() -> None:
    for name, preset in TINY_PRESETS.items():
        if name not in TEXT_FAMILIES:
            size = size_for(preset, "9:16", preset.width, preset.height)
            assert size is not None and size[1] > size[0], name


@pytest.mark.parametrize("tiny", TEXT_FAMILIES)
def test_vertical_clips_are_taller_than_wide_on_every_tiny_family(
    tiny: str, tmp_path: Path, renders: None
) -> None:
    settings = config_for(tmp_path, {"m": {"id": tiny}}).model_named("m")
    frames = settings.preset.family.frames.above(9)
    params = validate_video(VideoArgs("a cat", seed=1, frames=frames, steps=2, aspect="9:16"), settings.limits,
                            model=settings)  # fmt: skip
    clip = Renderer(tiny, tuning=RenderConfig(warmup_steps=0)).render(params).frames
    _, height, width, _ = clip.shape
    assert height > width, (tiny, clip.shape)
    assert (width, height) == (params.width, params.height)
    assert width % settings.preset.size_rule == 0 and height % settings.preset.size_rule == 0


@pytest.mark.parametrize(
    ("aspect", "grid", "size"),
    [("9:16", 8, (48, 88)), ("16:9", 8, (88, 48)), ("1:1", 8, (64, 64)), ("9:16", 32, (64, 96))],
)
def test_a_shape_keeps_about_the_configured_pixels_on_the_grid(
    aspect: str, grid: int, size: tuple[int, int]
) -> None:
    preset = TINY_PRESETS["tiny-wan22" if grid == 32 else "tiny"]
    assert size_for(preset, aspect, 64, 64) == size


def test_a_checkpoint_with_one_size_makes_only_that_shape() -> None:
    assert size_for(COGVIDEOX_5B_I2V, "16:9", 720, 480) is None  # 3:2 is not 16:9 within 10 %
    assert size_for(COGVIDEOX_5B_I2V, "9:16", 720, 480) is None
    assert size_for(COGVIDEOX_5B_I2V, "1:1", 720, 480) is None


def test_a_model_that_cannot_make_the_shape_says_so_in_one_sentence(tmp_path: Path) -> None:
    settings = config_for(tmp_path, {"i2v": {"id": COGVIDEOX_5B_I2V.id}}).model_named("i2v")
    with pytest.raises(CommandError) as refused:
        validate_video(VideoArgs("a cat", aspect="9:16"), settings.limits, model=settings)
    assert refused.value.key == "aspect_unsupported"
    from bot.core import messages

    assert messages.text(refused.value.key, "en", **refused.value.values) == (
        "i2v makes clips of 720×480 only, not 9:16; leave out --aspect or pick another model with --model. "
        "Nothing was charged."
    )


@pytest.mark.asyncio
async def test_the_video_section_sets_the_shape_of_clips_that_ask_for_none(
    make_bot: MakeBot, tmp_path: Path
) -> None:
    bot = await make_bot(config=config_for(tmp_path, {"ms": {"id": "tiny"}}, aspect="9:16"))
    vertical = await bot.video("a cat")
    square = await bot.video("a cat --aspect 1:1")
    assert vertical.params.aspect == "9:16" and vertical.params.height > vertical.params.width
    assert square.params.width == square.params.height


@pytest.mark.asyncio
async def test_a_refused_shape_is_free(make_bot: MakeBot, tmp_path: Path) -> None:
    bot = await make_bot(config=config_for(tmp_path, {"i2v": {"id": COGVIDEOX_5B_I2V.id}}))
    used = bot.used_today()
    assert await bot.service.video_text(bot.req(), "a cat --aspect 9:16") is None
    assert bot.last_text.startswith("i2v makes clips of 720×480 only, not 9:16")
    assert bot.used_today() == used
