"""Discord: slash commands and result buttons, translated into calls on the core.

The core answers through `DiscordOutbox`, naming messages by refs this module makes.
The core stores them in SQLite, so a ref must still work after a restart, without the
live discord.py objects:

- ``ix:<interaction id>:<born>:<token>``: where a command came from (`Request.reply_to`);
- ``wh:<message id | @original>:<born>:<token>``: a message sent through an interaction's
  webhook, editable with the token alone while it lives (15 minutes from `born`);
- ``ch:<channel id>:<message id>``: a channel message, editable and deletable for ever.
  A challenge announcement is named this way although it is the command's answer: it is
  replied to and threaded long after the token has expired.

`born` is our own clock's reading when the interaction arrived, so tests can age tokens
without waiting.
"""

# No `from __future__ import annotations`: the /video options are annotated with
# `app_commands.Range[...]` built from the config at run time, and discord.py reads them
# as objects (string annotations would be resolved in module globals, where they are not).

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Self, cast

import discord
import yarl
from discord import app_commands
from discord.app_commands import Range

from bot import __version__
from bot.config import DiscordConfig
from bot.core import menu, messages
from bot.core.admin import AUDIT_MAX, SETTINGS
from bot.core.challenges import StartArgs
from bot.core.parsing import MAX_SEED, VideoArgs
from bot.core.service import VideoService
from bot.core.types import Button, ChatRef, Delivery, Job, JobStatus, Request, Undeliverable, UserRef
from bot.encode import AI_LABEL

log = logging.getLogger(__name__)

PLATFORM = "discord"
MIB = 1024 * 1024
TOKEN_TTL_S = 15 * 60
# An upload can take a while: past this age a result goes to the channel instead.
FOLLOWUP_WINDOW_S = TOKEN_TTL_S - 60
EDIT_WINDOW_S = TOKEN_TTL_S - 10
# Discord wants an answer within 3 s; the core normally answers at once, but some commands
# edit or delete a message first, and a 429 there could eat the whole budget.
DEFER_AFTER_S = 2.0
RECENT_JOBS = 10
NO_MENTIONS = discord.AllowedMentions.none()
# discord.py types webhook message ids as int, but only formats them into the route, and
# Discord's alias for an interaction's first response is this word.
ORIGINAL = "@original"

JobChoices = list[app_commands.Choice[int]]
AnyCommand = app_commands.Command[Any, ..., None] | app_commands.Group
BUTTON_STYLES = {"delete": discord.ButtonStyle.danger, "vote": discord.ButtonStyle.success}
# A challenge thread archives after this long without messages (the longest Discord allows);
# posting an entry or the result into it wakes it up again.
THREAD_ARCHIVE_MINUTES: Literal[10080] = 10080
# How an admin command names a user in a text option: "<@123>" (a mention typed there) or a
# bare Discord id; "telegram:<id>" and "discord:<id>" go to the core as typed.
MENTION = re.compile(r"<@!?(\d+)>|(\d{15,21})")
QUOTES = "\"“”'"


def point_at(config: DiscordConfig) -> None:
    """Send discord.py's REST and gateway traffic where the config says (a proxy, a test server).

    discord.py has no option for this; these class attributes decide, and REST proxies such as
    nirn-proxy are used the same way.  Webhooks and interaction callbacks follow `Route.BASE`.
    """
    discord.http.Route.BASE = config.api_base_url.rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(config.gateway_url)


# refs -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OriginRef:
    """The interaction a command came in on."""

    interaction_id: int
    born: float
    token: str

    def __str__(self) -> str:
        return f"ix:{self.interaction_id}:{self.born:.3f}:{self.token}"


@dataclass(frozen=True)
class HookRef:
    """A message sent through an interaction's webhook."""

    message: str  # a message id, or ORIGINAL
    born: float
    token: str

    def __str__(self) -> str:
        return f"wh:{self.message}:{self.born:.3f}:{self.token}"


