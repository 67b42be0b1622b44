"""What videobot knows about a video model: plain data, no torch.

A `Family` is one diffusers pipeline layout (its classes, frame and size rules, prompt
length, how its per-step hook works, which files to download).  A `Preset` is one
published checkpoint of a family: its hub id, licence, dtypes, weight variant and
defaults.  The config turns a `[models.NAME]` entry into a preset plus the owner's
overrides; the core validates requests against it; `bot.render` loads it.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.domain import ConditioningKind

# What a T5-encoder pipeline loads, folder by folder: some repos (LTX-Video) also keep
# multi-gigabyte single-file checkpoints at their root that diffusers never reads.
COMPONENT_FOLDERS = (
    "model_index.json",
    "scheduler/*",
    "text_encoder/*",
    "tokenizer/*",
    "transformer/*",
    "vae/*",
)


# A picture's own bounds (beside [video] max_image_mb): Pillow's decompression-bomb limit is
# set to MAX_PICTURE_PIXELS on purpose, and anything past these sides is refused unread.
MAX_PICTURE_PIXELS = 40_000_000
MAX_PICTURE_SIDE = 12_000
MIN_PICTURE_SIDE = 16
MAX_PICTURE_ASPECT = 8.0  # a 1×8 strip is still a picture; a 1×100 one is not
FEW_STEPS = 8  # at or below this many default steps a model counts as few-step
ASPECTS = ("16:9", "9:16", "1:1")  # `--aspect` / `[video] aspect`: landscape, vertical (phones), square
ASPECT_SLACK = 0.1  # a fixed size within 10 % of the asked shape counts as that shape


class StepHook(enum.StrEnum):
    """How a pipeline reports a finished step (and how we stop it)."""

    LEGACY = "callback"  # callback(step, timestep, latents) with callback_steps=1
    ON_STEP_END = "callback_on_step_end"  # callback_on_step_end(pipe, step, timestep, tensors)


class Pictures(enum.StrEnum):
    """Whether a checkpoint animates a picture (image-to-video) besides, or instead of, text."""

    NO = "no"  # text only
    ALSO = "also"  # text or a picture, one set of weights (Wan 2.2 TI2V-5B, LTX-Video)
    ONLY = "only"  # an image-to-video checkpoint (CogVideoX-5b-I2V, Wan 2.1 I2V-14B)

    @property
    def taken(self) -> bool:
        return self is not Pictures.NO


# A mode's call arguments from what conditions it: the frames at the start (one picture per clip
# of a batch in picture mode; one clip's last frames for a continuation), the frame to end on (a
# loop's), and the clip's frame count.  PIL images in, pipeline keyword arguments out.
ConditionArguments = Callable[[Sequence[Any], Any, int], dict[str, Any]]


def one_frame_overlap(frames: int) -> int:
    """How many of a parent's last frames a continuation re-renders: one, for a picture path."""
    return 1


@dataclass(frozen=True)
class Mode:
    """How a checkpoint renders one conditioning: the diffusers class built over the loaded
    components (`""`: the loaded pipeline as it is), and how a call is conditioned."""

    pipeline_class: str
    arguments: ConditionArguments
    per_clip: bool = False  # one call takes a different picture for each clip of a batch
    overlap: Callable[[int], int] = one_frame_overlap  # a continuation's conditioning frames


@dataclass(frozen=True)
class Modes:
    """The conditionings one checkpoint takes, each with its `Mode`; None: it cannot."""

    text: bool = True  # False: an image-to-video checkpoint (a picture is required)
    picture: Mode | None = None
    continuation: Mode | None = None
    loop: Mode | None = None  # conditions the first and the last frame

    def mode(self, kind: ConditioningKind) -> Mode | None:
        """The mode for `kind` (None: text, which is the loaded pipeline as it is)."""
        return {
            ConditioningKind.NONE: None,
            ConditioningKind.PICTURE: self.picture,
            ConditioningKind.CONTINUATION: self.continuation,
            ConditioningKind.LOOP: self.loop,
        }[kind]

    def takes(self, kind: ConditioningKind) -> bool:
        return self.text if kind is ConditioningKind.NONE else self.mode(kind) is not None

    @property
    def declared(self) -> tuple[ConditioningKind, ...]:
        return tuple(c for c in ConditioningKind if self.takes(c))


TEXT_ONLY = Modes()


