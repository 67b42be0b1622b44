"""LTX-Video 0.9.x: `LTXPipeline` (a DiT over a 32×/8× VAE with a T5 encoder), and its
distilled checkpoints (a few steps, guidance 1)."""

from __future__ import annotations

from bot.pipelines.spec import COMPONENT_FOLDERS, Family, FrameRule, Pictures, Preset, StepHook

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
)

_LICENCE = "LTX-Video Open Weights License"

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
    pictures=Pictures.ALSO,  # LTXImageToVideoPipeline over the same weights (from_pipe)
    loops=True,  # LTXConditionPipeline: conditions at frame 0 and the last frame
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
    extra_call=(("decode_timestep", 0.05), ("decode_noise_scale", 0.025)),
    pictures=Pictures.ALSO,  # LTXConditionPipeline: a condition at frame 0
    loops=True,
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
    extra_call=(("decode_timestep", 0.05), ("decode_noise_scale", 0.025)),
    notes="13 B distilled; LTXConditionPipeline in its model_index.json",
)

PRESETS = (LTX_VIDEO, LTX_VIDEO_DISTILLED, LTX_VIDEO_098_DISTILLED)