@dataclass(frozen=True)
class ChannelRef:
    """A plain channel message."""

    channel_id: int
    message_id: int

    def __str__(self) -> str:
        return f"ch:{self.channel_id}:{self.message_id}"


def parse_ref(ref: str | None) -> OriginRef | HookRef | ChannelRef | None:
    """Read a ref made here; anything else (another adapter's, a corrupt one) is None."""
    kind, _, rest = (ref or "").partition(":")
    try:
        if kind == "ix":
            interaction_id, born, token = rest.split(":", 2)
            return OriginRef(int(interaction_id), float(born), token)
        if kind == "wh":
            message, born, token = rest.split(":", 2)
            return HookRef(message, float(born), token)
        if kind == "ch":
            channel_id, message_id = rest.split(":")
            return ChannelRef(int(channel_id), int(message_id))
    except ValueError:
        pass
    return None


# the client ------------------------------------------------------------------------------


@dataclass
class _Live:
    """An interaction whose handler is still running: its first answer is the callback."""

    interaction: discord.Interaction[Any]
    origin: OriginRef
    private: bool  # answer everything ephemerally (button presses)
    defer_private: bool  # how a slow answer is deferred: as the expected answer will be
    lasting: bool = False  # name a public answer by its channel message (challenge announcements)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # the deferral timer vs the answer
    deferred: bool = False
    original_filled: bool = False


class _Tree(app_commands.CommandTree["VideoBotClient"]):
    async def on_error(
        self, interaction: discord.Interaction["VideoBotClient"], error: app_commands.AppCommandError
    ) -> None:
        """The core answers its own errors; this is for ours: log, and never leave the user hanging."""
        log.error("Discord command failed", exc_info=error)
        if not interaction.response.is_done():
            locale = messages.normalise_locale(str(interaction.locale))
            with contextlib.suppress(discord.HTTPException):
                await interaction.response.send_message(
                    messages.text("internal_error", locale), ephemeral=True
                )


class _CommandMenu(app_commands.Translator):
    """Top-level command descriptions in every language `menu.COMMANDS` speaks (Discord shows the user's).

    Subcommands are left alone: `/challenge cancel` is not `/cancel`, `/admin quota` not `/quota`.
    """

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        where = app_commands.TranslationContextLocation
        if context.location not in (where.command_description, where.group_description):
            return None
        if getattr(context.data, "parent", None) is not None:
            return None
        return _menu_texts(context.data.name).get(locale.value)