@dataclass(frozen=True)
class FrameRule:
    """Frame counts a family accepts: `step * k + offset`, at least `least`, at most `most`."""

    step: int = 1
    offset: int = 0
    least: int = 1
    most: int = 0  # 0: no family limit (the config's max_frames still applies)

    def fits(self, frames: int) -> bool:
        if frames < self.least or (self.most and frames > self.most):
            return False
        return (frames - self.offset) % self.step == 0

    def below(self, frames: int) -> int:
        """The largest count that fits and is at most `frames` (or the smallest that fits)."""
        if self.most:
            frames = min(frames, self.most)
        fitted = frames - (frames - self.offset) % self.step
        while fitted < self.least:
            fitted += self.step
        return fitted

    def above(self, frames: int) -> int:
        fitted = self.below(frames)
        return fitted if fitted >= frames else fitted + self.step

    def nearest(self, frames: int) -> int:
        low, high = self.below(frames), self.above(frames)
        if self.most and high > self.most:
            return low
        return low if frames - low <= high - frames else high

    @property
    def any(self) -> bool:
        return self.step == 1

    def describe(self) -> str:
        """`4k+1` for Wan's rule."""
        return f"{self.step}k+{self.offset}" if self.offset else f"multiples of {self.step}"

    def examples(self, start: int, count: int = 3) -> tuple[int, ...]:
        first = self.above(start)
        return tuple(
            first + i * self.step for i in range(count) if not self.most or first + i * self.step <= self.most
        )


@dataclass(frozen=True)
class Family:
    name: str  # what messages call it: "wan"
    title: str
    pipeline_classes: tuple[str, ...]  # `_class_name` values in model_index.json this family renders
    frames: FrameRule
    size_multiple: int  # width and height must be multiples of this
    max_prompt_tokens: int  # the text encoder's sequence length (max_sequence_length where the call takes it)
    step_hook: StepHook
    download_include: tuple[str, ...]  # `hf download --include` patterns for what loading needs
    takes_max_sequence_length: bool = False
    takes_frame_rate: bool = False  # LTX conditions on the frame rate
    makes_audio: bool = False  # the pipeline returns a soundtrack beside the frames (LTX-2)
    # Arguments that turn off every extra guidance pass when guidance is 1 (LTX-2's audio guidance,
    # spatio-temporal and modality guidance default on, each an extra transformer pass per step).
    unguided_call: tuple[tuple[str, float], ...] = ()
    frames_argument: str = "num_frames"  # what the pipeline's call names the frame count (SANA-Video: frames)
    fixed_call: tuple[tuple[str, object], ...] = ()  # arguments every call of the family gets
    step_caches: bool = False  # its transformer takes diffusers' step caches (first-block, PAB)
    # calls the transformer twice a step (conditional, then unconditional): PAB's one state per
    # attention module would reuse the conditional pass's attention for the unconditional one
    guidance_pass_apart: bool = False


@dataclass(frozen=True)
class Preset:
    """One checkpoint; `dtypes` is for CUDA (the CPU always uses float32)."""

    id: str
    family: Family
    licence: str
    licence_url: str
    width: int
    height: int
    fps: int
    frames: int  # default
    max_frames: int
    steps: int
    guidance: float
    dtypes: tuple[tuple[str, str], ...] = (("default", "float16"),)
    variant: str | None = None  # weight variant to prefer ("fp16"); the plain files when absent
    min_guidance: float = 1.0
    extra_call: tuple[tuple[str, object], ...] = ()  # further pipeline arguments (LTX's decode timestep)
    aliases: tuple[str, ...] = ()  # other hub ids publishing the same weights
    tiny: bool = False  # built in code with random weights: no download
    size_multiple: int = 0  # 0: the family's
    download_include: tuple[str, ...] = ()  # (): the family's
    max_prompt_tokens: int = 0  # 0: the family's
    loads_as: str = ""  # the class its model_index.json names (its text mode); "": the family's first
    modes: Modes = TEXT_ONLY  # the conditionings it takes besides text, and how (its family's file says)
    # a distillation's own schedule (LTX 0.9.7/0.9.8 distilled), used when a clip asks for that many steps
    timesteps: tuple[float, ...] = ()
    second_guidance: float = 0.0  # Wan 2.2 A14B's guidance_scale_2 for its low-noise expert; 0: one expert
    vae_tiling: bool = False  # decode in tiles in every memory mode (a 13 B model's long clips)
    frames_rule: FrameRule | None = None  # None: the family's (CogVideoX-5b-I2V: 49 frames only)
    fixed_size: tuple[int, int] | None = None  # the one size it renders (learned positional embeddings)
    notes: str = ""
    scheduler_shift: float = 0.0  # the flow-matching shift a few-step checkpoint wants; 0: as shipped

    @property
    def pictures(self) -> Pictures:
        """Whether it animates a picture, for the core (read from its modes)."""
        if self.modes.picture is None:
            return Pictures.NO
        return Pictures.ALSO if self.modes.text else Pictures.ONLY

    @property
    def extends(self) -> bool:
        """⏩ Extend: it conditions a segment on a parent clip's last frames."""
        return self.modes.continuation is not None

    @property
    def loops(self) -> bool:
        """`--loop`: it conditions the last frame too."""
        return self.modes.loop is not None

    @property
    def frame_rule(self) -> FrameRule:
        return self.frames_rule or self.family.frames

    @property
    def size_rule(self) -> int:
        return self.size_multiple or self.family.size_multiple

    @property
    def download_patterns(self) -> tuple[str, ...]:
        return self.download_include or self.family.download_include

    @property
    def prompt_tokens(self) -> int:
        return self.max_prompt_tokens or self.family.max_prompt_tokens

    def identity(self, name: str, hub_id: str, loras: tuple[LoraRef, ...] = ()) -> ClipIdentity:
        """This checkpoint as `[models.NAME]` calls it: what every clip it makes says."""
        return ClipIdentity(
            name=name, hub_id=hub_id, family=self.family.name, licence=self.licence, loras=loras
        )


