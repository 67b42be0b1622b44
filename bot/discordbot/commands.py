"""The slash commands (/video, /cancel, /challenge, /admin …), translated into calls on the core."""

# No `from __future__ import annotations`: the /video options are annotated with
# `app_commands.Range[...]` built from the config at run time, and discord.py reads them
# as objects (string annotations would be resolved in module globals, where they are not).

import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import discord
from discord import app_commands
from discord.app_commands import Range

from bot.core import menu, messages
from bot.core.credentials import Upload
from bot.core.options import OPTIONS, Kind, Option, VideoArgs
from bot.discordbot.interactions import Interactions
from bot.discordbot.refs import PLATFORM
from bot.domain import Job, JobStatus, Request, UserRef
from bot.settings.sections import VideoConfig

RECENT_JOBS = 10
JobChoices = list[app_commands.Choice[int]]
AnyCommand = app_commands.Command[Any, ..., None] | app_commands.Group


def build_commands(interactions: Interactions) -> list[AnyCommand]:
    """The top-level slash commands (`/challenge` and `/admin` are `bot.discordbot.groups`), with
    option ranges from the config so Discord itself checks them too.

    The core checks them again (and explains in the user's language): Discord's own check
    only covers clients that respect the declared ranges.
    """
    service = interactions.service
    v = service.config.widest_limits()
    model_choices = [
        app_commands.Choice(
            name=_t("discord_model_pictures", name=name) if _takes_pictures(settings) else name, value=name
        )
        for name, settings in service.config.model_settings.items()
    ][:25]

    async def queue_video(req: Request, args: VideoArgs, picture: Upload | None) -> None:
        await service.video(req, args, picture=picture)

    video = video_command(interactions, "video", _menu("video"), OPTIONS, queue_video, model_choices)

    @app_commands.command(name="extend", description=_menu("extend"))
    @app_commands.describe(
        job=_t("discord_extend_job"),
        prompt=_t("discord_extend_prompt"),
        smooth=_t("discord_video_smooth"),
        hd=_t("discord_video_hd"),
    )
    async def extend(
        interaction: discord.Interaction[Any],
        job: Range[int, 1],
        prompt: Range[str, 1, v.max_prompt_chars] | None = None,
        smooth: bool = False,
        hd: bool = False,
    ) -> None:
        async with interactions.serving(interaction, public_answer=True) as req:
            await service.extend(req, job, prompt, smooth=smooth, hd=hd)

    @app_commands.command(name="cancel", description=_menu("cancel"))
    @app_commands.describe(job=_t("discord_cancel_job"))
    async def cancel(interaction: discord.Interaction[Any], job: Range[int, 1] | None = None) -> None:
        async with interactions.serving(interaction) as req:
            await service.cancel(req, str(job) if job is not None else None)

    @app_commands.command(name="queue", description=_menu("queue"))
    async def queue(interaction: discord.Interaction[Any]) -> None:
        async with interactions.serving(interaction) as req:
            await service.queue_status(req)

    @app_commands.command(name="quota", description=_menu("quota"))
    async def quota(interaction: discord.Interaction[Any]) -> None:
        async with interactions.serving(interaction) as req:
            await service.quota(req)

    @app_commands.command(name="info", description=_menu("info"))
    @app_commands.describe(job=_t("discord_info_job"))
    async def info(interaction: discord.Interaction[Any], job: Range[int, 1] | None = None) -> None:
        async with interactions.serving(interaction) as req:
            await service.info(req, job)

    @app_commands.command(name="models", description=_menu("models"))
    async def models(interaction: discord.Interaction[Any]) -> None:
        async with interactions.serving(interaction) as req:
            await service.list_models(req)

    @app_commands.command(name="verify", description=_menu("verify"))
    @app_commands.describe(clip=_t("discord_verify_clip"))
    async def verify(interaction: discord.Interaction[Any], clip: discord.Attachment) -> None:
        async with interactions.serving(interaction, public_answer=True) as req:
            await service.verify(req, Upload(clip.size, clip.read))

    @app_commands.command(name="help", description=_menu("help"))
    async def help_(interaction: discord.Interaction[Any]) -> None:
        async with interactions.serving(interaction) as req:
            await service.help(req)

    _job_choices_for(interactions, recent=(info, extend), unfinished=(cancel,))
    return [video, extend, cancel, queue, quota, info, verify, models, help_]


def _job_choices_for(
    interactions: Interactions,
    recent: Sequence[app_commands.Command[Any, ..., None]],
    unfinished: Sequence[app_commands.Command[Any, ..., None]],
) -> None:
    """The `job` option of each command offers the user's recent (or unfinished) jobs."""

    def jobs_of(interaction: discord.Interaction[Any]) -> list[Job]:
        return interactions.service.recent_jobs(UserRef(PLATFORM, str(interaction.user.id)), RECENT_JOBS)

    async def recent_jobs(interaction: discord.Interaction[Any], current: str) -> JobChoices:
        return _job_choices(jobs_of(interaction), current)

    async def unfinished_jobs(interaction: discord.Interaction[Any], current: str) -> JobChoices:
        waiting = (JobStatus.QUEUED, JobStatus.RUNNING)
        return _job_choices([j for j in jobs_of(interaction) if j.status in waiting], current)

    for command in recent:
        command.autocomplete("job")(recent_jobs)
    for command in unfinished:
        command.autocomplete("job")(unfinished_jobs)