class VideoBotClient(discord.Client):
    """The Discord side of the bot: commands, buttons and the outbox, over one `VideoService`.

    `clock` dates interaction tokens (tests age them without waiting); other options go to
    `discord.Client` (tests pass a short `guild_ready_timeout`).
    """

    def __init__(
        self,
        service: VideoService,
        *,
        clock: Callable[[], float] = time.time,
        defer_after_s: float = DEFER_AFTER_S,
        **options: Any,
    ) -> None:
        options.setdefault("intents", discord.Intents(guilds=True))
        options.setdefault("allowed_mentions", NO_MENTIONS)
        super().__init__(**options)
        self.service = service
        self.clock = clock
        self.defer_after_s = defer_after_s
        self.tree = _Tree(self)
        self.outbox = DiscordOutbox(self)
        self.live: dict[int, _Live] = {}
        self._caught_up = False  # READY comes again after a lost session; catching up is once

    async def setup_hook(self) -> None:
        """Register the persistent buttons and sync the commands (to the test guild if set)."""
        self.add_dynamic_items(ResultButton)
        await self.tree.set_translator(_CommandMenu())
        guild_id = self.service.config.discord.test_guild_id
        guild = discord.Object(guild_id) if guild_id else None
        for command in build_commands(self):
            self.tree.add_command(command, guild=guild)
        synced = await self.tree.sync(guild=guild)
        where = f"to guild {guild_id}" if guild else "globally"
        log.info("synced %d Discord commands %s", len(synced), where)

    async def on_ready(self) -> None:
        """Connected: the first time, let the core deliver what waited for us (clips, failure notices)."""
        log.info("Discord connected as %s", self.user)
        if not self._caught_up:
            self._caught_up = True
            await self.service.platform_ready(PLATFORM)

    def request(
        self, interaction: discord.Interaction[Any], origin: OriginRef, chat_id: int | None = None
    ) -> Request:
        """Who asked and where (`chat_id`: instead of the interaction's channel).

        Admin: Manage Server in this guild (the core adds owners and roles).  Roles are given
        by name and by id, so `[admin] admin_roles` may name either.
        """
        user = interaction.user
        permissions = interaction.permissions
        manages = interaction.guild_id is not None and (permissions.manage_guild or permissions.administrator)
        roles: tuple[str, ...] = ()
        if isinstance(user, discord.Member):
            held = [role for role in user.roles if not role.is_default()]
            roles = tuple(role.name for role in held) + tuple(str(role.id) for role in held)
        return Request(
            user=UserRef(
                PLATFORM, str(user.id), user.display_name, messages.normalise_locale(str(interaction.locale))
            ),
            chat=ChatRef(
                PLATFORM, str(chat_id or interaction.channel_id), is_group=interaction.guild_id is not None
            ),
            reply_to=str(origin),
            is_admin=manages,
            roles=roles,
        )

    @contextlib.asynccontextmanager
    async def serving(
        self,
        interaction: discord.Interaction[Any],
        *,
        private: bool = False,
        public_answer: bool = False,
        lasting: bool = False,
        chat_id: int | None = None,
    ) -> AsyncIterator[Request]:
        """The `Request` for an interaction, answerable through the outbox while the handler runs.

        `private`: every answer is ephemeral (button presses).  `public_answer`: the answer we
        expect is public (the /video ack), which decides how a slow answer is deferred.
        `lasting`: a public answer is named by its channel message (`ch:`), not by the token.
        `chat_id`: the chat the core sees, instead of the interaction's channel.

        A handler the core answered nowhere here (its news went to the channel) gets a short
        "Done": Discord shows an error for an interaction left without an answer.
        """
        if interaction.channel_id is not None:
            self.outbox.upload_limits[str(interaction.channel_id)] = interaction.filesize_limit
        origin = OriginRef(interaction.id, self.clock(), interaction.token)
        defer_private = private or not public_answer
        live = _Live(interaction, origin, private, defer_private, lasting)
        self.live[interaction.id] = live
        timer = asyncio.create_task(self._defer_when_slow(live))
        try:
            yield self.request(interaction, origin, chat_id)
            locale = messages.normalise_locale(str(interaction.locale))
            await self.outbox.answer_if_silent(live, messages.text("command_done", locale))
        finally:
            timer.cancel()
            del self.live[interaction.id]

    async def _defer_when_slow(self, live: _Live) -> None:
        await asyncio.sleep(self.defer_after_s)
        async with live.lock:
            if not live.interaction.response.is_done():
                await live.interaction.response.defer(ephemeral=live.defer_private, thinking=True)
                live.deferred = True

    def token_fresh(self, born: float, window: float = EDIT_WINDOW_S) -> bool:
        return self.clock() - born < window

    def webhook(self, token: str) -> discord.Webhook:
        """The webhook of the interaction with `token`: it needs only the app id, so it survives restarts."""
        assert self.application_id is not None, "used before login"
        return discord.Webhook.partial(self.application_id, token, client=self)


# the outbox -------------------------------------------------------------------------------


