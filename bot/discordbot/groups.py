"""`/challenge …` and `/admin …`: `app_commands.Group` subclasses, discord.py's own idiom, each
handing its subcommands to the core typed.

No `from __future__ import annotations`: discord.py reads the options' annotations as objects.
Ranges that the config sets (a theme's length, entries per person) are declared here at Discord's
generous bounds; the core checks the configured ones and answers in the user's language.
"""

import re
from typing import Any

import discord
from discord import app_commands
from discord.app_commands import Range

from bot.core.admin import AUDIT_MAX, SETTINGS, AdminAction, AdminCommand
from bot.core.challenges import StartArgs
from bot.core.credentials import Upload
from bot.core.options import BY_FIELD, VideoArgs
from bot.discordbot.commands import _menu, _t, video_command
from bot.discordbot.interactions import Interactions
from bot.discordbot.refs import PLATFORM
from bot.domain import Request, UserRef

# How an admin command names a user in a text option: "<@123>" (a mention typed there) or a
# bare Discord id; "telegram:<id>" and "discord:<id>" go to the core as typed.
MENTION = re.compile(r"<@!?(\d+)>|(\d{15,21})")
THEME_CHARS = 1000  # Discord's check; the core checks `[challenges] max_theme_chars`
ENTRIES = 100  # likewise `[challenges] max_entries`
USER_HELP = _t("discord_admin_user")
WHO_HELP = _t("discord_admin_who")
Member = discord.Member | discord.User | None