def video_command(
    interactions: Interactions,
    name: str,
    description: app_commands.locale_str,
    options: Sequence[Option],
    act: Callable[[Request, VideoArgs, Upload | None], Awaitable[None]],
    model_choices: list[app_commands.Choice[str]],
    prompt_words: str = "discord_video_prompt",
) -> app_commands.Command[Any, ..., None]:
    """A command whose parameters are the prompt and `options`, one per row of the option table
    (`bot.core.options`): its type and Discord-checked range, its words, its choices."""
    v = interactions.service.config.widest_limits()

    async def callback(interaction: discord.Interaction[Any], prompt: str, **given: Any) -> None:
        image = given.pop("image", None)
        values = {k: x.value if isinstance(x, app_commands.Choice) else x for k, x in given.items()}
        async with interactions.serving(interaction, public_answer=True) as req:
            await act(req, VideoArgs(prompt, **values), Upload(image.size, image.read) if image else None)

    keyword = inspect.Parameter.KEYWORD_ONLY
    first = inspect.Parameter("interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    prompt = inspect.Parameter("prompt", keyword, annotation=Range[str, 1, v.max_prompt_chars])
    table = [
        inspect.Parameter(
            o.field, keyword, annotation=_annotation(o, v), default=False if o.kind == Kind.FLAG else None
        )
        for o in options
    ]
    callback.__signature__ = inspect.Signature([first, prompt, *table])  # type: ignore[attr-defined]
    words = {o.field: _t(o.words, **o.word_values(v)) for o in options}
    choices = {o.field: _choices(o, model_choices) for o in options if o.kind in (Kind.CHOICE, Kind.NAME)}
    described = app_commands.describe(prompt=_t(prompt_words), **words)(callback)
    chosen = app_commands.choices(**choices)(described) if choices else described
    return app_commands.command(name=name, description=description)(chosen)


def _annotation(option: Option, v: VideoConfig) -> Any:
    """How Discord types (and bounds, with the widest model's range) one option of the table."""
    if option.kind == Kind.FLAG:
        return bool
    if option.kind == Kind.PICTURE:
        return discord.Attachment | None
    if option.kind in (Kind.CHOICE, Kind.NAME):
        return app_commands.Choice[str] | None
    if option.kind == Kind.TEXT:
        return Range[str, None, v.max_prompt_chars] | None
    low, high = option.limits(v) or (None, None)
    return (Range[int, low, high] if option.kind == Kind.INTEGER else Range[float, low, high]) | None


def _choices(option: Option, model_choices: list[app_commands.Choice[str]]) -> list[app_commands.Choice[str]]:
    if option.kind == Kind.NAME:
        return model_choices
    return [app_commands.Choice(name=choice, value=choice) for choice in option.choices]


def _takes_pictures(settings: Any) -> bool:
    return bool(settings.preset.pictures.taken)


class AnimateModal(discord.ui.Modal, title="Animate this picture"):
    """The prompt (and options) for the picture of the message Animate was used on, in the
    user's language (a form is sent per use, so it is not the translator's)."""

    prompt: discord.ui.TextInput[Any] = discord.ui.TextInput(
        label="Prompt", placeholder="what happens in the clip", max_length=1000
    )
    options: discord.ui.TextInput[Any] = discord.ui.TextInput(
        label="Options", placeholder="--seed 5 --model ltx --frames 33", required=False, max_length=300
    )

    def __init__(
        self, interactions: Interactions, picture: discord.Attachment, locale: str = messages.DEFAULT_LOCALE
    ) -> None:
        super().__init__(title=messages.text("discord_animate_title", locale))
        self.prompt.label = messages.text("discord_animate_prompt", locale)
        self.prompt.placeholder = messages.text("discord_animate_prompt_hint", locale)
        self.options.label = messages.text("discord_animate_options", locale)
        self.interactions = interactions
        self.picture = picture

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        async with self.interactions.serving(interaction, public_answer=True) as req:
            text = f"{self.prompt.value} {self.options.value or ''}".strip()
            await self.interactions.service.video_text(
                req, text, picture=Upload(self.picture.size, self.picture.read)
            )


def animate_command(interactions: Interactions) -> app_commands.ContextMenu:
    """Apps → Animate on any message with a picture: a form for the prompt, then `/video`."""

    async def animate(interaction: discord.Interaction[Any], message: discord.Message) -> None:
        picture = next((a for a in message.attachments if (a.content_type or "").startswith("image/")), None)
        locale = messages.normalise_locale(str(interaction.locale))
        if picture is None:
            await interaction.response.send_message(
                messages.text("animate_no_picture", locale), ephemeral=True
            )
            return
        await interaction.response.send_modal(AnimateModal(interactions, picture, locale))

    return app_commands.ContextMenu(name=_t("discord_animate"), callback=animate)


def _menu(command: str) -> app_commands.locale_str:
    """A top-level command's description, from the core's one list of commands."""
    return _t(menu.BY_NAME[command].key)


def _t(key: str, **values: Any) -> app_commands.locale_str:
    """A string Discord shows, in English, carrying its catalogue key and values for `Words`."""
    return app_commands.locale_str(messages.text(key, **values), key=key, **values)


class Words(app_commands.Translator):
    """Every string made with `_t` (descriptions, choices, the Animate menu item) in each
    language the catalogues speak; Discord shows each user theirs.  Command and option names
    stay as typed: they are the interface."""

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        values = dict(string.extras)
        key = values.pop("key", None)
        language = messages.normalise_locale(locale.value)
        if key is None or language == messages.DEFAULT_LOCALE:
            return None
        return messages.text(key, language, **values)


def _job_choices(jobs: Sequence[Job], current: object) -> JobChoices:
    """Autocomplete entries like "#12 a cat surfing", filtered by what the user typed so far."""
    typed = str(current or "").strip().lstrip("#").lower()
    return [
        app_commands.Choice(name=f"#{job.id} {job.params.prompt}"[:100], value=job.id)
        for job in jobs
        if not typed or str(job.id).startswith(typed) or typed in job.params.prompt.lower()
    ][:25]