class DiscordOutbox:
    """The core's `Outbox`: interaction answers and follow-ups while a token lives, channel messages after."""

    def __init__(self, client: VideoBotClient) -> None:
        self.client = client
        self.default_limit = client.service.config.discord.max_upload_mb * MIB
        self.upload_limits: dict[str, int] = {}  # channel id -> last attachment limit Discord told us

    def upload_limit(self, chat: ChatRef) -> int:
        return self.upload_limits.get(chat.id, self.default_limit)

    async def send_text(
        self,
        chat: ChatRef,
        text: str,
        *,
        reply_to: str | None = None,
        private: bool = False,
        user: UserRef | None = None,
    ) -> str | None:
        origin = parse_ref(reply_to)
        if isinstance(origin, OriginRef):
            live = self.client.live.get(origin.interaction_id)
            if live is not None:
                private = private or live.private
                answered = await self._answer_live(live, text, private)
                if answered is not None:
                    return answered
            if self.client.token_fresh(origin.born):
                webhook = self.client.webhook(origin.token)
                message = await webhook.send(text, ephemeral=private, wait=True, allowed_mentions=NO_MENTIONS)
                if live is not None and live.lasting and not private:
                    return str(ChannelRef(message.channel.id, message.id))
                return str(HookRef(str(message.id), origin.born, origin.token))
        # No interaction to answer (or its token expired): say it in the channel, to the person,
        # as a reply where the ref names a message in that channel (a winning clip, an announcement).
        content = f"<@{user.id}> {text}" if user else text
        sent = await self._channel(chat).send(
            content, allowed_mentions=_only(user), reference=_reply_in(chat, origin)
        )
        return str(ChannelRef(sent.channel.id, sent.id))

    async def _answer_live(self, live: _Live, text: str, private: bool) -> str | None:
        """The interaction's first answer, in its callback or in place of the deferral; else None."""
        original = str(HookRef(ORIGINAL, live.origin.born, live.origin.token))
        lasting = live.lasting and not private
        async with live.lock:
            response = live.interaction.response
            if not response.is_done():
                answer = await response.send_message(text, ephemeral=private, allowed_mentions=NO_MENTIONS)
                live.original_filled = True
                if lasting:
                    message_id = answer.message_id or (await live.interaction.original_response()).id
                    return str(ChannelRef(_channel_id(live.interaction), message_id))
                return original
            if live.deferred and not live.original_filled:
                live.original_filled = True
                if private == live.defer_private:
                    message = await live.interaction.edit_original_response(content=text)
                    return str(ChannelRef(message.channel.id, message.id)) if lasting else original
                # The "thinking…" message has the wrong visibility for this answer.
                await live.interaction.delete_original_response()
        return None

    async def answer_if_silent(self, live: _Live, text: str) -> None:
        """Answer an interaction nothing answered yet (ephemerally, or in place of its deferral)."""
        async with live.lock:
            if not live.interaction.response.is_done():
                await live.interaction.response.send_message(text, ephemeral=True)
            elif live.deferred and not live.original_filled:
                await live.interaction.edit_original_response(content=text)
            live.original_filled = True

    async def edit_text(self, chat: ChatRef, message: str, text: str) -> bool:
        """Edit a message; False where that is no longer possible (its interaction token expired)."""
        ref = parse_ref(message)
        if isinstance(ref, HookRef):
            if not self.client.token_fresh(ref.born):
                log.debug("not editing %s: its interaction token has expired", ref.message)
                return False
            webhook = self.client.webhook(ref.token)
            await webhook.edit_message(_message_id(ref.message), content=text, allowed_mentions=NO_MENTIONS)
            return True
        if isinstance(ref, ChannelRef):
            await self._channel_of(ref.channel_id).get_partial_message(ref.message_id).edit(content=text)
            return True
        return False

    async def send_video(self, delivery: Delivery) -> str:
        """Post a clip as a follow-up while the token lives, else in the channel mentioning its owner.

        A challenge entry always goes to `chat` itself (the challenge's thread, or a reply to
        its announcement): the interaction's webhook would post where `/challenge enter` was typed.
        Raises on failure: the core retries, and keeps the clip for later if it still fails.
        """
        job, clip, chat, user = delivery.job, delivery.clip, delivery.chat, delivery.user
        embed = result_embed(delivery.caption, job)
        view = result_view(delivery.buttons)
        filename = f"videobot-{job.id}.mp4"
        entry = delivery.is_challenge_entry
        for ref in () if entry else (parse_ref(delivery.reply_to), parse_ref(delivery.status_message)):
            if isinstance(ref, OriginRef | HookRef) and self.client.token_fresh(ref.born, FOLLOWUP_WINDOW_S):
                try:
                    webhook = self.client.webhook(ref.token)
                    sent = await webhook.send(
                        embed=embed, view=view, file=discord.File(clip.path, filename), wait=True
                    )
                except discord.NotFound:
                    log.info("Discord forgot the interaction; posting the clip in the channel instead")
                    break
                return str(ChannelRef(sent.channel.id, sent.id))
        mention = f"<@{user.id}>"
        content = messages.text("caption_late", user.locale, mention=mention, caption="").strip()
        try:
            message = await self._channel(chat).send(
                content,
                embed=embed,
                view=view,
                file=discord.File(clip.path, filename),
                allowed_mentions=_only(user),
                reference=_reply_in(chat, parse_ref(delivery.reply_to)),
            )
        except (discord.Forbidden, discord.NotFound) as error:
            raise Undeliverable(str(error)) from error
        return str(ChannelRef(message.channel.id, message.id))

    async def delete(self, chat: ChatRef, message: str) -> None:
        ref = parse_ref(message)
        try:
            if isinstance(ref, ChannelRef):
                await self._channel_of(ref.channel_id).get_partial_message(ref.message_id).delete()
            elif isinstance(ref, HookRef):
                if self.client.token_fresh(ref.born):
                    webhook = self.client.webhook(ref.token)
                    await webhook.delete_message(_message_id(ref.message))
                elif ref.message.isdigit():
                    await self._channel(chat).get_partial_message(int(ref.message)).delete()
        except discord.NotFound:
            pass  # already gone: what the caller wanted

    async def edit_buttons(self, chat: ChatRef, message: str, buttons: Sequence[Button]) -> None:
        """New buttons (a vote count) under a message; the text and the clip stay."""
        ref = parse_ref(message)
        if isinstance(ref, ChannelRef):
            await (
                self._channel_of(ref.channel_id)
                .get_partial_message(ref.message_id)
                .edit(view=result_view(buttons))
            )
        elif isinstance(ref, HookRef) and self.client.token_fresh(ref.born):
            webhook = self.client.webhook(ref.token)
            await webhook.edit_message(_message_id(ref.message), view=result_view(buttons))

    async def open_thread(self, chat: ChatRef, message: str, name: str) -> ChatRef | None:
        """A public thread started on `message`; None where Discord has none (DMs, lost messages)."""
        ref = parse_ref(message)
        try:
            if isinstance(ref, HookRef) and self.client.token_fresh(ref.born):
                found = await self.client.webhook(ref.token).fetch_message(_message_id(ref.message))
                ref = ChannelRef(found.channel.id, found.id)
            if not isinstance(ref, ChannelRef):
                return None
            channel_id = ref.channel_id
            channel = self.client.get_channel(channel_id) or await self.client.fetch_channel(channel_id)
            if not isinstance(channel, discord.TextChannel):
                return None
            thread = await channel.get_partial_message(ref.message_id).create_thread(
                name=name[:100] or "challenge", auto_archive_duration=THREAD_ARCHIVE_MINUTES
            )
        except discord.HTTPException:  # Forbidden too: no Create Public Threads here
            log.info("could not open a thread on %s", message, exc_info=True)
            return None
        return ChatRef(PLATFORM, str(thread.id), is_group=True)

    async def show_activity(self, chat: ChatRef) -> None:
        """Nothing: the status message already says "sending", and typing would spend rate limit."""
        return None

    def _channel(self, chat: ChatRef) -> discord.PartialMessageable:
        return self._channel_of(int(chat.id))

    def _channel_of(self, channel_id: int) -> discord.PartialMessageable:
        return self.client.get_partial_messageable(channel_id)