class ChallengeCommands(app_commands.Group, name="challenge", description=_menu("challenge")):
    """`/challenge start|enter|status|end|cancel`.  Who may start, end or cancel is the core's
    call (Discord permissions cannot tell subcommands apart); so is where entries go."""

    def __init__(self, interactions: Interactions) -> None:
        super().__init__()
        self.interactions = interactions
        service = interactions.service

        async def enter(req: Request, args: VideoArgs, picture: Upload | None) -> None:
            await service.challenge.enter(req, args)

        # the configured default shows in the description (the decorator ran before any config)
        start = self.get_command("start")
        assert isinstance(start, app_commands.Command)
        default = service.config.challenges.default_max_entries
        start._params["max_entries"].description = _t("discord_challenge_max_entries", default=default)
        options = [BY_FIELD[name] for name in ("seed", "frames", "steps")]
        words = _t("discord_challenge_enter")
        self.add_command(
            video_command(interactions, "enter", words, options, enter, [], "discord_challenge_prompt")
        )

    @app_commands.command(name="start", description=_t("discord_challenge_start"))
    @app_commands.describe(
        theme=_t("discord_challenge_theme"),
        duration=_t("discord_challenge_duration"),
        max_entries=_t("discord_challenge_max_entries", default=1),
        required_words=_t("discord_challenge_required_words"),
        free=_t("discord_challenge_free"),
    )
    async def start(
        self,
        interaction: discord.Interaction[Any],
        theme: Range[str, 1, THEME_CHARS],
        duration: Range[str, 1, 20] | None = None,
        max_entries: Range[int, 1, ENTRIES] | None = None,
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
        async with self.interactions.serving(interaction, public_answer=True, lasting=True) as req:
            await self.interactions.service.challenge.start(req, args)

    @app_commands.command(name="status", description=_t("discord_challenge_status"))
    async def status(self, interaction: discord.Interaction[Any]) -> None:
        async with self.interactions.serving(interaction) as req:
            await self.interactions.service.challenge.status(req)

    @app_commands.command(name="end", description=_t("discord_challenge_end"))
    async def end(self, interaction: discord.Interaction[Any]) -> None:
        async with self.interactions.serving(interaction) as req:
            await self.interactions.service.challenge.stop(req, cancel=False)

    @app_commands.command(name="cancel", description=_t("discord_challenge_cancel"))
    async def cancel(self, interaction: discord.Interaction[Any]) -> None:
        async with self.interactions.serving(interaction, public_answer=True) as req:
            await self.interactions.service.challenge.stop(req, cancel=True)


def leaderboard_command(interactions: Interactions) -> app_commands.Command[Any, ..., None]:
    """`/leaderboard`: a challenge's thread belongs to its channel, so the board there is the channel's."""

    async def leaderboard(interaction: discord.Interaction[Any]) -> None:
        channel = interaction.channel
        parent = channel.parent_id if isinstance(channel, discord.Thread) else None
        async with interactions.serving(interaction, public_answer=True, chat_id=parent) as req:
            await interactions.service.challenge.leaderboard(req)

    return app_commands.Command(name="leaderboard", description=_menu("leaderboard"), callback=leaderboard)


class AdminCommands(
    app_commands.Group,
    name="admin",
    description=_menu("admin"),
    default_permissions=discord.Permissions(manage_guild=True),
):
    """`/admin …`, handed to the core as a typed `AdminCommand`; the core refuses non-admins.

    Discord shows the group only to members with Manage Server (server admins can grant it to a
    role under Server Settings → Integrations), but that is advice to the client: the core checks
    every call.  A user is named by `user` (a member picker) or by `who`: `discord:<id>`,
    `telegram:<id>`, a mention or a Discord id.
    """

    quota = app_commands.Group(name="quota", description=_t("discord_admin_quota"))

    def __init__(self, interactions: Interactions) -> None:
        super().__init__()
        self.interactions = interactions
        names = [app_commands.Choice(name=n, value=n) for n in interactions.service.config.model_settings][
            :25
        ]
        self.add_command(self._model_command(names))

    async def run(self, interaction: discord.Interaction[Any], command: AdminCommand) -> None:
        async with self.interactions.serving(interaction) as req:
            await self.interactions.service.admin.command(req, command)

    @quota.command(name="show", description=_t("discord_admin_quota_show"))
    @app_commands.describe(user=USER_HELP, who=WHO_HELP)
    async def quota_show(
        self, interaction: discord.Interaction[Any], user: Member = None, who: str | None = None
    ) -> None:
        await self.run(interaction, AdminCommand(AdminAction.QUOTA_SHOW, _target(user, who)))

    @quota.command(name="set", description=_t("discord_admin_quota_set"))
    @app_commands.describe(limit=_t("discord_admin_quota_limit"), user=USER_HELP, who=WHO_HELP)
    async def quota_set(
        self,
        interaction: discord.Interaction[Any],
        limit: Range[str, 1, 10],
        user: Member = None,
        who: str | None = None,
    ) -> None:
        command = AdminCommand(AdminAction.QUOTA_SET, _target(user, who), value=limit.strip())
        await self.run(interaction, command)

    @quota.command(name="reset", description=_t("discord_admin_quota_reset"))
    @app_commands.describe(user=USER_HELP, who=WHO_HELP)
    async def quota_reset(
        self, interaction: discord.Interaction[Any], user: Member = None, who: str | None = None
    ) -> None:
        await self.run(interaction, AdminCommand(AdminAction.QUOTA_RESET, _target(user, who)))

    @app_commands.command(name="ban", description=_t("discord_admin_ban"))
    @app_commands.describe(user=USER_HELP, who=WHO_HELP, reason=_t("discord_admin_ban_reason"))
    async def ban(
        self,
        interaction: discord.Interaction[Any],
        user: Member = None,
        who: str | None = None,
        reason: Range[str, 1, 200] | None = None,
    ) -> None:
        command = AdminCommand(AdminAction.BAN, _target(user, who), reason=(reason or "").strip())
        await self.run(interaction, command)

    @app_commands.command(name="unban", description=_t("discord_admin_unban"))
    @app_commands.describe(user=USER_HELP, who=WHO_HELP)
    async def unban(
        self, interaction: discord.Interaction[Any], user: Member = None, who: str | None = None
    ) -> None:
        await self.run(interaction, AdminCommand(AdminAction.UNBAN, _target(user, who)))

    @app_commands.command(name="queue", description=_t("discord_admin_queue"))
    async def queue(self, interaction: discord.Interaction[Any]) -> None:
        await self.run(interaction, AdminCommand(AdminAction.QUEUE))

    @app_commands.command(name="purge", description=_t("discord_admin_purge"))
    @app_commands.describe(user=_t("discord_admin_purge_user"), who=WHO_HELP)
    async def purge(
        self, interaction: discord.Interaction[Any], user: Member = None, who: str | None = None
    ) -> None:
        await self.run(interaction, AdminCommand(AdminAction.PURGE, _target(user, who)))

    @app_commands.command(name="settings", description=_t("discord_admin_settings"))
    @app_commands.describe(key=_t("discord_admin_settings_key"), value=_t("discord_admin_settings_value"))
    @app_commands.choices(key=[app_commands.Choice(name=key, value=key) for key in SETTINGS])
    async def settings(
        self,
        interaction: discord.Interaction[Any],
        key: app_commands.Choice[str] | None = None,
        value: Range[str, 1, 100] | None = None,
    ) -> None:
        setting = AdminCommand(AdminAction.SETTINGS, setting=key.value if key else None, value=value)
        await self.run(interaction, setting)

    @app_commands.command(name="audit", description=_t("discord_admin_audit"))
    @app_commands.describe(n=_t("discord_admin_audit_n", max=AUDIT_MAX))
    async def audit(
        self, interaction: discord.Interaction[Any], n: Range[int, 1, AUDIT_MAX] | None = None
    ) -> None:
        await self.run(interaction, AdminCommand(AdminAction.AUDIT, count=n))

    def _model_command(self, names: list[app_commands.Choice[str]]) -> app_commands.Command[Any, ..., None]:
        """`/admin model NAME`: its choices are the configured models, known only at run time."""

        @app_commands.command(name="model", description=_t("discord_admin_model"))
        @app_commands.describe(name=_t("discord_admin_model_name"))
        @app_commands.choices(name=names)
        async def model(interaction: discord.Interaction[Any], name: app_commands.Choice[str]) -> None:
            await self.run(interaction, AdminCommand(AdminAction.MODEL, value=name.value))

        return model


def _target(user: Member, who: str | None) -> str | None:
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
