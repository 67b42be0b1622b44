"""Which video model a request gets, and what `/models` says about them.

The config names the models (`[models.NAME]`, or `[model]` as one named "default").  The
active default is the config's until an owner switches it (`/admin model NAME`), kept in
the store so it survives restarts and the shell's `videobot admin model` reaches a running
bot.  A chat's admins may let `--model` pick among some models only
(`/admin settings models wan,ms`); a chat that set none may pick any configured model.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.config import LEGACY_MODEL_NAME, Config, ModelSettings
from bot.core import messages
from bot.core.parsing import CommandError
from bot.core.types import ChatSettings
from bot.store import Store

ACTIVE_KEY = "active_model"


@dataclass(eq=False)
class Models:
    config: Config
    store: Store

    def names(self) -> tuple[str, ...]:
        return tuple(self.config.model_settings)

    @property
    def active(self) -> str:
        """The default model now: the owner's last switch if still configured, else the config's."""
        chosen = self.store.settings.get(ACTIVE_KEY)
        return chosen if chosen in self.config.model_settings else self.config.default_model

    def settings(self, name: str) -> ModelSettings:
        return self.config.model_for_job(name)

    def allowed(self, chat: ChatSettings) -> tuple[str, ...]:
        allowed = tuple(name for name in chat.models if name in self.config.model_settings)
        return allowed or self.names()

    def pick(self, requested: str | None, chat: ChatSettings) -> ModelSettings:
        """The model for a `/video` here: the one asked for if this chat allows it, else the default."""
        allowed = self.allowed(chat)
        if requested is None:
            active = self.active
            return self.settings(active if active in allowed else allowed[0])
        name = requested.strip().lower()
        if name not in self.config.model_settings:
            raise CommandError("model_unknown", model=requested, known=", ".join(allowed))
        if name not in allowed:
            raise CommandError("model_not_here", model=name, known=", ".join(allowed))
        return self.settings(name)

    def name_of(self, stored: str) -> str | None:
        """The configured model a job's stored model means (its name, hub id or folder), if any."""
        if stored in self.config.model_settings:
            return stored
        found = self.config.model_for_job(stored)
        return found.name if stored in (found.id, found.path) else None

    def takes_pictures(self, stored: str) -> bool:
        """Whether a job's model takes pictures, so its clips can be extended (docs/extend.md)."""
        return self.settings(stored).preset.pictures.taken

    def label(self, stored: str) -> str:
        """A job's model as users see it."""
        return shown_name(self.settings(stored))

    def switch(self, name: str) -> ModelSettings:
        """Make `name` the default for new jobs (queued ones keep the model they asked for)."""
        key = name.strip().lower()
        if key not in self.config.model_settings:
            raise CommandError("model_unknown", model=name, known=", ".join(self.names()))
        self.store.settings.set(ACTIVE_KEY, key)
        return self.settings(key)

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


def shown_name(settings: ModelSettings) -> str:
    """How users see a model: `[model]` alone by its hub id ("default" says nothing), else
    `wan (Wan-AI/Wan2.1-T2V-1.3B-Diffusers)`."""
    if settings.name in (LEGACY_MODEL_NAME, settings.id):
        return settings.id
    return f"{settings.name} ({settings.id})"


def seconds(settings: ModelSettings, frames: int) -> str:
    """`2.1 s`: a clip's length at the model's frame rate."""
    return f"{frames / settings.limits.fps:.1f} s"


def model_line(settings: ModelSettings, locale: str, *, active: bool, loaded: bool | None) -> str:
    """One `/models` line: name, licence, defaults (with seconds), whether it is loaded."""
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
        name=shown_name(settings),
        star=" ⭐" if active else "",
        licence=settings.licence,
        width=v.width,
        height=v.height,
        frames=v.default_frames,
        seconds=seconds(settings, v.default_frames),
        fps=v.fps,
        steps=v.default_steps,
        guidance=v.default_guidance,
        rule=frames_rule(settings),
        state=state,
    )


def frames_rule(settings: ModelSettings) -> str:
    """`5–81 frames, 4k+1` or `8–32 frames`."""
    v, rule = settings.limits, settings.preset.family.frames
    text = f"{v.min_frames}–{v.max_frames}"
    return text if rule.any else f"{text}, {rule.describe()}"