def _only(user: UserRef | None) -> discord.AllowedMentions:
    """Ping the person a message is for, and nobody else (prompts can contain mentions)."""
    if user is None:
        return NO_MENTIONS
    return discord.AllowedMentions(everyone=False, roles=False, users=[discord.Object(int(user.id))])


def _message_id(message: str) -> int:
    return cast(int, message) if message == ORIGINAL else int(message)


def _channel_id(interaction: discord.Interaction[Any]) -> int:
    assert interaction.channel_id is not None, "interactions with an answer come from a channel"
    return interaction.channel_id


def _reply_in(chat: ChatRef, ref: OriginRef | HookRef | ChannelRef | None) -> Any:
    """`send(reference=…)`: a reply to `ref` where it names a message in `chat`, else None.

    Discord replies only within a channel.  A message deleted meanwhile (a removed clip)
    makes it a plain message, not an error.  (Typed Any: `send` takes None, but its
    overloads do not say so.)
    """
    if not isinstance(ref, ChannelRef) or str(ref.channel_id) != chat.id:
        return None
    return discord.MessageReference(
        message_id=ref.message_id, channel_id=ref.channel_id, fail_if_not_exists=False
    )


def result_embed(caption: str, job: Job) -> discord.Embed:
    """The card under a clip: the core's caption (prompt, seed, steps, AI label) plus the model."""
    embed = discord.Embed(description=caption[:4096], colour=discord.Colour.blurple())
    embed.add_field(name="model", value=job.model[:1024] or "?")
    embed.set_footer(text=f"{AI_LABEL} {__version__}")
    return embed


