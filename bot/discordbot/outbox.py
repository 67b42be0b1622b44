"""The core's `Outbox` on Discord: answers, follow-ups and channel messages, named by refs."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any, Literal, cast

import discord

from bot import __version__
from bot.core import messages
from bot.discordbot.buttons import ResultButton
from bot.discordbot.interactions import NO_MENTIONS, Interactions
from bot.discordbot.refs import (
    FOLLOWUP_WINDOW_S,
    ORIGINAL,
    PLATFORM,
    ChannelRef,
    HookRef,
    OriginRef,
    parse_ref,
)
from bot.domain import Button, ChatRef, Delivery, Job, Undeliverable, UserRef
from bot.encode import AI_LABEL

# One name for the whole adapter's log, as before it was split into modules.
log = logging.getLogger(__name__)

MIB = 1024 * 1024
CONTENT_MAX = 2000  # characters in a message's content
MENTION_ROOM = 30  # "<@snowflake> " put before a text sent to the channel
# A challenge thread archives after this long without messages (the longest Discord allows);
# posting an entry or the result into it wakes it up again.
THREAD_ARCHIVE_MINUTES: Literal[10080] = 10080


class DiscordOutbox:
    """The core's `Outbox`: interaction answers and follow-ups while a token lives, channel messages after."""

    def __init__(self, interactions: Interactions) -> None:
        self.interactions = interactions
        self.client = interactions.client
        self.default_limit = interactions.service.config.discord.max_upload_mb * MIB

    def upload_limit(self, chat: ChatRef) -> int:
        return self.interactions.upload_limits.get(chat.id, self.default_limit)

    async def send_text(
        self,
        chat: ChatRef,
        text: str,
        *,
        reply_to: str | None = None,
        private: bool = False,
        user: UserRef | None = None,
    ) -> str | None:
        # Discord refuses longer content outright
        text = messages.fit(plain(text), CONTENT_MAX - MENTION_ROOM)
        origin = parse_ref(reply_to)
        if isinstance(origin, OriginRef):
            live = self.interactions.live.get(origin.interaction_id)
            if live is not None:
                private = private or live.private
                answered = await self.interactions.answer_live(live, text, private)
                if answered is not None:
                    return answered
            if self.interactions.token_fresh(origin.born):
                webhook = self.interactions.webhook(origin.token)
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

    async def edit_text(self, chat: ChatRef, message: str, text: str) -> bool:
        """Edit a message; False where that is no longer possible (its interaction token expired)."""
        text = messages.fit(plain(text), CONTENT_MAX)
        ref = parse_ref(message)
        if isinstance(ref, HookRef):
            if not self.interactions.token_fresh(ref.born):
                log.debug("not editing %s: its interaction token has expired", ref.message)
                return False
            webhook = self.interactions.webhook(ref.token)
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
        embed = result_embed(delivery.caption, job, delivery.model)
        view = result_view(delivery.buttons)
        filename = f"videobot-{job.id}.mp4"
        entry = delivery.is_challenge_entry
        for ref in () if entry else (parse_ref(delivery.reply_to), parse_ref(delivery.status_message)):
            if isinstance(ref, OriginRef | HookRef) and self.interactions.token_fresh(
                ref.born, FOLLOWUP_WINDOW_S
            ):
                try:
                    webhook = self.interactions.webhook(ref.token)
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
                if self.interactions.token_fresh(ref.born):
                    webhook = self.interactions.webhook(ref.token)
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
        elif isinstance(ref, HookRef) and self.interactions.token_fresh(ref.born):
            webhook = self.interactions.webhook(ref.token)
            await webhook.edit_message(_message_id(ref.message), view=result_view(buttons))

    async def open_thread(self, chat: ChatRef, message: str, name: str) -> ChatRef | None:
        """A public thread started on `message`; None where Discord has none (DMs, lost messages)."""
        ref = parse_ref(message)
        try:
            if isinstance(ref, HookRef) and self.interactions.token_fresh(ref.born):
                found = await self.interactions.webhook(ref.token).fetch_message(_message_id(ref.message))
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
        return ChatRef(PLATFORM, str(thread.id), is_group=True, server=chat.server)

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


_MARKUP = re.compile(r"(\[[^\]\n]*\]\(|[*~|`])")


def plain(text: str) -> str:
    """Text as typed, not as Markdown: our words carry none, and people's prompts, themes and names
    must not (a masked link in a prompt rendered as the bot's own).  Masked links and bold,
    spoiler and code markers are escaped; URLs are left whole so they still work."""
    parts = re.split(r"(https?://\S+)", text)
    return "".join(part if i % 2 else _MARKUP.sub(r"\\\1", part) for i, part in enumerate(parts))


def result_embed(caption: str, job: Job, model: str = "") -> discord.Embed:
    """The card under a clip: the core's caption (prompt, seed, steps, AI label) plus the model."""
    embed = discord.Embed(description=plain(caption)[:4096], colour=discord.Colour.blurple())
    embed.add_field(name="model", value=(model or job.model)[:1024] or "?")
    embed.set_footer(text=f"{AI_LABEL} {__version__}")
    return embed


def result_view(buttons: Sequence[Button]) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for button in buttons:
        view.add_item(ResultButton(button.action, button.job_id, button.label))
    return view
