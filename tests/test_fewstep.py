"""Few-step models: a configured model with its own steps, guidance 1 and shift; at guidance 1 no
negative prompt is encoded and no unconditional pass runs; step caching is off at 8 steps or fewer
unless the model asks for it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.core.options import VideoArgs
from bot.core.parsing import validate_video
from bot.domain import RenderParams
from bot.pipelines.fewstep import step_cache_mode
from bot.render import Renderer
from bot.settings.loading import parse_config
from bot.settings.sections import RenderConfig
from tests.harness.config import tiny_settings
from tests.harness.core import COLD

pytestmark = pytest.mark.usefixtures("renders")  # every test here renders with diffusers


def params(guidance: float, steps: int = 2, negative: str = "blurry") -> RenderParams:
    return RenderParams("a fast cat", negative, 1, 9, steps, guidance, 64, 64, 8)


def count_rows(module: Any) -> list[int]:
    """The batch size of every forward call `module` gets from now on."""
    rows: list[int] = []

    def pre_hook(_module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        first = args[0] if args else next(iter(kwargs.values()))
        rows.append(int(first.shape[0]))

    module.register_forward_pre_hook(pre_hook, with_kwargs=True)
    return rows


@pytest.mark.parametrize(("guidance", "passes", "encodes"), [(1.0, 2, 1), (5.0, 4, 2)])
def test_guidance_1_skips_the_negative_prompt_and_the_unconditional_pass(
    guidance: float, passes: int, encodes: int
) -> None:
    renderer = Renderer("tiny-wan", tuning=COLD)
    renderer.load()
    denoised = count_rows(renderer.pipe.transformer)
    encoded = count_rows(renderer.pipe.text_encoder)
    renderer.render(params(guidance))
    assert sum(denoised) == passes, "one transformer row a step, two with classifier-free guidance"
    assert len(encoded) == encodes, "the negative prompt is encoded only when it is used"


def test_ltx2_at_guidance_1_runs_one_pass_a_step_with_its_audio_guidance_off_too() -> None:
    renderer = Renderer("tiny-ltx2", tuning=COLD)
    renderer.load()
    rows = count_rows(renderer.pipe.transformer)
    renderer.render(params(1.0, steps=2))
    assert sum(rows) == 2, "no audio guidance, STG or modality pass at guidance 1"


def test_step_caching_is_off_for_a_few_step_model_unless_the_model_sets_it() -> None:
    assert step_cache_mode("first-block", "", 4) == "off"
    assert step_cache_mode("first-block", "", 8) == "off"
    assert step_cache_mode("first-block", "", 50) == "first-block"
    assert step_cache_mode("off", "first-block", 4) == "first-block"

    few = Renderer("tiny-wan", tuning=RenderConfig(cache="first-block", warmup_steps=0))
    few.load()
    assert not few.pipe.transformer.is_cache_enabled, "tiny-wan's preset takes 4 steps"
    forced = Renderer("tiny-ltx", tuning=RenderConfig(cache="off", warmup_steps=0), model_cache="pab")
    forced.load()
    assert forced.pipe.transformer.is_cache_enabled


def test_a_few_step_model_is_a_configured_model_with_its_own_defaults(tmp_path: Path) -> None:
    raw = tiny_settings(tmp_path / "data")
    raw.pop("model")
    for key in ("default_frames", "default_steps"):
        raw["video"].pop(key)
    raw["models"] = {
        "wan": {"id": "tiny-wan", "default_steps": 20, "default_guidance": 5.0},
        "wan-fast": {"id": "tiny-wan", "default_steps": 4, "default_guidance": 1.0, "scheduler_shift": 5.0},
    }
    config = parse_config(raw, "t.toml", {})
    fast = config.model_named("wan-fast")
    job = validate_video(VideoArgs("a fast cat"), fast.limits, model=fast)
    assert (job.steps, job.guidance) == (4, 1.0)
    slow = config.model_named("wan")
    assert validate_video(VideoArgs("a cat"), slow.limits, model=slow).steps == 20

    renderer = Renderer.for_model(fast, RenderConfig(warmup_steps=0))
    renderer.load()
    assert renderer.pipe.scheduler.config.shift == 5.0