def result_view(buttons: Sequence[Button]) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for button in buttons:
        view.add_item(ResultButton(button.action, button.job_id, button.label))
    return view


# buttons ---------------------------------------------------------------------------------


class ResultButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=r"videobot:(?P<action>[a-z]+):(?P<job>[0-9]+)",
):
    """🔁 🎲 ℹ 🗑 👍 under a clip.  The custom id carries action and job, so presses work after a restart.

    Any action is passed on: the core knows which exist (and answers the rest politely).
    """

    def __init__(self, action: str, job_id: int, label: str) -> None:
        style = BUTTON_STYLES.get(action, discord.ButtonStyle.secondary)
        super().__init__(discord.ui.Button(label=label, style=style, custom_id=f"videobot:{action}:{job_id}"))
        self.action = action
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str]
    ) -> Self:
        label = getattr(item, "label", None) or match["action"]
        return cls(match["action"], int(match["job"]), label)

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        client = cast(VideoBotClient, interaction.client)
        async with client.serving(interaction, private=True) as req:
            await client.service.button(req, self.action, self.job_id)


# commands --------------------------------------------------------------------------------


def build_commands(client: VideoBotClient) -> list[AnyCommand]:
    """The slash commands, with option ranges from the config so Discord itself checks them too.

    The core checks them again (and explains in the user's language): Discord's own check
    only covers clients that respect the declared ranges.
    """
    service = client.service
    v = service.config.video

    @app_commands.command(name="video", description=_menu("video"))
    @app_commands.describe(
        prompt="What the video shows",
        seed=f"Random seed, 0–{MAX_SEED}; the same seed and settings give the same clip",
        negative="What to keep out of the video",
        frames=f"Number of frames, {v.min_frames}–{v.max_frames} (default {v.default_frames})",
        steps=f"Denoising steps, {v.min_steps}–{v.max_steps} (default {v.default_steps})",
        guidance=f"How closely to follow the prompt, {v.min_guidance}–{v.max_guidance} "
        f"(default {v.default_guidance})",
    )
    async def video(
        interaction: discord.Interaction[Any],
        prompt: Range[str, 1, v.max_prompt_chars],
        seed: Range[int, 0, MAX_SEED] | None = None,
        negative: Range[str, None, v.max_prompt_chars] | None = None,
        frames: Range[int, v.min_frames, v.max_frames] | None = None,
        steps: Range[int, v.min_steps, v.max_steps] | None = None,
        guidance: Range[float, v.min_guidance, v.max_guidance] | None = None,
    ) -> None:
        async with client.serving(interaction, public_answer=True) as req:
            await service.video(req, VideoArgs(prompt, seed, negative, frames, steps, guidance))

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
    cancel.autocomplete("job")(unfinished_jobs)
    return [video, cancel, queue, quota, info, help_, *challenge_commands(client), admin_commands(client)]