def size_for(preset: Preset | None, aspect: str, width: int, height: int) -> tuple[int, int] | None:
    """The checkpoint's nearest valid size of shape `aspect` ("9:16"), or None if it makes none.

    About as many pixels as `width`×`height` (the size the owner configured, so the memory a
    render takes stays what they sized for), on the checkpoint's size grid, the long side
    where the shape puts it; a checkpoint with fixed sizes picks the one of that shape.
    """
    across, down = (int(n) for n in aspect.split(":"))
    ratio = across / down
    if preset is not None and preset.fixed_size is not None:
        fixed = preset.fixed_size
        return fixed if abs(fixed[0] / fixed[1] - ratio) <= ASPECT_SLACK * ratio else None
    grid = preset.size_rule if preset is not None else 8
    area = width * height
    wide = max(grid, round(math.sqrt(area * ratio) / grid) * grid)
    tall = max(grid, round(math.sqrt(area / ratio) / grid) * grid)
    if across != down and (wide > tall) != (across > down):  # the grid is too coarse: lengthen
        wide, tall = (wide + grid, tall) if across > down else (wide, tall + grid)
    if across == down:
        wide = tall = min(wide, tall)
    return wide, tall


@dataclass(frozen=True)
class LoraRef:
    """A LoRA as a clip records it (the identity's `loras`, the C2PA record, `/info`)."""

    name: str
    sha256: str
    scale: float

    def describe(self) -> str:
        return f"{self.name} ×{self.scale:g} (sha256 {self.sha256[:12]})"


@dataclass(frozen=True)
class ClipIdentity:
    """Which model made a clip, built once from the model's settings and carried with the job:
    the MP4 tags, the signed C2PA record, `/info`, `/models` and the web pages all read it."""

    name: str  # the configured name (a lone `[model]`: its hub id, "default" says nothing)
    hub_id: str  # the hub id; a model given only by `path`: that folder
    family: str  # modelscope, wan, ltx, cogvideox
    licence: str
    loras: tuple[LoraRef, ...] = ()  # fused into the model: name, file SHA-256, scale

    def as_data(self) -> dict[str, object]:
        """Plain JSON values (the SAQ job's kwargs, the manifest's record); a model without LoRAs
        signs what it signed before they existed."""
        data: dict[str, object] = {"name": self.name, "hub_id": self.hub_id, "family": self.family,
                                   "licence": self.licence}  # fmt: skip
        if self.loras:
            data["loras"] = [{"name": r.name, "sha256": r.sha256, "scale": r.scale} for r in self.loras]
        return data

    @classmethod
    def from_data(cls, data: object) -> ClipIdentity:
        """Read back from Redis or a signed record; records signed before `family` read as ""."""
        if not isinstance(data, dict):
            raise ValueError(f"a clip identity must be a mapping, got {type(data).__name__}")
        loras = data.get("loras", ())
        if not isinstance(loras, list | tuple):
            raise ValueError("a clip identity's loras must be a list")
        return cls(
            name=str(data["name"]),
            hub_id=str(data["hub_id"]),
            family=str(data.get("family", "")),
            licence=str(data["licence"]),
            loras=tuple(
                LoraRef(str(lora["name"]), str(lora.get("sha256", "")), float(lora.get("scale", 1.0)))
                if isinstance(lora, dict)
                else LoraRef(str(lora), "", 1.0)
                for lora in loras
            ),
        )


@dataclass(frozen=True)
class Catalogue:
    """Every preset, found by hub id or alias."""

    presets: tuple[Preset, ...]
    by_id: dict[str, Preset] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        for preset in self.presets:
            for name in (preset.id, *preset.aliases):
                self.by_id[name.lower()] = preset

    def find(self, hub_id: str) -> Preset | None:
        return self.by_id.get(hub_id.lower())
