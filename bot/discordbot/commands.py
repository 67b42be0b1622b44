"""The slash commands (/video, /cancel, /challenge, /admin …), translated into calls on the core."""

# No `from __future__ import annotations`: the /video options are annotated with
# `app_commands.Range[...]` built from the config at run time, and discord.py reads them
# as objects (string annotations would be resolved in module globals, where they are not).

import re
from collections.abc import Sequence
from typing import Any

import discord
from discord import app_commands
from discord.app_commands import Range

from bot.core import menu, messages
from bot.core.admin import AUDIT_MAX, SETTINGS, AdminAction, AdminCommand
from bot.core.challenges import StartArgs
from bot.core.credentials import Upload
from bot.core.parsing import MAX_SEED, VideoArgs
from bot.core.types import Job, JobStatus, UserRef
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
        app_commands.Choice(name=f"{name} 🖼 pictures" if _takes_pictures(settings) else name, value=name)
        for name, settings in service.config.model_settings.items()
    ][:25]

    @app_commands.command(name="video", description=_menu("video"))
    @app_commands.choices(model=model_choices)
    @app_commands.describe(
        model="Which video model (see /models); default: the bot's default",
        prompt="What the video shows",
        seed=f"Random seed, 0–{MAX_SEED}; the same seed and settings give the same clip",
        negative="What to keep out of the video",
        frames=f"Number of frames, {v.min_frames}–{v.max_frames} (default {v.default_frames})",
        steps=f"Denoising steps, {v.min_steps}–{v.max_steps} (default {v.default_steps})",
        guidance=f"How closely to follow the prompt, {v.min_guidance}–{v.max_guidance} "
        f"(default {v.default_guidance})",
        image="A picture to animate (JPEG, PNG or WebP) with a model marked 🖼",
        silent="No soundtrack, even from a model that makes sound",
        loop="A clip whose last frame leads back into its first",
    )
    async def video(
        interaction: discord.Interaction[Any],
        prompt: Range[str, 1, v.max_prompt_chars],
        seed: Range[int, 0, MAX_SEED] | None = None,
        negative: Range[str, None, v.max_prompt_chars] | None = None,
        frames: Range[int, v.min_frames, v.max_frames] | None = None,
        steps: Range[int, v.min_steps, v.max_steps] | None = None,
        guidance: Range[float, v.min_guidance, v.max_guidance] | None = None,
        model: app_commands.Choice[str] | None = None,
        image: discord.Attachment | None = None,
        silent: bool = False,
        loop: bool = False,
    ) -> None:
        async with client.serving(interaction, public_answer=True) as req:
            chosen = model.value if model else None
            args = VideoArgs(
                prompt, seed, negative, frames, steps, guidance, chosen, silent=silent, loop=loop
            )
            await service.video(req, args, picture=Upload(image.size, image.read) if image else None)

    @app_commands.command(name="extend", description=_menu("extend"))
    @app_commands.describe(
        job="Which clip to make longer", prompt="What happens next (default: the clip's own prompt)"
    )
    async def extend(
        interaction: discord.Interaction[Any],
        job: Range[int, 1],
        prompt: Range[str, 1, v.max_prompt_chars] | None = None,
    ) -> None:
        async with client.serving(interaction, public_answer=True) as req:
            await service.extend(req, job, prompt)

    @app_commands.command(name="cancel", description=_menu("cancel"))
    @app_commands.describe(job="Which video (default: your latest unfinished one)")
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
    @app_commands.describe(job="Which video (default: your latest)")
    async def info(interaction: discord.Interaction[Any], job: Range[int, 1] | None = None) -> None:
        async with client.serving(interaction) as req:
            await service.info(req, job)

    @app_commands.command(name="models", description=_menu("models"))
    async def models(interaction: discord.Interaction[Any]) -> None:
        async with client.serving(interaction) as req:
            await service.list_models(req)

    @app_commands.command(name="verify", description=_menu("verify"))
    @app_commands.describe(clip="The video to check (an MP4)")
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