def challenge_commands(client: VideoBotClient) -> list[AnyCommand]:
    """`/challenge start|enter|status|end|cancel` and `/leaderboard`, passed to the core typed.

    Who may start, end or cancel is the core's call (Discord permissions cannot tell
    subcommands apart); so is where entries go (the challenge's thread, when it has one).
    """
    service = client.service
    v, c = service.config.video, service.config.challenges
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
            await service.challenge_start(req, args)

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
            await service.challenge_enter(req, VideoArgs(prompt, seed=seed, frames=frames, steps=steps))

    @group.command(name="status", description="Theme, entries, votes so far and time left")
    async def status(interaction: discord.Interaction[Any]) -> None:
        async with client.serving(interaction) as req:
            await service.challenge_status(req)

    @group.command(name="end", description="Close voting now and announce the winner (admins)")
    async def end(interaction: discord.Interaction[Any]) -> None:
        async with client.serving(interaction) as req:
            await service.challenge_stop(req, cancel=False)

    @group.command(name="cancel", description="Call the challenge off, with no winner (admins)")
    async def cancel(interaction: discord.Interaction[Any]) -> None:
        async with client.serving(interaction, public_answer=True) as req:
            await service.challenge_stop(req, cancel=True)

    @app_commands.command(name="leaderboard", description=_menu("leaderboard"))
    async def leaderboard(interaction: discord.Interaction[Any]) -> None:
        # A challenge's thread belongs to its channel: the board there is the channel's.
        channel = interaction.channel
        parent = channel.parent_id if isinstance(channel, discord.Thread) else None
        async with client.serving(interaction, public_answer=True, chat_id=parent) as req:
            await service.leaderboard(req)

    return [group, leaderboard]


