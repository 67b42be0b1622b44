"""Every per-clip option of `/video`, declared once.

`VideoArgs` holds what a person asked for; `OPTIONS` says, one row per option, how it is typed
(`--seed 5`), what bounds it (a `[video]`/model limit), which words describe it, and whether a
reroll, a variation, a `/video` reply or an extension keeps it.  The text parser
(`bot.core.parsing`), Discord's `/video` parameters, `/help`, the option-error sentence, the
console's `demo` flags and `VideoArgs.from_params` all read this table.

Adding an option: a field on `VideoArgs` (and on `RenderParams` if the render needs it), a row
in `OPTIONS`, its words (`option_<name>` in the catalogues); then use the value where it acts.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from bot.pipelines.spec import ASPECTS

if TYPE_CHECKING:
    from bot.domain import RenderParams
    from bot.settings.sections import VideoConfig

MAX_SEED = 2**32 - 1


class Kind(enum.StrEnum):
    """How an option's value is typed and read."""

    INTEGER = "integer"
    NUMBER = "number"
    TEXT = "text"  # several words (`--neg blurry, dark`)
    NAME = "name"  # one word, matched without case (`--model LTX`)
    CHOICE = "choice"  # one of `choices`
    FLAG = "flag"  # no value: present or not
    PICTURE = "picture"  # an attachment (Discord) or a file (console); a photo on Telegram


@dataclass(frozen=True)
class VideoArgs:
    """What the user asked for, before limits and defaults are applied (None: not given)."""

    prompt: str
    seed: int | None = None
    negative: str | None = None
    frames: int | None = None
    steps: int | None = None
    guidance: float | None = None
    model: str | None = None
    silent: bool = False  # drop the soundtrack of a model that makes one
    loop: bool = False  # `--loop`: the last frame leads back into the first (docs/extend.md)
    aspect: str | None = None  # `--aspect 9:16`: the model's nearest size of that shape
    smooth: bool = False  # `--smooth`: 🎞 once the clip is done (docs/post.md)
    hd: bool = False  # `--hd`: 🔍 once the clip is done (after 🎞 when both)
    enhance: bool = False  # `--enhance`: show the prompt writer's rewrite first (docs/enhance.md)
    # Not options (nobody types them): a reroll of a rewritten prompt (docs/enhance.md) carries the
    # rewrite as `prompt`, and here what was typed and which writer rewrote it.
    prompt_original: str = ""
    prompt_writer: str = ""

    @classmethod
    def from_params(cls, params: RenderParams, model: str | None, **changes: object) -> VideoArgs:
        """The settings of a clip already made, for "the same again" (reroll, variation, a
        `/video` reply, an extension): every option that carries over, then `changes`."""
        kept: dict[str, object] = {"prompt": params.prompt, "model": model}
        for option in ARG_OPTIONS:
            if option.carries and option.field != "model":
                kept[option.field] = getattr(params, option.field)
        if not kept.get("aspect"):
            kept["aspect"] = None
        return replace(cls(**kept), **changes)  # type: ignore[arg-type]

    def over(self, base: VideoArgs) -> VideoArgs:
        """These args, with whatever was not given taken from `base` (a `/video` reply to a clip)."""
        taken: dict[str, object] = {"prompt": self.prompt or base.prompt}
        for option in ARG_OPTIONS:
            mine = getattr(self, option.field)
            taken[option.field] = (
                (mine or getattr(base, option.field))
                if option.kind == Kind.FLAG
                else (getattr(base, option.field) if mine is None else mine)
            )
        return replace(self, **taken)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Option:
    """One per-clip option: how it is typed, bounded, described and carried over."""

    field: str  # the `VideoArgs` field (and `RenderParams` field, where the clip records it)
    kind: Kind
    carries: bool  # reroll, variation, a `/video` reply and an extension keep it
    words: str  # the catalogue entry describing it (Discord's description, console help)
    flag: str = ""  # what is typed; "": `--<field>`
    aliases: tuple[str, ...] = ()
    bounds: str = ""  # `VideoConfig` min_<bounds>/max_<bounds>: the model's (chat-tightened) range
    choices: tuple[str, ...] = ()
    value: str = ""  # how help shows the value: "N", "TEXT"
    typed: bool = True  # written in text (`--seed 5`); a picture is sent, not typed
    demo: bool = True  # a `videobot demo` flag too (the prompt writer is a chat's, not the shell's)

    @property
    def name(self) -> str:
        return self.flag or f"--{self.field}"

    def word_values(self, limits: VideoConfig) -> dict[str, object]:
        """What its words are filled with: the seed's top, a range and its default."""
        if not self.bounds:
            return {"max": MAX_SEED} if self.field == "seed" else {}
        return {
            "low": getattr(limits, f"min_{self.bounds}"),
            "high": getattr(limits, f"max_{self.bounds}"),
            "default": getattr(limits, f"default_{self.bounds}"),
        }

    def limits(self, limits: VideoConfig) -> tuple[float, float] | None:
        """The lowest and highest value allowed (the model's, tightened by the chat's), if bounded."""
        if self.field == "seed":
            return (0, MAX_SEED)
        if not self.bounds:
            return None
        return getattr(limits, f"min_{self.bounds}"), getattr(limits, f"max_{self.bounds}")

    def usage(self, limits: VideoConfig) -> str:
        """`[--frames 8-32]` as /help shows it."""
        if self.kind == Kind.FLAG:
            return f"[{self.name}]"
        if self.choices:
            return f"[{self.name} {'|'.join(self.choices)}]"
        bounds = self.limits(limits) if self.bounds else None
        shown = f"{bounds[0]}-{bounds[1]}" if bounds else self.value
        return f"[{self.name} {shown}]"


