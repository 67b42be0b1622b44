"""LTX-Video 0.9.x: `LTXPipeline` (a DiT over a 32×/8× VAE with a T5 encoder), and its
distilled checkpoints (a few steps, guidance 1)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.pipelines.spec import COMPONENT_FOLDERS, Family, FrameRule, Mode, Modes, Preset, StepHook

FAMILY = Family(
    name="ltx",
    title="LTX-Video",
    pipeline_classes=("LTXPipeline", "LTXConditionPipeline", "LTXImageToVideoPipeline"),
    frames=FrameRule(step=8, offset=1, least=9),  # the VAE compresses time 8×, plus the first frame
    size_multiple=32,  # the VAE compresses space 32×
    max_prompt_tokens=128,
    step_hook=StepHook.ON_STEP_END,
    download_include=COMPONENT_FOLDERS,
    takes_max_sequence_length=True,
    takes_frame_rate=True,
    step_caches=True,
)


def _pictures(start: Sequence[Any], end: Any, frames: int) -> dict[str, Any]:
    """`LTXImageToVideoPipeline`: one picture per clip at frame 0."""
    return {"image": start[0] if len(start) == 1 else list(start)}


def _conditions(start: Sequence[Any], end: Any, frames: int) -> dict[str, Any]:
    """`LTXConditionPipeline`: the start frames (a picture, or a parent's last 8k+1 frames) at
    frame 0 and, for a loop, the end frame at the last index."""
    from diffusers.pipelines.ltx.pipeline_ltx_condition import LTXVideoCondition

    first = (
        LTXVideoCondition(image=start[0], frame_index=0)
        if len(start) == 1
        else LTXVideoCondition(video=list(start), frame_index=0)
    )
    if end is None:
        return {"conditions": [first]}
    return {"conditions": [first, LTXVideoCondition(image=end, frame_index=frames - 1)]}


def _overlap(frames: int) -> int:
    """A continuation conditions on the parent's last 8k+1 frames, at most half the segment."""
    return max(1, ((frames // 2 - 1) // 8) * 8 + 1)


CONDITIONED = Mode("LTXConditionPipeline", _conditions, overlap=_overlap)
# LTXPipeline checkpoints: a picture through LTXImageToVideoPipeline (a picture per clip of a
# batch); continuations and loops through LTXConditionPipeline, all over the same components.
MODES = Modes(picture=Mode("LTXImageToVideoPipeline", _pictures, per_clip=True), continuation=CONDITIONED,
              loop=CONDITIONED)  # fmt: skip
# The distilled checkpoints ship as LTXConditionPipeline: every mode conditions through it.
DISTILLED_MODES = Modes(picture=Mode("LTXConditionPipeline", _conditions), continuation=CONDITIONED,
                        loop=CONDITIONED)  # fmt: skip

_LICENCE = "LTX-Video Open Weights License"
# The distillation's documented call (diffusers' LTX-Video docs, 0.9.7/0.9.8 distilled): its own
# 8-step schedule, guidance 1 with guidance rescale 0.7, clean picture conditions, VAE tiling.
_DISTILLED_TIMESTEPS = (1000.0, 993.0, 987.0, 981.0, 975.0, 909.0, 725.0, 0.03)
_DISTILLED_CALL = (("decode_timestep", 0.05), ("decode_noise_scale", 0.025), ("guidance_rescale", 0.7),
                   ("image_cond_noise_scale", 0.0))  # fmt: skip

LTX_VIDEO = Preset(
    id="Lightricks/LTX-Video",
    family=FAMILY,
    licence=_LICENCE,
    licence_url="https://huggingface.co/Lightricks/LTX-Video",
    width=704,
    height=480,
    fps=24,
    frames=97,
    max_frames=161,
    steps=50,
    guidance=3.0,
    dtypes=(("default", "bfloat16"),),
    extra_call=(("decode_timestep", 0.03), ("decode_noise_scale", 0.025)),
    modes=MODES,
)

LTX_VIDEO_DISTILLED = Preset(
    id="Lightricks/LTX-Video-0.9.7-distilled",
    family=FAMILY,
    licence=_LICENCE,
    licence_url="https://huggingface.co/Lightricks/LTX-Video-0.9.7-distilled",
    width=704,
    height=480,
    fps=24,
    frames=97,
    max_frames=161,
    steps=8,
    guidance=1.0,  # distilled: no classifier-free guidance
    dtypes=(("default", "bfloat16"),),
    extra_call=_DISTILLED_CALL,
    timesteps=_DISTILLED_TIMESTEPS,
    loads_as="LTXConditionPipeline",
    vae_tiling=True,
    modes=DISTILLED_MODES,
)

LTX_VIDEO_098_DISTILLED = Preset(
    id="Lightricks/LTX-Video-0.9.8-13B-distilled",
    family=FAMILY,
    licence=_LICENCE,
    licence_url="https://huggingface.co/Lightricks/LTX-Video",
    width=704,
    height=480,
    fps=24,
    frames=97,
    max_frames=257,  # 0.9.8 made long shots (up to ~60 s with its multi-prompt pipeline) its point
    steps=8,
    guidance=1.0,  # distilled: no classifier-free guidance, so no negative pass
    dtypes=(("default", "bfloat16"),),
    extra_call=_DISTILLED_CALL,
    timesteps=_DISTILLED_TIMESTEPS,
    loads_as="LTXConditionPipeline",
    vae_tiling=True,
    modes=DISTILLED_MODES,
    notes="13 B distilled; LTXConditionPipeline in its model_index.json",
)

PRESETS = (LTX_VIDEO, LTX_VIDEO_DISTILLED, LTX_VIDEO_098_DISTILLED)
