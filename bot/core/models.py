"""Which video model a request gets, and what `/models` says about them.

The config names the models (`[models.NAME]`, or `[model]` as one named "default").  The
active default is the config's until an owner switches it (`/admin model NAME`), kept in
the store so it survives restarts and the shell's `videobot admin model` reaches a running
bot.  A chat's admins may let `--model` pick among some models only
(`/admin settings models wan,ms`); a chat that set none may pick any configured model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from bot.core import messages
from bot.core.parsing import CommandError
from bot.domain import ChatSettings
from bot.pipelines.spec import ClipIdentity
from bot.settings.models import ModelSettings
from bot.settings.root import Config
from bot.store import Store

ACTIVE_KEY = "active_model"


@dataclass(eq=False)
class Models:
    config: Config
    store: Store
    # what really renders a configured model when the wiring stood something in (the tiny fallback)
    stand_ins: Mapping[str, ClipIdentity] = field(default_factory=dict)

    def names(self) -> tuple[str, ...]:
        return tuple(self.config.model_settings)

    @property
    def active(self) -> str:
        """The default model now: the owner's last switch if still configured, else the config's."""
        chosen = self.store.settings.get(ACTIVE_KEY)
        return chosen if chosen in self.config.model_settings else self.config.default_model

    def configured(self, stored: str) -> str | None:
        """The one lookup of "stored model → configured name": a job stores its model's key (its
        name, a lone `[model]`'s hub id); None when the config no longer has that model."""
        for name, settings in self.config.model_settings.items():
            if stored in (name, settings.key):
                return name
        return None

    def name_of(self, stored: str) -> str:
        """The configured model that renders a stored job: its own, else the config's default."""
        return self.configured(stored) or self.config.default_model

    def settings(self, stored: str) -> ModelSettings:
        return self.config.model_settings[self.name_of(stored)]

    def identity(self, stored: str) -> ClipIdentity:
        """What clips of a stored job's model say made them: the one value the job carries to the
        backend (MP4 tags, signed record) and `/info`, `/models` and the web pages show."""
        name = self.name_of(stored)
        return self.stand_ins.get(name) or self.config.model_settings[name].identity

    def allowed(self, chat: ChatSettings) -> tuple[str, ...]:
        allowed = tuple(name for name in chat.models if name in self.config.model_settings)
        return allowed or self.names()

    def pick(
        self, requested: str | None, chat: ChatSettings, *, picture: bool = False, loop: bool = False
    ) -> ModelSettings:
        """The model for a `/video` here: the one asked for if this chat allows it, else the default,
        or for a picture or a loop the model that can make it (`unnamed`)."""
        allowed = self.allowed(chat)
        if requested is None:
            return self.settings(self.unnamed(allowed, picture=picture, loop=loop))
        name = self.name_for(requested)
        if name is None:
            raise CommandError("model_unknown", model=requested, known=", ".join(allowed))
        if name not in allowed:
            raise CommandError("model_not_here", model=name, known=", ".join(allowed))
        return self.settings(name)

    def unnamed(self, allowed: tuple[str, ...], *, picture: bool = False, loop: bool = False) -> str:
        """The model a request gets when it names none.  Someone who sends a picture (or asks for a
        loop) asked for it to move, not for a model: `[video] picture_model`, else the default if it
        can, else the first configured model that can; when none can, the default (which refuses)."""
        active = self.active
        default = active if active in allowed else allowed[0]
        candidates = {name: self.settings(name) for name in allowed}
        return unnamed_model(candidates, default, self.config.video.picture_model, picture=picture, loop=loop)

    def pictures_line(self, allowed: tuple[str, ...], locale: str) -> str:
        """Where a picture and a `--loop` go when no model is named (`/models`, `/help`)."""
        pictures, loops = self.unnamed(allowed, picture=True), self.unnamed(allowed, loop=True)
        takes, makes = self.can(pictures, picture=True), self.can(loops, loop=True)
        named = {"pictures": self.identity(pictures).name, "loops": self.identity(loops).name}
        if takes and makes:
            if pictures == loops:
                return messages.text("pictures_go_to", locale, model=named["pictures"])
            return messages.text("pictures_and_loops_go_to", locale, **named)
        if takes:
            return messages.text("pictures_go_to_no_loops", locale, **named)
        if makes:
            return messages.text("loops_go_to_no_pictures", locale, **named)
        return messages.text("pictures_nowhere_here", locale)

    def can(self, name: str, *, picture: bool = False, loop: bool = False) -> bool:
        return can_make(self.settings(name), picture=picture, loop=loop)

    def name_for(self, requested: str) -> str | None:
        """A configured model by its name or by the hub id `/models` shows for it (`[model]` alone
        is named "default", which users never see)."""
        wanted = requested.strip().lower()
        if not wanted or wanted in self.config.model_settings:
            return wanted or None
        by_source = {s.id.lower(): name for name, s in reversed(self.config.model_settings.items())}
        by_source.update({s.path.lower(): name for name, s in self.config.model_settings.items() if s.path})
        return by_source.get(wanted)

    def extendable(self, stored: str) -> bool:
        """Whether a job's model continues clips, so they get ⏩ Extend (docs/extend.md)."""
        return self.settings(stored).preset.extends

    def label(self, stored: str) -> str:
        """A job's model as users see it."""
        return shown_name(self.identity(stored))

    def switch(self, name: str) -> ClipIdentity:
        """Make `name` the default for new jobs (queued ones keep the model they asked for)."""
        key = self.name_for(name)
        if key is None:
            raise CommandError("model_unknown", model=name, known=", ".join(self.names()))
        self.store.settings.set(ACTIVE_KEY, key)
        return self.identity(key)

    def parse_list(self, value: str) -> tuple[str, ...]:
        """`wan,ms` → ("wan", "ms"), every name configured; `all`/`default` → () (every model)."""
        if value.strip().lower() in ("all", "default", "*"):
            return ()
        names = tuple(
            dict.fromkeys(n.strip().lower() for n in value.replace(" ", ",").split(",") if n.strip())
        )
        unknown = [n for n in names if n not in self.config.model_settings]
        if unknown or not names:
            raise CommandError(
                "model_unknown", model=", ".join(unknown) or value, known=", ".join(self.names())
            )
        return names


