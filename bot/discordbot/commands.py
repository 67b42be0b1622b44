"""The slash commands (/video, /cancel, /challenge, /admin …), translated into calls on the core."""

# No `from __future__ import annotations`: the /video options are annotated with
# `app_commands.Range[...]` built from the config at run time, and discord.py reads them
# as objects (string annotations would be resolved in module globals, where they are not).

import inspect
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import discord
from discord import app_commands
from discord.app_commands import Range

from bot.config import VideoConfig
from bot.core import menu, messages
from bot.core.admin import AUDIT_MAX, SETTINGS, AdminAction, AdminCommand
from bot.core.challenges import StartArgs
from bot.core.credentials import Upload
from bot.core.options import BY_FIELD, OPTIONS, Kind, Option, VideoArgs
from bot.core.types import Job, JobStatus, Request, UserRef
from bot.discordbot.host import Host
from bot.discordbot.refs import PLATFORM

RECENT_JOBS = 10
JobChoices = list[app_commands.Choice[int]]
AnyCommand = app_commands.Command[Any, ..., None] | app_commands.Group
# How an admin command names a user in a text option: "<@123>" (a mention typed there) or a
# bare Discord id; "telegram:<id>" and "discord:<id>" go to the core as typed.
MENTION = re.compile(r"<@!?(\d+)>|(\d{15,21})")


def build_commands(client: Host) -> list[AnyCommand]:
    """The slash commands, with option ranges from the config so Discord itself checks them too.

    The core checks them again (and explains in the user's language): Discord's own check
    only covers clients that respect the declared ranges.
    """
    service = client.service
    v = service.config.widest_limits()
    model_choices = [
        app_commands.Choice(
            name=_t("discord_model_pictures", name=name) if _takes_pictures(settings) else name, value=name
        )
        for name, settings in service.config.model_settings.items()
    ][:25]

    async def queue_video(req: Request, args: VideoArgs, picture: Upload | None) -> None:
        await service.video(req, args, picture=picture)

    video = video_command(client, "video", _menu("video"), OPTIONS, queue_video, model_choices)

    @app_commands.command(name="extend", description=_menu("extend"))
    @app_commands.describe(job=_t("discord_extend_job"), prompt=_t("discord_extend_prompt"))
    async def extend(
        interaction: discord.Interaction[Any],
        job: Range[int, 1],
        prompt: Range[str, 1, v.max_prompt_chars] | None = None,
    ) -> None:
        async with client.serving(interaction, public_answer=True) as req:
            await service.extend(req, job, prompt)

    @app_commands.command(name="cancel", description=_menu("cancel"))
    @app_commands.describe(job=_t("discord_cancel_job"))
    async def cancel(interaction: discord.Interaction[Any], job: Range[int, 1] | None = None) -> None:
        async with client.serving(interaction) as req:
            await service.cancel(req, str(job) if job is not None else None)

    @app_commands.command(name="queue", description=_menu("queue"))
    async def queue(interaction: discord.Interaction[Any]) -> None:
        async with client.serving(interaction) as req:
            await service.queue_status(req)

    @app_commands.command(name="quota", description=_menu("quota"))
    async def quota(interaction: discord.Interaction[Any]) -> None:
        async with client.serving(interaction) as req:
            await service.quota(req)

    @app_commands.command(name="info", description=_menu("info"))
    @app_commands.describe(job=_t("discord_info_job"))
    async def info(interaction: discord.Interaction[Any], job: Range[int, 1] | None = None) -> None:
        async with client.serving(interaction) as req:
            await service.info(req, job)

    @app_commands.command(name="models", description=_menu("models"))
    async def models(interaction: discord.Interaction[Any]) -> None:
        async with client.serving(interaction) as req:
            await service.list_models(req)

    @app_commands.command(name="verify", description=_menu("verify"))
    @app_commands.describe(clip=_t("discord_verify_clip"))
    async def verify(interaction: discord.Interaction[Any], clip: discord.Attachment) -> None:
        async with client.serving(interaction, public_answer=True) as req:
            await service.verify(req, Upload(clip.size, clip.read))

    @app_commands.command(name="help", description=_menu("help"))
    async def help_(interaction: discord.Interaction[Any]) -> None:
        async with client.serving(interaction) as req:
            await service.help(req)

    def jobs_of(interaction: discord.Interaction[Any]) -> list[Job]:
        return service.recent_jobs(UserRef(PLATFORM, str(interaction.user.id)), RECENT_JOBS)

    async def recent_jobs(interaction: discord.Interaction[Any], current: str) -> JobChoices:
        return _job_choices(jobs_of(interaction), current)

    async def unfinished_jobs(interaction: discord.Interaction[Any], current: str) -> JobChoices:
        waiting = (JobStatus.QUEUED, JobStatus.RUNNING)
        return _job_choices([j for j in jobs_of(interaction) if j.status in waiting], current)

    info.autocomplete("job")(recent_jobs)
    extend.autocomplete("job")(recent_jobs)
    cancel.autocomplete("job")(unfinished_jobs)
    return [
        video, extend, cancel, queue, quota, info, verify, models, help_, *challenge_commands(client),
        admin_commands(client),
    ]  # fmt: skip


