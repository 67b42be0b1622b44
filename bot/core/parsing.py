"""Command arguments → typed, validated requests, or one plain sentence saying what is wrong.

Text platforms (Telegram, the console) give us a raw string; Discord gives typed options.
Both end in `validate_video`, so the limits are checked in one place.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

from bot.config import ModelSettings, VideoConfig
from bot.core.messages import drop_invisible
from bot.core.types import RenderParams

MAX_SEED = 2**32 - 1
MAX_JOB_ID = 2**63 - 1  # SQLite's largest integer


class CommandError(Exception):
    """Bad user input: `key` and `values` name a message in `bot.core.messages`."""

    def __init__(self, key: str, **values: object) -> None:
        super().__init__(key)
        self.key = key
        self.values = values


@dataclass(frozen=True)
class VideoArgs:
    """What the user typed, before limits and defaults are applied."""

    prompt: str
    seed: int | None = None
    negative: str | None = None
    frames: int | None = None
    steps: int | None = None
    guidance: float | None = None
    model: str | None = None
    silent: bool = False  # drop the soundtrack of a model that makes one
    loop: bool = False  # `--loop`: the last frame leads back into the first (docs/extend.md)
    smooth: bool = False  # `--smooth`: 🎞 once the clip is done (docs/post.md)
    hd: bool = False  # `--hd`: 🔍 once the clip is done (after 🎞 when both)
    enhance: bool = False  # `--enhance`: show the prompt writer's rewrite first (docs/enhance.md)
    # a reroll of a rewritten prompt (docs/enhance.md): `prompt` is the rewrite, this what was typed
    prompt_original: str = ""
    prompt_writer: str = ""


OPTIONS = {
    "--seed": "seed",
    "--neg": "negative",
    "--negative": "negative",
    "--frames": "frames",
    "--steps": "steps",
    "--guidance": "guidance",
    "--model": "model",
    "--silent": "silent",
    "--loop": "loop",
    "--smooth": "smooth",
    "--hd": "hd",
    "--enhance": "enhance",
}
FLAGS = frozenset({"silent", "loop", "smooth", "hd", "enhance"})  # options that take no value
_OPTION_TOKEN = re.compile(r"^(--?[A-Za-z][\w-]*|[—–][A-Za-z][\w-]*)(?:=(.*))?$", re.DOTALL)


def clean_text(value: str) -> str:
    """Drop control and format characters, collapse whitespace, trim."""
    kept = drop_invisible("".join(" " if ch.isspace() else ch for ch in value), keep=" ")
    return " ".join(kept.split())


@dataclass
class _Parsed:
    words: list[str] = field(default_factory=list)
    options: dict[str, list[str]] = field(default_factory=dict)


def parse_video_text(text: str) -> VideoArgs:
    """Parse `a cat surfing --seed 5 --neg blurry, dark --frames 16`.

    The prompt is every word before the first option; an option's value runs to the
    next option, so `--neg` can hold several words.  `--opt=value` works too, and an
    em or en dash typed by a phone keyboard ("—seed", "–Seed") is read as "--seed".
    """
    parsed = _Parsed()
    current: list[str] = parsed.words
    for token in text.split():
        match = _OPTION_TOKEN.match(token)
        if match and not _looks_negative_number(token):
            name = "--" + match.group(1).lstrip("-—–").lower()
            if name not in OPTIONS:
                raise CommandError("unknown_option", option=match.group(1))
            field_name = OPTIONS[name]
            if field_name in parsed.options:
                raise CommandError("repeated_option", option=name)
            current = parsed.options[field_name] = []
            if field_name in FLAGS:
                if match.group(2):
                    raise CommandError("unknown_option", option=match.group(1))
                current = parsed.words  # the prompt may go on after a flag
                continue
            if match.group(2):
                current.append(match.group(2))
            continue
        current.append(token)

    values: dict[str, object] = {}
    for field_name, words in parsed.options.items():
        option = "--neg" if field_name == "negative" else f"--{field_name}"
        raw = " ".join(words)
        if field_name in FLAGS:
            values[field_name] = True
            continue
        if not raw:
            raise CommandError("missing_value", option=option)
        if field_name == "negative":
            values[field_name] = raw
        elif field_name == "model":
            if len(words) > 1:
                raise CommandError("model_unknown", model=raw, known="/models")
            values[field_name] = raw.lower()
        elif field_name == "guidance":
            values[field_name] = _number(raw, option)
        else:
            if len(words) > 1:
                raise CommandError("not_integer", option=option, value=raw)
            values[field_name] = _integer(raw, option)
    return VideoArgs(prompt=" ".join(parsed.words), **values)  # type: ignore[arg-type]


def _looks_negative_number(token: str) -> bool:
    return bool(re.fullmatch(r"-\d+(\.\d+)?", token))


def _integer(raw: str, option: str) -> int:
    try:
        if len(raw) > 30:  # int() of thousands of digits is slow, then refused
            raise ValueError(raw)
        return int(raw)
    except ValueError:
        raise CommandError("not_integer", option=option, value=raw) from None


def _number(raw: str, option: str) -> float:
    try:
        value = float(raw.replace(",", "."))
    except ValueError:
        raise CommandError("not_number", option=option, value=raw) from None
    if value != value or value in (float("inf"), float("-inf")):
        raise CommandError("not_number", option=option, value=raw)
    return value


def _in_range(value: float, low: float, high: float, option: str) -> None:
    if not low <= value <= high:
        raise CommandError("out_of_range", option=option, low=low, high=high, value=value)


def validate_video(
    args: VideoArgs,
    limits: VideoConfig,
    rng: random.Random | None = None,
    model: ModelSettings | None = None,
) -> RenderParams:
    """Apply limits and defaults, and the model's frame and size rules; a missing seed is drawn
    here so it can be shown later.  `limits` are the model's (tightened by the chat's)."""
    prompt = clean_text(args.prompt)
    if not prompt:
        raise CommandError("prompt_empty")
    if len(prompt) > limits.max_prompt_chars:
        raise CommandError("prompt_too_long", length=len(prompt), limit=limits.max_prompt_chars)
    negative = clean_text(args.negative if args.negative is not None else limits.default_negative)
    if len(negative) > limits.max_prompt_chars:
        raise CommandError("prompt_too_long", length=len(negative), limit=limits.max_prompt_chars)
    frames = limits.default_frames if args.frames is None else args.frames
    steps = limits.default_steps if args.steps is None else args.steps
    guidance = limits.default_guidance if args.guidance is None else args.guidance
    if not limits.min_frames <= frames <= limits.max_frames:
        fps = limits.fps
        raise CommandError(
            "frames_out_of_range",
            low=limits.min_frames,
            high=limits.max_frames,
            value=frames,
            low_s=f"{limits.min_frames / fps:.1f}",
            high_s=f"{limits.max_frames / fps:.1f}",
            fps=fps,
        )
    if model is not None:
        _check_model_rules(model, frames, limits)
    _in_range(steps, limits.min_steps, limits.max_steps, "--steps")
    _in_range(guidance, limits.min_guidance, limits.max_guidance, "--guidance")
    seed = args.seed
    if seed is None:
        seed = (rng or random.SystemRandom()).randint(0, MAX_SEED)
    _in_range(seed, 0, MAX_SEED, "--seed")
    return RenderParams(
        prompt=prompt,
        negative=negative,
        seed=seed,
        frames=frames,
        steps=steps,
        guidance=round(float(guidance), 2),
        width=limits.width,
        height=limits.height,
        fps=limits.fps,
        silent=args.silent,
    )


def _check_model_rules(model: ModelSettings, frames: int, limits: VideoConfig) -> None:
    """Wan takes 4k+1 frames, LTX 8k+1 and sizes in multiples of 32 …: one sentence and a fix."""
    rule = model.preset.frame_rule
    if not rule.fits(frames):
        fixes = [n for n in (rule.nearest(frames), rule.below(frames), rule.above(frames))]
        fix = next((n for n in fixes if limits.min_frames <= n <= limits.max_frames and rule.fits(n)), None)
        examples = [n for n in rule.examples(limits.min_frames, 4) if n <= limits.max_frames][:3]
        raise CommandError(
            "frames_rule",
            model=model.name,
            rule=rule.describe(),
            examples=", ".join(str(n) for n in examples),
            fix=fix if fix is not None else limits.default_frames,
        )
    multiple = model.preset.size_rule
    if limits.width % multiple or limits.height % multiple:
        raise CommandError("size_rule", model=model.name, multiple=multiple)


def parse_job_id(raw: str) -> int:
    """`12` or `#12` → 12; anything else is a plain-words error."""
    value = raw.strip().lstrip("#")
    # isdigit() alone accepts "²" and other digits int() refuses; ids are ASCII, and short
    # (int() refuses more than 4,300 digits with a ValueError).
    if not (value.isascii() and value.isdigit()) or len(value) > 18 or not 0 < int(value) <= MAX_JOB_ID:
        raise CommandError("bad_job_id", value=raw.strip())
    return int(value)