def can_make(settings: ModelSettings, *, picture: bool = False, loop: bool = False) -> bool:
    """Whether a model animates a picture (when `picture`) and closes a loop (when `loop`)."""
    preset = settings.preset
    return (preset.pictures.taken or not picture) and (preset.loops or not loop)


def unnamed_model(
    candidates: Mapping[str, ModelSettings],
    default: str,
    preferred: str,
    *,
    picture: bool = False,
    loop: bool = False,
) -> str:
    """Of `candidates` (in config order), the one for a request that names none: `default` for
    text; for a picture or a loop `preferred` (`[video] picture_model`), else `default`, else the
    first that can make it, each only if it can; when none can, `default` (which then refuses)."""
    if not (picture or loop):
        return default
    able = [name for name, settings in candidates.items() if can_make(settings, picture=picture, loop=loop)]
    for name in (preferred, default):
        if name in able:
            return name
    return able[0] if able else default


def shown_name(identity: ClipIdentity) -> str:
    """How users see a model: `[model]` alone by its hub id ("default" says nothing), else
    `wan (Wan-AI/Wan2.1-T2V-1.3B-Diffusers)`."""
    if identity.name == identity.hub_id:
        return identity.hub_id
    return f"{identity.name} ({identity.hub_id})"


def seconds(settings: ModelSettings, frames: int) -> str:
    """`2.1 s`: a clip's length at the model's frame rate."""
    return f"{frames / settings.limits.fps:.1f} s"


def model_line(
    settings: ModelSettings, identity: ClipIdentity, locale: str, *, active: bool, loaded: bool | None
) -> str:
    """One `/models` line: name, licence (as clips are signed), defaults, whether it is loaded."""
    v = settings.limits
    state = (
        "" if loaded is None else messages.text("models_loaded" if loaded else "models_not_loaded", locale)
    )
    takes = str(settings.preset.pictures)  # "no", "also", "only"
    if takes != "no":
        state = (
            messages.text("models_pictures_only" if takes == "only" else "models_pictures", locale) + state
        )
    return messages.text(
        "models_line",
        locale,
        name=shown_name(identity),
        star=" ⭐" if active else "",
        licence=identity.licence,
        width=v.width,
        height=v.height,
        frames=v.default_frames,
        seconds=seconds(settings, v.default_frames),
        fps=v.fps,
        steps=v.default_steps,
        guidance=v.default_guidance,
        rule=frames_rule(settings),
        state=model_extras(settings, locale) + state,
    )


def model_extras(settings: ModelSettings, locale: str) -> str:
    """` · LoRAs a ×1, b ×0.5 · 🔊 sound`: what a model adds beyond its checkpoint."""
    text = ""
    if settings.loras:
        names = ", ".join(f"{lora.name} ×{lora.scale:g}" for lora in settings.loras)
        text += messages.text("models_loras", locale, loras=names)
    if settings.audio and settings.preset.family.makes_audio:
        text += messages.text("models_sound", locale)
    return text


def frames_rule(settings: ModelSettings) -> str:
    """`5–81 frames, 4k+1` or `8–32 frames`."""
    v, rule = settings.limits, settings.preset.frame_rule
    text = f"{v.min_frames}–{v.max_frames}"
    return text if rule.any else f"{text}, {rule.describe()}"