def admin_commands(client: VideoBotClient) -> app_commands.Group:
    """`/admin …`, translated to the core's text grammar; the core refuses non-admins.

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

    async def run(
        interaction: discord.Interaction[Any],
        head: str,
        user: discord.Member | discord.User | None = None,
        who: str | None = None,
        *tail: str | None,
    ) -> None:
        target, mentioned = _target(user, who)
        argument = " ".join(word for word in (head, target, *tail) if word)
        async with client.serving(interaction) as req:
            await service.admin(req, argument, mentioned)

    @quota.command(name="show", description="A user's clips used and left today")
    @app_commands.describe(user=user_help, who=who_help)
    async def quota_show(
        interaction: discord.Interaction[Any],
        user: discord.Member | discord.User | None = None,
        who: str | None = None,
    ) -> None:
        await run(interaction, "quota show", user, who)

    @quota.command(name="set", description="A user's own daily limit")
    @app_commands.describe(limit="Clips per day (0–10000), or 'default'", user=user_help, who=who_help)
    async def quota_set(
        interaction: discord.Interaction[Any],
        limit: Range[str, 1, 10],
        user: discord.Member | discord.User | None = None,
        who: str | None = None,
    ) -> None:
        await run(interaction, "quota set", user, who, limit)

    @quota.command(name="reset", description="Give a user today's clips back")
    @app_commands.describe(user=user_help, who=who_help)
    async def quota_reset(
        interaction: discord.Interaction[Any],
        user: discord.Member | discord.User | None = None,
        who: str | None = None,
    ) -> None:
        await run(interaction, "quota reset", user, who)

    @group.command(name="ban", description="Stop a user from using the bot; their waiting jobs are cancelled")
    @app_commands.describe(user=user_help, who=who_help, reason="Why (shown to them)")
    async def ban(
        interaction: discord.Interaction[Any],
        user: discord.Member | discord.User | None = None,
        who: str | None = None,
        reason: Range[str, 1, 200] | None = None,
    ) -> None:
        await run(interaction, "ban", user, who, reason)

    @group.command(name="unban", description="Let a banned user back in")
    @app_commands.describe(user=user_help, who=who_help)
    async def unban(
        interaction: discord.Interaction[Any],
        user: discord.Member | discord.User | None = None,
        who: str | None = None,
    ) -> None:
        await run(interaction, "unban", user, who)

    @group.command(name="queue", description="Every job running and waiting, with its owner")
    async def queue(interaction: discord.Interaction[Any]) -> None:
        await run(interaction, "queue")

    @group.command(name="purge", description="Cancel waiting jobs: one user's, or everyone's")
    @app_commands.describe(user="Only this user's (default: everyone's)", who=who_help)
    async def purge(
        interaction: discord.Interaction[Any],
        user: discord.Member | discord.User | None = None,
        who: str | None = None,
    ) -> None:
        await run(interaction, "purge", user, who)

    @group.command(name="settings", description="This channel's limits and switches; no options shows them")
    @app_commands.describe(
        key="What to change", value="A number or 'default' for limits; on or off for challenges and enabled"
    )
    @app_commands.choices(key=[app_commands.Choice(name=key, value=key) for key in SETTINGS])
    async def settings(
        interaction: discord.Interaction[Any],
        key: app_commands.Choice[str] | None = None,
        value: Range[str, 1, 10] | None = None,
    ) -> None:
        await run(interaction, "settings", None, None, key.value if key else None, value)

    @group.command(name="audit", description="The latest admin actions in this channel")
    @app_commands.describe(n=f"How many, 1–{AUDIT_MAX} (default 10)")
    async def audit(interaction: discord.Interaction[Any], n: Range[int, 1, AUDIT_MAX] | None = None) -> None:
        await run(interaction, "audit", None, None, str(n) if n is not None else None)

    return group


def _target(user: discord.Member | discord.User | None, who: str | None) -> tuple[str | None, UserRef | None]:
    """Whom an admin command is about, as the core names users, and the picked user if any.

    `who` wins when both are given; a `who` that names nobody is passed on unchanged (the
    core answers that it needs a user) rather than falling back on the picked user.
    """
    if who and who.strip():
        typed = "".join(who.split())
        mention = MENTION.fullmatch(typed)
        return (f"{PLATFORM}:{mention[1] or mention[2]}" if mention else typed), None
    if user is not None:
        picked = UserRef(PLATFORM, str(user.id), user.display_name)
        return picked.key, picked
    return None, None


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


# entry point -----------------------------------------------------------------------------


async def run_client(client: VideoBotClient, token: str, stop: asyncio.Event) -> None:
    """Log in, stay connected (discord.py reconnects), close on `stop`."""
    async with client:
        await client.login(token)
        connection = asyncio.create_task(client.connect(reconnect=True), name="discord-gateway")
        stopping = asyncio.create_task(stop.wait(), name="discord-stop")
        try:
            await asyncio.wait({connection, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            await client.close()
            if not connection.done():
                with contextlib.suppress(asyncio.CancelledError):
                    await connection
        connection.result()  # a gateway that gave up (bad token, intents) stops the bot with its reason


__all__ = [
    "DiscordOutbox",
    "ResultButton",
    "VideoBotClient",
    "build_commands",
    "parse_ref",
    "point_at",
    "run_client",
]