def video_command(
    client: Host,
    name: str,
    description: app_commands.locale_str,
    options: Sequence[Option],
    act: Callable[[Request, VideoArgs, Upload | None], Awaitable[None]],
    model_choices: list[app_commands.Choice[str]],
    prompt_words: str = "discord_video_prompt",
) -> app_commands.Command[Any, ..., None]:
    """A command whose parameters are the prompt and `options`, one per row of the option table
    (`bot.core.options`): its type and Discord-checked range, its words, its choices."""
    v = client.service.config.widest_limits()

    async def callback(interaction: discord.Interaction[Any], prompt: str, **given: Any) -> None:
        image = given.pop("image", None)
        values = {k: x.value if isinstance(x, app_commands.Choice) else x for k, x in given.items()}
        async with client.serving(interaction, public_answer=True) as req:
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


def challenge_commands(client: Host) -> list[AnyCommand]:
    """`/challenge start|enter|status|end|cancel` and `/leaderboard`, passed to the core typed.

    Who may start, end or cancel is the core's call (Discord permissions cannot tell
    subcommands apart); so is where entries go (the challenge's thread, when it has one).
    """
    service = client.service
    c = service.config.challenges
    group = app_commands.Group(name="challenge", description=_menu("challenge"))

    @group.command(name="start", description=_t("discord_challenge_start"))
    @app_commands.describe(
        theme=_t("discord_challenge_theme"),
        duration=_t("discord_challenge_duration"),
        max_entries=_t("discord_challenge_max_entries", default=c.default_max_entries),
        required_words=_t("discord_challenge_required_words"),
        free=_t("discord_challenge_free"),
    )
    async def start(
        interaction: discord.Interaction[Any],
        theme: Range[str, 1, c.max_theme_chars],
        duration: Range[str, 1, 20] | None = None,
        max_entries: Range[int, 1, c.max_entries] | None = None,
        required_words: Range[str, 1, 200] | None = None,
        free: bool = False,
    ) -> None:
        args = StartArgs(
            theme,
            max_entries_per_user=max_entries,
            required_words=(required_words,) if required_words else (),
            free_entries=free,
            duration_text=duration,
        )
        async with client.serving(interaction, public_answer=True, lasting=True) as req:
            await service.challenge.start(req, args)

    async def enter(req: Request, args: VideoArgs, picture: Upload | None) -> None:
        await service.challenge.enter(req, args)

    entry_options = [BY_FIELD[name] for name in ("seed", "frames", "steps")]
    group.add_command(
        video_command(
            client,
            "enter",
            _t("discord_challenge_enter"),
            entry_options,
            enter,
            [],
            "discord_challenge_prompt",
        )
    )

    @group.command(name="status", description=_t("discord_challenge_status"))
    async def status(interaction: discord.Interaction[Any]) -> None:
        async with client.serving(interaction) as req:
            await service.challenge.status(req)

    @group.command(name="end", description=_t("discord_challenge_end"))
    async def end(interaction: discord.Interaction[Any]) -> None:
        async with client.serving(interaction) as req:
            await service.challenge.stop(req, cancel=False)

    @group.command(name="cancel", description=_t("discord_challenge_cancel"))
    async def cancel(interaction: discord.Interaction[Any]) -> None:
        async with client.serving(interaction, public_answer=True) as req:
            await service.challenge.stop(req, cancel=True)

    @app_commands.command(name="leaderboard", description=_menu("leaderboard"))
    async def leaderboard(interaction: discord.Interaction[Any]) -> None:
        # A challenge's thread belongs to its channel: the board there is the channel's.
        channel = interaction.channel
        parent = channel.parent_id if isinstance(channel, discord.Thread) else None
        async with client.serving(interaction, public_answer=True, chat_id=parent) as req:
            await service.challenge.leaderboard(req)

    return [group, leaderboard]


