"""Every model family videobot renders, and the checkpoints it knows by hub id.

A hub id not listed here needs `family = "…"` in its `[models.NAME]` entry; the class in
its model_index.json must then be one the family renders.
"""

from __future__ import annotations

from dataclasses import replace

from bot.pipelines import cogvideox, ltx, ltx2, modelscope, sana_video, wan
from bot.pipelines.spec import TEXT_ONLY, Catalogue, Family, Modes, Preset

FAMILIES: dict[str, Family] = {
    family.name: family
    for family in (
        modelscope.FAMILY,
        wan.FAMILY,
        ltx.FAMILY,
        cogvideox.FAMILY,
        ltx2.FAMILY,
        sana_video.FAMILY,
    )
}

_TINY_LICENCE = "none (random weights)"  # for trying the bot and for tests: clips are noise


def _tiny(
    name: str,
    family: Family,
    frames: int,
    most: int,
    *,
    tokens: int = 0,
    guidance: float = 5.0,
    modes: Modes = TEXT_ONLY,
    size_multiple: int = 0,
) -> Preset:
    return Preset(
        id=name,
        family=family,
        licence=_TINY_LICENCE,
        licence_url="",
        width=64,
        height=64,
        fps=8,
        frames=frames,
        max_frames=most,
        steps=4,
        guidance=guidance,
        dtypes=(("default", "float32"),),
        tiny=True,
        max_prompt_tokens=tokens,
        modes=modes,
        size_multiple=size_multiple,
    )


# Built in code (bot.pipelines.tiny): the same classes with a few thousand random weights.
TINY_PRESETS: dict[str, Preset] = {
    "tiny": _tiny("tiny", modelscope.FAMILY, 8, 16, guidance=9.0),  # ModelScope's own guidance
    "tiny-wan": _tiny("tiny-wan", wan.FAMILY, 9, 33, tokens=32),
    "tiny-ltx": _tiny("tiny-ltx", ltx.FAMILY, 9, 33, tokens=32, modes=ltx.MODES),
    # Wan 2.2 TI2V-5B's shape: expand_timesteps, a 16× VAE (sizes in multiples of 32), text or picture
    "tiny-wan22": _tiny("tiny-wan22", wan.FAMILY, 9, 33, tokens=32, modes=wan.TI2V_MODES, size_multiple=32),
    # Wan 2.2 A14B's shape: two experts, guidance_scale_2 for the low-noise one
    "tiny-wan-a14b": replace(_tiny("tiny-wan-a14b", wan.FAMILY, 9, 33, tokens=32), second_guidance=3.0),
    # Wan 2.1 FLF2V-14B's shape: pictures only, both ends conditioned (a loop closes on the picture)
    "tiny-wan-flf2v": _tiny("tiny-wan-flf2v", wan.FAMILY, 9, 33, tokens=32, modes=wan.FLF2V_MODES),
    "tiny-cogvideox": _tiny("tiny-cogvideox", cogvideox.FAMILY, 9, 17, tokens=32),
    "tiny-ltx2": _tiny("tiny-ltx2", ltx2.FAMILY, 9, 33, tokens=32, guidance=1.0),  # with a soundtrack
    "tiny-sana-video": _tiny("tiny-sana-video", sana_video.FAMILY, 9, 33, tokens=32),
}

CATALOGUE = Catalogue(
    (
        *modelscope.PRESETS,
        *wan.PRESETS,
        *ltx.PRESETS,
        *cogvideox.PRESETS,
        *ltx2.PRESETS,
        *sana_video.PRESETS,
        *TINY_PRESETS.values(),
    )
)


def family_of_class(class_name: str) -> Family | None:
    """The family whose pipeline `class_name` (from model_index.json) is."""
    for family in FAMILIES.values():
        if class_name in family.pipeline_classes:
            return family
    return None


def supported_classes() -> tuple[str, ...]:
    return tuple(name for family in FAMILIES.values() for name in family.pipeline_classes)


def preset_for_unknown(hub_id: str, family: Family) -> Preset:
    """A checkpoint we have no entry for: its family's rules, the family's first preset's defaults."""
    base = next(p for p in CATALOGUE.presets if p.family is family and not p.tiny)
    return Preset(
        id=hub_id,
        family=family,
        licence="unknown: see the model card",
        licence_url=f"https://huggingface.co/{hub_id}" if hub_id.count("/") == 1 else "",
        width=base.width,
        height=base.height,
        fps=base.fps,
        frames=base.frames,
        max_frames=base.max_frames,
        steps=base.steps,
        guidance=base.guidance,
        dtypes=base.dtypes,
        variant=None,
        extra_call=base.extra_call,
        modes=base.modes,
    )
