"""A model as the bot uses it: its `[models.NAME]` table over its family's defaults and `[video]`."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from bot.pipelines.loras import LoraSpec, recorded_loras
from bot.pipelines.registry import CATALOGUE, FAMILIES, preset_for_unknown
from bot.pipelines.spec import ClipIdentity, Preset
from bot.settings.bounds import ConfigError
from bot.settings.sections import MODEL_LIMIT_KEYS, MODEL_SHAPE_KEYS, ModelConfig, ModelEntry, VideoConfig

LEGACY_MODEL_NAME = "default"  # what a `[model]` table is called


@dataclass(frozen=True)
class ModelSettings:
    """One model as the bot uses it: its preset (family rules, licence) and its limits."""

    name: str
    id: str
    path: str
    preset: Preset
    limits: VideoConfig
    device: str = "auto"
    cpu_offload: bool = False
    cpu_threads: int = 0
    legacy: bool = False  # from a lone [model] table
    audio: bool = True  # deliver the soundtrack of a family that makes one
    loras: tuple[LoraSpec, ...] = ()
    cache: str = ""  # explicit per-model step caching; "" = [render] cache unless few-step
    scheduler_shift: float = 0.0

    @property
    def key(self) -> str:
        """What a job stores, metrics label and manifests name: the model's name, or for a lone
        [model] its hub id (as before names existed; "default" would say nothing)."""
        return self.id if self.legacy else self.name

    @property
    def source(self) -> str:
        """What loading is given: a local folder if set, else the hub id (or a tiny name)."""
        return self.path or self.id

    @property
    def licence(self) -> str:
        return self.preset.licence

    @property
    def family(self) -> str:
        return self.preset.family.name

    @property
    def identity(self) -> ClipIdentity:
        """What clips of this model say made them (a folder is named by its hub id, when it has one)."""
        return self.preset.identity(self.key, self.id, recorded_loras(self.loras))

    def seconds(self, frames: int) -> float:
        return frames / self.limits.fps


def legacy_entry(model: ModelConfig) -> ModelEntry:
    return ModelEntry(
        id=model.id,
        path=model.path,
        device=model.device,
        cpu_offload=model.cpu_offload,
        cpu_threads=model.cpu_threads,
    )


def preset_for(name: str, entry: ModelEntry, source: str) -> Preset:
    where = f"[models.{name}]" if name != LEGACY_MODEL_NAME else "[model]"
    if entry.family and entry.family not in FAMILIES:
        raise ConfigError(f"{source}: {where} family {entry.family!r} is not one of {', '.join(FAMILIES)}")
    known = CATALOGUE.find(entry.id) if entry.id else None
    if known is not None and (not entry.family or entry.family == known.family.name):
        return known
    if entry.family:
        return preset_for_unknown(entry.id or entry.path, FAMILIES[entry.family])
    if not entry.id and not entry.path:
        raise ConfigError(f"{source}: {where} needs id (a hub id) or path (a folder)")
    raise ConfigError(
        f"{source}: {where} {entry.id or entry.path!r} is not a model videobot knows; "
        f"add family = one of {', '.join(FAMILIES)}"
    )


def resolve(
    name: str, entry: ModelEntry, video: VideoConfig, video_keys_set: frozenset[str], source: str
) -> ModelSettings:
    """Family defaults, then the [video] keys the file set, then this model's own keys."""
    preset = preset_for(name, entry, source)
    own: dict[str, Any] = {
        "width": preset.width,
        "height": preset.height,
        "fps": preset.fps,
        "default_frames": preset.frames,
        "min_frames": preset.frame_rule.least if preset.frame_rule.step > 1 else video.min_frames,
        "max_frames": preset.max_frames,
        "default_steps": preset.steps,
        "default_guidance": preset.guidance,
        "min_guidance": min(preset.min_guidance, preset.guidance),
    }
    if preset.tiny and preset.frame_rule.any:
        own["min_frames"] = 2
    for key in MODEL_SHAPE_KEYS:
        if key in video_keys_set:
            own[key] = getattr(video, key)
    for key in MODEL_LIMIT_KEYS:
        value = getattr(entry, key)
        if value:
            own[key] = value
    limits = replace(video, **own)
    return ModelSettings(
        name=name,
        id=entry.id or entry.path,
        path=entry.path,
        preset=preset,
        limits=limits,
        device=entry.device,
        cpu_offload=entry.cpu_offload,
        cpu_threads=entry.cpu_threads,
        audio=entry.audio,
        loras=entry.loras,
        cache=entry.cache,
        scheduler_shift=entry.scheduler_shift or preset.scheduler_shift,
    )