def admin_commands(client: Host) -> app_commands.Group:
    """`/admin …`, handed to the core as a typed `AdminCommand`; the core refuses non-admins.

    Discord shows the group only to members with Manage Server (server admins can grant
    it to a role under Server Settings → Integrations), but that is advice to the client:
    the core checks every call.  A user is named by the `user` option (a member picker) or
    by `who`: `discord:<id>`, `telegram:<id>`, a mention or a Discord id.
    """
    service = client.service
    group = app_commands.Group(
        name="admin", description=_menu("admin"), default_permissions=discord.Permissions(manage_guild=True)
    )
    quota = app_commands.Group(name="quota", description=_t("discord_admin_quota"), parent=group)
    user_help = _t("discord_admin_user")
    who_help = _t("discord_admin_who")

    async def run(interaction: discord.Interaction[Any], command: AdminCommand) -> None:
        async with client.serving(interaction) as req:
            await service.admin.command(req, command)

    @quota.command(name="show", description=_t("discord_admin_quota_show"))
    @app_commands.describe(user=user_help, who=who_help)
    async def quota_show(
        interaction: discord.Interaction[Any],
        user: discord.Member | discord.User | None = None,
        who: str | None = None,
    ) -> None:
        await run(interaction, AdminCommand(AdminAction.QUOTA_SHOW, _target(user, who)))

    @quota.command(name="set", description=_t("discord_admin_quota_set"))
    @app_commands.describe(limit=_t("discord_admin_quota_limit"), user=user_help, who=who_help)
    async def quota_set(
        interaction: discord.Interaction[Any],
        limit: Range[str, 1, 10],
        user: discord.Member | discord.User | None = None,
        who: str | None = None,
    ) -> None:
        await run(interaction, AdminCommand(AdminAction.QUOTA_SET, _target(user, who), value=limit.strip()))

    @quota.command(name="reset", description=_t("discord_admin_quota_reset"))
    @app_commands.describe(user=user_help, who=who_help)
    async def quota_reset(
        interaction: discord.Interaction[Any],
        user: discord.Member | discord.User | None = None,
        who: str | None = None,
    ) -> None:
        await run(interaction, AdminCommand(AdminAction.QUOTA_RESET, _target(user, who)))

    @group.command(name="ban", description=_t("discord_admin_ban"))
    @app_commands.describe(user=user_help, who=who_help, reason=_t("discord_admin_ban_reason"))
    async def ban(
        interaction: discord.Interaction[Any],
        user: discord.Member | discord.User | None = None,
        who: str | None = None,
        reason: Range[str, 1, 200] | None = None,
    ) -> None:
        await run(
            interaction, AdminCommand(AdminAction.BAN, _target(user, who), reason=(reason or "").strip())
        )

    @group.command(name="unban", description=_t("discord_admin_unban"))
    @app_commands.describe(user=user_help, who=who_help)
    async def unban(
        interaction: discord.Interaction[Any],
        user: discord.Member | discord.User | None = None,
        who: str | None = None,
    ) -> None:
        await run(interaction, AdminCommand(AdminAction.UNBAN, _target(user, who)))

    @group.command(name="queue", description=_t("discord_admin_queue"))
    async def queue(interaction: discord.Interaction[Any]) -> None:
        await run(interaction, AdminCommand(AdminAction.QUEUE))

    @group.command(name="purge", description=_t("discord_admin_purge"))
    @app_commands.describe(user=_t("discord_admin_purge_user"), who=who_help)
    async def purge(
        interaction: discord.Interaction[Any],
        user: discord.Member | discord.User | None = None,
        who: str | None = None,
    ) -> None:
        await run(interaction, AdminCommand(AdminAction.PURGE, _target(user, who)))

    @group.command(name="settings", description=_t("discord_admin_settings"))
    @app_commands.describe(
        key=_t("discord_admin_settings_key"),
        value=_t("discord_admin_settings_value"),
    )
    @app_commands.choices(key=[app_commands.Choice(name=key, value=key) for key in SETTINGS])
    async def settings(
        interaction: discord.Interaction[Any],
        key: app_commands.Choice[str] | None = None,
        value: Range[str, 1, 100] | None = None,
    ) -> None:
        setting = AdminCommand(AdminAction.SETTINGS, setting=key.value if key else None, value=value)
        await run(interaction, setting)

    @group.command(name="model", description=_t("discord_admin_model"))
    @app_commands.describe(name=_t("discord_admin_model_name"))
    @app_commands.choices(
        name=[app_commands.Choice(name=n, value=n) for n in client.service.config.model_settings][:25]
    )
    async def model(interaction: discord.Interaction[Any], name: app_commands.Choice[str]) -> None:
        await run(interaction, AdminCommand(AdminAction.MODEL, value=name.value))

    @group.command(name="audit", description=_t("discord_admin_audit"))
    @app_commands.describe(n=_t("discord_admin_audit_n", max=AUDIT_MAX))
    async def audit(interaction: discord.Interaction[Any], n: Range[int, 1, AUDIT_MAX] | None = None) -> None:
        await run(interaction, AdminCommand(AdminAction.AUDIT, count=n))

    return group


