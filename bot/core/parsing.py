"""Command arguments → typed, validated requests, or one plain sentence saying what is wrong.

Text platforms (Telegram, the console) give us a raw string; Discord gives typed options.
Both end in `validate_video`, so the limits are checked in one place.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Any

from bot.core import messages
from bot.core.messages import drop_invisible
from bot.core.options import ARG_OPTIONS, BY_NAME, MAX_SEED, Kind, Option, VideoArgs, option_names
from bot.domain import RenderParams
from bot.pipelines.spec import size_for
from bot.settings.models import ModelSettings
from bot.settings.sections import VideoConfig

MAX_JOB_ID = 2**63 - 1  # SQLite's largest integer


class CommandError(Exception):
    """Bad user input: `key` and `values` name a message in `bot.core.messages`."""

    def __init__(self, key: str, **values: object) -> None:
        super().__init__(key)
        self.key = key
        self.values = values


_OPTION_TOKEN = re.compile(r"^(--?[A-Za-z][\w-]*|[—–][A-Za-z][\w-]*)(?:=(.*))?$", re.DOTALL)


def clean_text(value: str) -> str:
    """Drop control and format characters, collapse whitespace, trim."""
    kept = drop_invisible("".join(" " if ch.isspace() else ch for ch in value), keep=" ")
    return " ".join(kept.split())


@dataclass
class _Parsed:
    words: list[str] = field(default_factory=list)
    options: dict[Option, list[str]] = field(default_factory=dict)


def parse_video_text(text: str) -> VideoArgs:
    """Parse `a cat surfing --seed 5 --neg blurry, dark --frames 16` (options: `bot.core.options`).

    The prompt is every word before the first option; an option's value runs to the
    next option, so `--neg` can hold several words.  `--opt=value` works too, and an
    em or en dash typed by a phone keyboard ("—seed", "–Seed") is read as "--seed".
    """
    parsed = _Parsed()
    current: list[str] = parsed.words
    for token in text.split():
        match = _OPTION_TOKEN.match(token)
        if match and not _looks_negative_number(token):
            option = BY_NAME.get("--" + match.group(1).lstrip("-—–").lower())
            if option is None:
                raise CommandError("unknown_option", option=match.group(1), options=option_names())
            if not option.typed:  # `--image`: a picture is sent, not typed
                raise CommandError("option_not_typed", option=option.name)
            if option in parsed.options:
                raise CommandError("repeated_option", option=option.name)
            current = parsed.options[option] = []
            if option.kind == Kind.FLAG:
                if match.group(2):
                    raise CommandError("flag_value", option=option.name)
                current = parsed.words  # the prompt may go on after a flag
                continue
            if match.group(2):
                current.append(match.group(2))
            continue
        current.append(token)
    values = {option.field: _value(option, words) for option, words in parsed.options.items()}
    return VideoArgs(prompt=" ".join(parsed.words), **values)  # type: ignore[arg-type]


def _value(option: Option, words: list[str]) -> object:
    """One option's typed words as its value, or one sentence saying what is wrong."""
    raw = " ".join(words)
    if option.kind == Kind.FLAG:
        return True
    if not raw:
        raise CommandError("missing_value", option=option.name)
    if option.kind == Kind.TEXT:
        return raw
    if option.kind == Kind.NAME:
        if len(words) > 1:
            raise CommandError("model_unknown", model=raw, known="/models")
        return raw.lower()
    if option.kind == Kind.CHOICE:
        if raw not in option.choices:
            choices = ", ".join(option.choices)
            raise CommandError("not_a_choice", option=option.name, value=raw, choices=choices)
        return raw
    if option.kind == Kind.NUMBER:
        return _number(raw, option.name)
    if len(words) > 1:
        raise CommandError("not_integer", option=option.name, value=raw)
    return _integer(raw, option.name)


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


def validate_video(
    args: VideoArgs,
    limits: VideoConfig,
    rng: random.Random | None = None,
    model: ModelSettings | None = None,
) -> RenderParams:
    """Apply limits and defaults, and the model's frame and size rules; a missing seed is drawn
    here so it can be shown later.  `limits` are the model's (tightened by the chat's): every
    bound is checked here, once, and a refusal names the model whose range it is."""
    prompt = clean_text(args.prompt)
    if not prompt:
        raise CommandError("prompt_empty")
    if len(prompt) > limits.max_prompt_chars:
        raise CommandError("prompt_too_long", length=len(prompt), limit=limits.max_prompt_chars)
    negative = clean_text(args.negative if args.negative is not None else limits.default_negative)
    if len(negative) > limits.max_prompt_chars:
        raise CommandError("prompt_too_long", length=len(negative), limit=limits.max_prompt_chars)
    seed = args.seed if args.seed is not None else (rng or random.SystemRandom()).randint(0, MAX_SEED)
    chosen: dict[str, Any] = {"seed": seed}
    for option in ARG_OPTIONS:
        if option.bounds:
            given = getattr(args, option.field)
            chosen[option.field] = getattr(limits, f"default_{option.bounds}") if given is None else given
        _check_bounds(option, chosen.get(option.field), limits, model)
    frames, steps, guidance = int(chosen["frames"]), int(chosen["steps"]), float(chosen["guidance"])
    if model is not None:
        _check_model_rules(model, frames, limits)
    aspect = args.aspect or limits.aspect
    width, height = _size(aspect, limits, model)
    return RenderParams(
        prompt=prompt,
        negative=negative,
        seed=seed,
        frames=frames,
        steps=steps,
        guidance=round(guidance, 2),
        width=width,
        height=height,
        fps=limits.fps,
        silent=args.silent,
        aspect=aspect,
    )


def _check_bounds(option: Option, value: object, limits: VideoConfig, model: ModelSettings | None) -> None:
    """One sentence naming the model's range when `value` is outside it."""
    bounds = option.limits(limits)
    if bounds is None or not isinstance(value, int | float) or bounds[0] <= value <= bounds[1]:
        return
    low, high = bounds
    named = model.key if model is not None else messages.text("this_model")
    if option.field == "frames":
        fps = limits.fps
        raise CommandError(
            "frames_out_of_range", model=named, low=low, high=high, value=value,
            low_s=f"{low / fps:.1f}", high_s=f"{high / fps:.1f}", fps=fps,
        )  # fmt: skip
    raise CommandError(
        "option_out_of_range", option=option.name, model=named, low=low, high=high, value=value
    )


def _size(aspect: str, limits: VideoConfig, model: ModelSettings | None) -> tuple[int, int]:
    """The model's own size, or its nearest valid size of the asked shape (`spec.size_for`)."""
    if not aspect:
        return limits.width, limits.height
    preset = model.preset if model is not None else None
    size = size_for(preset, aspect, limits.width, limits.height)
    if size is None:
        assert model is not None  # without a model every shape has a size
        size_now = f"{limits.width}×{limits.height}"
        raise CommandError("aspect_unsupported", model=model.name, aspect=aspect, size=size_now)
    return size


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
