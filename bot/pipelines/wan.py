"""Wan 2.1 / 2.2 text-to-video: `WanPipeline` (a flow-matching DiT with a UMT5 encoder).

The transformer runs in bfloat16 but the VAE wants float32 (the diffusers examples load
it apart for that).  Wan 2.2's TI2V-5B sets `expand_timesteps` in its model_index.json
(a per-token timestep) and has a 16× VAE: sizes become multiples of 32.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.pipelines.spec import COMPONENT_FOLDERS, Family, FrameRule, Mode, Modes, Preset, StepHook

FAMILY = Family(
    name="wan",
    title="Wan",
    pipeline_classes=("WanPipeline", "WanImageToVideoPipeline"),
    frames=FrameRule(step=4, offset=1, least=5),  # the VAE compresses time 4×, plus the first frame
    size_multiple=16,  # VAE 8× times patch 2
    max_prompt_tokens=512,
    step_hook=StepHook.ON_STEP_END,
    download_include=COMPONENT_FOLDERS,
    takes_max_sequence_length=True,
    step_caches=True,
    guidance_pass_apart=True,
)


def _first_frame(start: Sequence[Any], end: Any, frames: int) -> dict[str, Any]:
    """`WanImageToVideoPipeline` encodes one picture for a whole call: a picture, or a parent's
    last frame, at frame 0."""
    return {"image": start[-1]}


def _both_ends(start: Sequence[Any], end: Any, frames: int) -> dict[str, Any]:
    """The first-last-frame checkpoint (FLF2V): its transformer takes both frames' image tokens on
    every call (`pos_embed_seq_len`), so a lone picture is its first and its last frame."""
    return {"image": start[-1], "last_image": start[-1] if end is None else end}


_FIRST_FRAME = Mode("WanImageToVideoPipeline", _first_frame)
# TI2V-5B: WanImageToVideoPipeline over the loaded WanPipeline's components, `expand_timesteps`
# from its config (the picture is the clean first latent frame; it ignores `last_image`: no loop).
TI2V_MODES = Modes(picture=_FIRST_FRAME, continuation=_FIRST_FRAME)
# I2V-14B-480P/720P: an image-to-video checkpoint; only FLF2V's transformer has the positions
# (`pos_embed_seq_len`) for a last frame, so only it loops.  FLF2V needs both frames on every call:
# a picture is both ends (the clip returns to it), and it cannot continue a clip (no end frame).
I2V_MODES = Modes(text=False, picture=_FIRST_FRAME, continuation=_FIRST_FRAME)
_BOTH_ENDS = Mode("WanImageToVideoPipeline", _both_ends)
FLF2V_MODES = Modes(text=False, picture=_BOTH_ENDS, loop=_BOTH_ENDS)

_DTYPES = (("default", "bfloat16"), ("vae", "float32"))

WAN21_1_3B = Preset(
    id="Wan-AI/Wan2.1-T2V-1.3B-Diffusers",
    family=FAMILY,
    licence="Apache-2.0",
    licence_url="https://huggingface.co/Wan-AI/Wan2.1-T2V-1.3B-Diffusers",
    width=832,
    height=480,
    fps=16,
    frames=33,  # the card's 81 frames (5 s) take minutes on a consumer GPU
    max_frames=81,
    steps=50,
    guidance=5.0,
    dtypes=_DTYPES,
)

WAN22_TI2V_5B = Preset(
    id="Wan-AI/Wan2.2-TI2V-5B-Diffusers",
    family=FAMILY,
    licence="Apache-2.0",
    licence_url="https://huggingface.co/Wan-AI/Wan2.2-TI2V-5B-Diffusers",
    width=1280,
    height=704,
    fps=24,
    frames=49,
    max_frames=121,
    steps=50,
    guidance=5.0,
    dtypes=_DTYPES,
    size_multiple=32,
    modes=TI2V_MODES,
    notes="expand_timesteps (from its model_index.json); 16x VAE, so sizes are multiples of 32",
)

WAN21_I2V_14B = Preset(
    id="Wan-AI/Wan2.1-I2V-14B-480P-Diffusers",
    family=FAMILY,
    licence="Apache-2.0",
    licence_url="https://huggingface.co/Wan-AI/Wan2.1-I2V-14B-480P-Diffusers",
    width=832,
    height=480,
    fps=16,
    frames=33,
    max_frames=81,
    steps=40,
    guidance=5.0,
    dtypes=(("default", "bfloat16"), ("vae", "float32"), ("image_encoder", "float32")),
    loads_as="WanImageToVideoPipeline",
    modes=I2V_MODES,  # its own checkpoint: a CLIP image encoder and a 36-channel DiT; no last frame
    download_include=(*COMPONENT_FOLDERS, "image_encoder/*", "image_processor/*"),
)

WAN21_FLF2V_14B = Preset(
    id="Wan-AI/Wan2.1-FLF2V-14B-720P-Diffusers",
    family=FAMILY,
    licence="Apache-2.0",
    licence_url="https://huggingface.co/Wan-AI/Wan2.1-FLF2V-14B-720P-Diffusers",
    width=1280,
    height=720,
    fps=16,
    frames=33,
    max_frames=81,
    steps=50,
    guidance=5.5,
    dtypes=(("default", "bfloat16"), ("vae", "float32"), ("image_encoder", "float32")),
    loads_as="WanImageToVideoPipeline",
    modes=FLF2V_MODES,  # first and last frame: `--loop` conditions both ends on the picture
    download_include=(*COMPONENT_FOLDERS, "image_encoder/*", "image_processor/*"),
)

WAN21_14B = Preset(
    id="Wan-AI/Wan2.1-T2V-14B-Diffusers",
    family=FAMILY,
    licence="Apache-2.0",
    licence_url="https://huggingface.co/Wan-AI/Wan2.1-T2V-14B-Diffusers",
    width=832,
    height=480,
    fps=16,
    frames=33,
    max_frames=81,
    steps=50,
    guidance=5.0,
    dtypes=_DTYPES,
    notes="the base of LightX2V's and CausVid's step-distilling LoRAs (4 steps, guidance 1)",
)

WAN22_A14B = Preset(
    id="Wan-AI/Wan2.2-T2V-A14B-Diffusers",
    family=FAMILY,
    licence="Apache-2.0",
    licence_url="https://huggingface.co/Wan-AI/Wan2.2-T2V-A14B-Diffusers",
    width=832,
    height=480,
    fps=16,
    frames=33,
    max_frames=81,
    steps=40,
    guidance=4.0,
    second_guidance=3.0,  # the low-noise expert's guidance_scale_2 (diffusers' example: 4.0 and 3.0)
    dtypes=_DTYPES,
    notes="two experts (transformer, transformer_2 from boundary_ratio); a LoRA's expert = high|low|both",
)

PRESETS = (WAN21_1_3B, WAN22_TI2V_5B, WAN21_I2V_14B, WAN21_FLF2V_14B, WAN21_14B, WAN22_A14B)