def _target(user: discord.Member | discord.User | None, who: str | None) -> str | None:
    """Whom an admin command is about, as the core names users ("discord:<id>").

    `who` wins when both are given; a `who` that names nobody is passed on unchanged (the
    core answers that it needs a user) rather than falling back on the picked user.
    """
    if who and who.strip():
        typed = "".join(who.split())
        mention = MENTION.fullmatch(typed)
        return f"{PLATFORM}:{mention[1] or mention[2]}" if mention else typed
    if user is not None:
        return UserRef(PLATFORM, str(user.id)).key
    return None


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
        self, client: Host, picture: discord.Attachment, locale: str = messages.DEFAULT_LOCALE
    ) -> None:
        super().__init__(title=messages.text("discord_animate_title", locale))
        self.prompt.label = messages.text("discord_animate_prompt", locale)
        self.prompt.placeholder = messages.text("discord_animate_prompt_hint", locale)
        self.options.label = messages.text("discord_animate_options", locale)
        self.client = client
        self.picture = picture

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        async with self.client.serving(interaction, public_answer=True) as req:
            text = f"{self.prompt.value} {self.options.value or ''}".strip()
            await self.client.service.video_text(
                req, text, picture=Upload(self.picture.size, self.picture.read)
            )


def animate_command(client: Host) -> app_commands.ContextMenu:
    """Apps → Animate on any message with a picture: a form for the prompt, then `/video`."""

    async def animate(interaction: discord.Interaction[Any], message: discord.Message) -> None:
        picture = next((a for a in message.attachments if (a.content_type or "").startswith("image/")), None)
        locale = messages.normalise_locale(str(interaction.locale))
        if picture is None:
            await interaction.response.send_message(
                messages.text("animate_no_picture", locale), ephemeral=True
            )
            return
        await interaction.response.send_modal(AnimateModal(client, picture, locale))

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
