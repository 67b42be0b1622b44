"""CogVideoX: `CogVideoXPipeline` (an expert-transformer DiT with a T5 encoder).

The 2B was trained in float16, the 5B in bfloat16.  Both make 49 frames at 720×480.
The VAE compresses time 4×, but decodes latent frames in pairs after a first group of
three, so only an odd latent count comes back whole: 8k+1 frames (9, 17 … 49).  Asked
for 13 frames (4 latent frames), the 0.42.1 pipeline returns 16.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.pipelines.spec import COMPONENT_FOLDERS, Family, FrameRule, Mode, Modes, Preset, StepHook

FAMILY = Family(
    name="cogvideox",
    title="CogVideoX",
    pipeline_classes=("CogVideoXPipeline", "CogVideoXImageToVideoPipeline"),
    frames=FrameRule(step=8, offset=1, least=9, most=49),
    size_multiple=16,  # VAE 8× times patch 2
    max_prompt_tokens=226,
    step_hook=StepHook.ON_STEP_END,
    download_include=COMPONENT_FOLDERS,
    takes_max_sequence_length=True,
    step_caches=True,
)


def _pictures(start: Sequence[Any], end: Any, frames: int) -> dict[str, Any]:
    """`CogVideoXImageToVideoPipeline`: a picture per clip (or a parent's last frame) at frame 0."""
    return {"image": start[0] if len(start) == 1 else list(start)}


# CogVideoX-5b-I2V: its own checkpoint (a 32-channel transformer: noise plus the picture).
I2V_MODES = Modes(
    text=False,
    picture=Mode("CogVideoXImageToVideoPipeline", _pictures, per_clip=True),
    continuation=Mode("CogVideoXImageToVideoPipeline", lambda start, end, frames: {"image": start[-1]}),
)

COGVIDEOX_2B = Preset(
    id="THUDM/CogVideoX-2b",
    aliases=("zai-org/CogVideoX-2b",),
    family=FAMILY,
    licence="Apache-2.0",
    licence_url="https://huggingface.co/THUDM/CogVideoX-2b",
    width=720,
    height=480,
    fps=8,
    frames=49,
    max_frames=49,
    steps=50,
    guidance=6.0,
    dtypes=(("default", "float16"),),
)

COGVIDEOX_5B = Preset(
    id="THUDM/CogVideoX-5b",
    aliases=("zai-org/CogVideoX-5b",),
    family=FAMILY,
    licence="CogVideoX License",
    licence_url="https://huggingface.co/THUDM/CogVideoX-5b/blob/main/LICENSE",
    width=720,
    height=480,
    fps=8,
    frames=49,
    max_frames=49,
    steps=50,
    guidance=6.0,
    dtypes=(("default", "bfloat16"),),
)

COGVIDEOX_5B_I2V = Preset(
    id="THUDM/CogVideoX-5b-I2V",
    aliases=("zai-org/CogVideoX-5b-I2V",),
    family=FAMILY,
    licence="CogVideoX License",
    licence_url="https://huggingface.co/THUDM/CogVideoX-5b-I2V/blob/main/LICENSE",
    width=720,
    height=480,
    fps=8,
    frames=49,
    max_frames=49,
    steps=50,
    guidance=6.0,
    dtypes=(("default", "bfloat16"),),
    loads_as="CogVideoXImageToVideoPipeline",
    modes=I2V_MODES,
    # learned positional embeddings: any other size raises, any other frame count swaps in sin-cos ones
    frames_rule=FrameRule(step=8, offset=1, least=49, most=49),
    fixed_size=(720, 480),
)

PRESETS = (COGVIDEOX_2B, COGVIDEOX_5B, COGVIDEOX_5B_I2V)