# One row per option; the order is the order of help, Discord's parameters and the error sentence.
OPTIONS: tuple[Option, ...] = (
    Option("seed", Kind.INTEGER, True, "discord_video_seed", value="N"),
    Option("negative", Kind.TEXT, True, "discord_video_negative", "--neg", ("--negative",), value="TEXT"),
    Option("frames", Kind.INTEGER, True, "discord_frames", bounds="frames"),
    Option("steps", Kind.INTEGER, True, "discord_steps", bounds="steps"),
    Option("guidance", Kind.NUMBER, True, "discord_guidance", bounds="guidance"),
    Option("aspect", Kind.CHOICE, True, "option_aspect", choices=ASPECTS),
    Option("model", Kind.NAME, True, "discord_video_model", value="NAME"),
    # a picture travels beside the args (an upload now, or the clip's own on a reroll)
    Option("image", Kind.PICTURE, True, "discord_video_image", value="PICTURE", typed=False),
    Option("silent", Kind.FLAG, True, "discord_video_silent"),
    Option("loop", Kind.FLAG, True, "discord_video_loop"),
    # what happens after the clip, not what it is: a reroll does not ask again
    Option("smooth", Kind.FLAG, False, "discord_video_smooth"),
    Option("hd", Kind.FLAG, False, "discord_video_hd"),
    Option("enhance", Kind.FLAG, False, "discord_video_enhance", demo=False),
)
BY_FIELD: dict[str, Option] = {o.field: o for o in OPTIONS}
BY_NAME: dict[str, Option] = {name: o for o in OPTIONS for name in (o.name, *o.aliases)}
ARG_OPTIONS = tuple(o for o in OPTIONS if o.kind != Kind.PICTURE)  # the `VideoArgs` fields


def option_names() -> str:
    """Every option as the option-error sentence lists it: "--seed, --neg, … or --loop"."""
    names = [o.name for o in OPTIONS]
    return ", ".join(names[:-1]) + " or " + names[-1]


def usage(limits: VideoConfig, *, models: int = 1, off: frozenset[str] = frozenset()) -> str:
    """`/video <prompt> [--seed N] … [--loop]` for /help, with the model's ranges (`off`: options
    switched off here, such as `enhance` without a prompt writer)."""
    hidden = off | ({"model"} if models < 2 else set())
    shown = [o.usage(limits) for o in OPTIONS if o.field not in hidden]
    return " ".join(["/video <prompt>", *shown])