def challenge_commands(client: Host) -> list[AnyCommand]:
    """`/challenge start|enter|status|end|cancel` and `/leaderboard`, passed to the core typed.

    Who may start, end or cancel is the core's call (Discord permissions cannot tell
    subcommands apart); so is where entries go (the challenge's thread, when it has one).
    """
    service = client.service
    v, c = service.config.widest_limits(), service.config.challenges
    group = app_commands.Group(name="challenge", description=_menu("challenge"))

    @group.command(name="start", description="Start a prompt challenge in this channel (admins)")
    @app_commands.describe(
        theme="What the entries should show",
        duration="How long voting stays open, like 2h, 30m or 1d12h (default 24h)",
        max_entries=f"Entries per person (default {c.default_max_entries})",
        required_words="Words every entry's prompt must contain, separated by spaces or commas",
        free="Entries don't count against the daily quota",
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

    @group.command(name="enter", description="Enter the running challenge with a prompt")
    @app_commands.describe(
        prompt="What your entry shows",
        seed=f"Random seed, 0–{MAX_SEED}",
        frames=f"Number of frames, {v.min_frames}–{v.max_frames} (default {v.default_frames})",
        steps=f"Denoising steps, {v.min_steps}–{v.max_steps} (default {v.default_steps})",
    )
    async def enter(
        interaction: discord.Interaction[Any],
        prompt: Range[str, 1, v.max_prompt_chars],
        seed: Range[int, 0, MAX_SEED] | None = None,
        frames: Range[int, v.min_frames, v.max_frames] | None = None,
        steps: Range[int, v.min_steps, v.max_steps] | None = None,
    ) -> None:
        async with client.serving(interaction, public_answer=True) as req:
            await service.challenge.enter(req, VideoArgs(prompt, seed=seed, frames=frames, steps=steps))

    @group.command(name="status", description="Theme, entries, votes so far and time left")
    async def status(interaction: discord.Interaction[Any]) -> None:
        async with client.serving(interaction) as req:
            await service.challenge.status(req)

    @group.command(name="end", description="Close voting now and announce the winner (admins)")
    async def end(interaction: discord.Interaction[Any]) -> None:
        async with client.serving(interaction) as req:
            await service.challenge.stop(req, cancel=False)

    @group.command(name="cancel", description="Call the challenge off, with no winner (admins)")
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
    quota = app_commands.Group(name="quota", description="A user's daily clips", parent=group)
    user_help = "The user, picked from this server"
    who_help = "Or: telegram:<id>, discord:<id>, a mention or a Discord user id"

    async def run(interaction: discord.Interaction[Any], command: AdminCommand) -> None:
        async with client.serving(interaction) as req:
            await service.admin.command(req, command)

    @quota.command(name="show", description="A user's clips used and left today")
    @app_commands.describe(user=user_help, who=who_help)
    async def quota_show(
        interaction: discord.Interaction[Any],
        user: discord.Member | discord.User | None = None,
        who: str | None = None,
    ) -> None:
        await run(interaction, AdminCommand(AdminAction.QUOTA_SHOW, _target(user, who)))

    @quota.command(name="set", description="A user's own daily limit")
    @app_commands.describe(limit="Clips per day (0–10000), or 'default'", user=user_help, who=who_help)
    async def quota_set(
        interaction: discord.Interaction[Any],
        limit: Range[str, 1, 10],
        user: discord.Member | discord.User | None = None,
        who: str | None = None,
    ) -> None:
        await run(interaction, AdminCommand(AdminAction.QUOTA_SET, _target(user, who), value=limit.strip()))

    @quota.command(name="reset", description="Give a user today's clips back")
    @app_commands.describe(user=user_help, who=who_help)
    async def quota_reset(
        interaction: discord.Interaction[Any],
        user: discord.Member | discord.User | None = None,
        who: str | None = None,
    ) -> None:
        await run(interaction, AdminCommand(AdminAction.QUOTA_RESET, _target(user, who)))

    @group.command(name="ban", description="Stop a user from using the bot; their waiting jobs are cancelled")
    @app_commands.describe(user=user_help, who=who_help, reason="Why (shown to them)")
    async def ban(
        interaction: discord.Interaction[Any],
        user: discord.Member | discord.User | None = None,
        who: str | None = None,
        reason: Range[str, 1, 200] | None = None,
    ) -> None:
        await run(
            interaction, AdminCommand(AdminAction.BAN, _target(user, who), reason=(reason or "").strip())
        )

    @group.command(name="unban", description="Let a banned user back in")
    @app_commands.describe(user=user_help, who=who_help)
    async def unban(
        interaction: discord.Interaction[Any],
        user: discord.Member | discord.User | None = None,
        who: str | None = None,
    ) -> None:
        await run(interaction, AdminCommand(AdminAction.UNBAN, _target(user, who)))

    @group.command(name="queue", description="Every job running and waiting, with its owner")
    async def queue(interaction: discord.Interaction[Any]) -> None:
        await run(interaction, AdminCommand(AdminAction.QUEUE))

    @group.command(name="purge", description="Cancel waiting jobs: one user's, or everyone's")
    @app_commands.describe(user="Only this user's (default: everyone's)", who=who_help)
    async def purge(
        interaction: discord.Interaction[Any],
        user: discord.Member | discord.User | None = None,
        who: str | None = None,
    ) -> None:
        await run(interaction, AdminCommand(AdminAction.PURGE, _target(user, who)))

    @group.command(name="settings", description="This channel's limits and switches; no options shows them")
    @app_commands.describe(
        key="What to change",
        value="A number or 'default' for limits; on or off for the switches; models: wan,ms or all",
    )
    @app_commands.choices(key=[app_commands.Choice(name=key, value=key) for key in SETTINGS])
    async def settings(
        interaction: discord.Interaction[Any],
        key: app_commands.Choice[str] | None = None,
        value: Range[str, 1, 100] | None = None,
    ) -> None:
        setting = AdminCommand(AdminAction.SETTINGS, setting=key.value if key else None, value=value)
        await run(interaction, setting)

    @group.command(name="model", description="Switch the default video model for new videos (bot owners)")
    @app_commands.describe(name="The model new videos use; queued ones keep theirs")
    @app_commands.choices(
        name=[app_commands.Choice(name=n, value=n) for n in client.service.config.model_settings][:25]
    )
    async def model(interaction: discord.Interaction[Any], name: app_commands.Choice[str]) -> None:
        await run(interaction, AdminCommand(AdminAction.MODEL, value=name.value))

    @group.command(name="audit", description="The latest admin actions in this channel")
    @app_commands.describe(n=f"How many, 1–{AUDIT_MAX} (default 10)")
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


ANIMATE = "Animate"  # the message command's name, as people see it in the Apps menu


class AnimateModal(discord.ui.Modal, title="Animate this picture"):
    """The prompt (and options) for the picture of the message Animate was used on."""

    prompt: discord.ui.TextInput[Any] = discord.ui.TextInput(
        label="Prompt", placeholder="what happens in the clip", max_length=1000
    )
    options: discord.ui.TextInput[Any] = discord.ui.TextInput(
        label="Options", placeholder="--seed 5 --model ltx --frames 33", required=False, max_length=300
    )

    def __init__(self, client: Host, picture: discord.Attachment) -> None:
        super().__init__()
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
        if picture is None:
            locale = messages.normalise_locale(str(interaction.locale))
            await interaction.response.send_message(
                messages.text("animate_no_picture", locale), ephemeral=True
            )
            return
        await interaction.response.send_modal(AnimateModal(client, picture))

    return app_commands.ContextMenu(name=ANIMATE, callback=animate)


def _menu_texts(command: str) -> dict[str, str]:
    """A command's description by language, from the core's one list of commands."""
    spec = menu.BY_NAME.get(command)
    return spec.description if spec else {}


def _menu(command: str) -> str:
    return _menu_texts(command)[messages.DEFAULT_LOCALE]


def _job_choices(jobs: Sequence[Job], current: object) -> JobChoices:
    """Autocomplete entries like "#12 a cat surfing", filtered by what the user typed so far."""
    typed = str(current or "").strip().lstrip("#").lower()
    return [
        app_commands.Choice(name=f"#{job.id} {job.params.prompt}"[:100], value=job.id)
        for job in jobs
        if not typed or str(job.id).startswith(typed) or typed in job.params.prompt.lower()
    ][:25]
