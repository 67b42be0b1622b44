"""Admin tools: quotas, bans, the queue, per-chat settings and the audit log.

One implementation for every door: `/admin …` in a chat (through `VideoService.admin`)
and `videobot admin …` on the server's shell.  Every change is written to the audit log
with who did it, where and when.  Users are named `telegram:<id>` / `discord:<id>`;
adapters turn a mention or a reply into that form.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from bot.core import messages
from bot.core.endings import Endings
from bot.core.models import Models, shown_name
from bot.core.parsing import CommandError
from bot.core.pictures import FacePolicy
from bot.core.quota import daily_limit, quota_day, seconds_until_reset
from bot.domain import ChatSettings, Job, JobStatus
from bot.settings.platforms import user_ref_pattern
from bot.settings.root import Config
from bot.store import EVERYWHERE, Store

USER_REF = user_ref_pattern()  # `telegram:42`: one per platform in the registry
SETTINGS = ("max_frames", "max_steps", "daily", "challenges", "enabled", "gallery", "models", "faces")
SWITCHES = ("challenges", "enabled", "gallery")
AUDIT_MAX = 50
QUEUE_LINES = 30  # `/admin queue` lists this many, then "…and N more"


class AdminAction(enum.StrEnum):
    QUOTA_SHOW = "quota show"
    QUOTA_SET = "quota set"
    QUOTA_RESET = "quota reset"
    BAN = "ban"
    UNBAN = "unban"
    QUEUE = "queue"
    PURGE = "purge"
    SETTINGS = "settings"
    AUDIT = "audit"
    MODEL = "model"


@dataclass(frozen=True)
class AdminCommand:
    """One admin command, typed: Discord's options fill it directly, text is parsed into it."""

    action: AdminAction
    user: str | None = None  # "telegram:<id>"; purge without one means everyone's
    value: str | None = None  # quota set's limit, or a setting's new value
    setting: str | None = None  # which chat setting
    reason: str = ""
    count: int | None = None  # how many audit entries


@dataclass(frozen=True)
class AdminResult:
    """What to answer, and the queued jobs an action cancelled (their owners are told)."""

    text: str
    cancelled: tuple[Job, ...] = ()


class AdminTools:
    def __init__(
        self,
        store: Store,
        config: Config,
        endings: Endings,
        clock: Callable[[], float] = time.time,
        models: Models | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.endings = endings
        self.clock = clock
        self.models = models or Models(config, store)

    async def run(
        self,
        actor: str,
        chat: str | None,
        argument: str,
        mentioned: str | None = None,
        locale: str = "en",
        *,
        everywhere: bool = False,
    ) -> AdminResult:
        """Run `/admin <argument>` as typed (a chat's text, or the shell's words)."""
        return await self.execute(
            actor, chat, parse_admin(argument, mentioned), locale, everywhere=everywhere
        )

    async def execute(
        self,
        actor: str,
        chat: str | None,
        command: AdminCommand,
        locale: str = "en",
        *,
        everywhere: bool = False,
    ) -> AdminResult:
        """Run one admin command in `chat` (None: the shell).

        A chat's admins act on that chat only: its queue, its bans, its settings.  Bot
        owners (`everywhere`, and the shell) act on every chat, and alone may change a
        person's quota, which is one ledger across all chats.
        """
        everywhere = everywhere or chat is None
        scope = EVERYWHERE if everywhere or chat is None else chat
        action = command.action
        if action == AdminAction.QUEUE:
            return AdminResult(self.queue_listing(None if everywhere else chat, locale))
        if action == AdminAction.SETTINGS:
            return AdminResult(self.settings(actor, chat, command.setting, command.value, locale))
        if action == AdminAction.AUDIT:
            count = 10 if command.count is None else command.count
            if not 1 <= count <= AUDIT_MAX:
                raise CommandError("out_of_range", option="n", low=1, high=AUDIT_MAX, value=count)
            return AdminResult(self.audit(chat, count, locale))
        if action == AdminAction.PURGE:
            target = _checked_user(command.user) if command.user else None
            return await self.purge(actor, chat, None if everywhere else chat, target, locale)
        if action == AdminAction.MODEL:
            if not everywhere:
                raise CommandError("admin_model_owner_only")
            return AdminResult(self.switch_model(actor, chat, command.value, locale))
        user = _checked_user(command.user)
        if action == AdminAction.QUOTA_SHOW:
            return AdminResult(self.quota_show(user, chat, locale))
        if action == AdminAction.BAN:
            return await self.ban(actor, chat, scope, user, command.reason, locale)
        if action == AdminAction.UNBAN:
            return AdminResult(self.unban(actor, chat, scope, user, locale))
        if not everywhere:
            raise CommandError("admin_owner_only")
        if action == AdminAction.QUOTA_RESET:
            return AdminResult(self.quota_reset(actor, chat, user, locale))
        if command.value is None:
            raise CommandError("admin_usage")
        return AdminResult(self.quota_set(actor, chat, user, command.value, locale))

    def _audit(self, actor: str, chat: str | None, action: str, target: str = "", detail: str = "") -> None:
        self.store.audit.add(self.clock(), chat or "shell", actor, action, target, detail)

    def quota_show(self, user: str, chat: str | None, locale: str) -> str:
        q = self.config.quota
        now = self.clock()
        used = self.store.quota.used_today(user, quota_day(now, q))
        limit = daily_limit(self.store, q, user, chat)
        banned = self.store.bans.reason(user, chat)
        return messages.text(
            "admin_quota_show",
            locale,
            user=user,
            used=used,
            limit=limit,
            wait=messages.duration(seconds_until_reset(now, q)),
            queued=len(self.store.jobs.queued_of(user)),
        ) + ("" if banned is None else "\n" + messages.text("admin_is_banned", locale, reason=banned or "—"))

    def quota_set(self, actor: str, chat: str | None, user: str, value: str, locale: str) -> str:
        if value.lower() == "default":
            self.store.quota.set_user_daily_limit(user, None)
        elif _is_number(value) and int(value) <= 10_000:
            self.store.quota.set_user_daily_limit(user, int(value))
        else:
            raise CommandError("out_of_range", option="quota", low=0, high=10_000, value=value)
        self._audit(actor, chat, "quota set", user, value)
        return messages.text("admin_quota_set", locale, user=user, value=value)

    def switch_model(self, actor: str, chat: str | None, name: str | None, locale: str) -> str:
        """The owner's switch of the default model; jobs already queued keep theirs."""
        if not name:
            raise CommandError("admin_model_usage", known=", ".join(self.models.names()))
        identity = self.models.switch(name)
        self._audit(actor, chat, "model", self.models.active)
        return messages.text(
            "admin_model_switched", locale, model=shown_name(identity), licence=identity.licence
        )

    def quota_reset(self, actor: str, chat: str | None, user: str, locale: str) -> str:
        self.store.quota.reset(user, quota_day(self.clock(), self.config.quota))
        self._audit(actor, chat, "quota reset", user)
        return messages.text("admin_quota_reset", locale, user=user)

    async def ban(
        self, actor: str, chat: str | None, scope: str, user: str, reason: str, locale: str
    ) -> AdminResult:
        if user == actor or user in self.config.admin.owners:
            raise CommandError("admin_cannot_ban", user=user)
        self.store.bans.add(user, scope, reason, actor, self.clock())
        cancelled = await self._cancel_queued(user, None if scope == EVERYWHERE else scope)
        self._audit(actor, chat, "ban", user, reason)
        return AdminResult(messages.text("admin_banned", locale, user=user, reason=reason or "—"), cancelled)

    def unban(self, actor: str, chat: str | None, scope: str, user: str, locale: str) -> str:
        if not self.store.bans.remove(user, scope):
            raise CommandError("admin_not_banned", user=user)
        self._audit(actor, chat, "unban", user)
        return messages.text("admin_unbanned", locale, user=user)

    def queue_listing(self, chat: str | None, locale: str = messages.DEFAULT_LOCALE) -> str:
        """Waiting and running jobs, in dispatch order; only this chat's unless `chat` is None."""
        jobs = self.store.jobs.with_status(JobStatus.RUNNING, JobStatus.ENCODING, JobStatus.DELIVERING)
        jobs = [job for job in jobs if chat is None or chat in (job.chat.key, job.chat.scope_key)]
        total = len(jobs) + self.store.jobs.waiting_count(chat)
        jobs += self.store.jobs.fair_order(limit=QUEUE_LINES, chat_key=chat)
        if not jobs:
            return messages.text("admin_queue_empty", locale)
        lines = [
            f"#{job.id} {job.status} {job.user.key} ({job.user.name or '?'}): {job.params.prompt[:60]}"
            for job in jobs[:QUEUE_LINES]
        ]
        return messages.fit_lines(lines, total=total)

    async def cancel_job(
        self, actor: str, chat: str | None, job_id: int, locale: str = "en", *, everywhere: bool = False
    ) -> AdminResult:
        """Cancel one waiting or rendering job as `/cancel` does for an admin (refunded, its owner
        told), and audit it.  A chat's admins reach only its jobs; owners (`everywhere`: the web
        side's /admin, the shell) any."""
        job = self.store.jobs.get(job_id)
        mine = everywhere or chat is None or chat in (job.chat.key, job.chat.scope_key) if job else False
        if job is None or not mine:
            raise CommandError("job_not_found", job=job_id)
        if not await self.endings.cancel(job, "cancelled"):
            raise CommandError("cancel_finished", job=job_id)
        self._audit(actor, chat, "cancel", job.user.key, f"#{job_id}")
        return AdminResult(messages.text("cancelled", locale, job=job_id), (job,))

    async def _cancel_queued(self, user: str | None, chat: str | None) -> tuple[Job, ...]:
        waiting = self.store.jobs.queued_of(user, chat)
        return tuple(await self.endings.cancel_all(waiting, "purged_notice", error="purged"))

    async def purge(
        self, actor: str, chat: str | None, where: str | None, user: str | None, locale: str
    ) -> AdminResult:
        cancelled = await self._cancel_queued(user, where)
        self._audit(actor, chat, "purge", user or "*", f"{len(cancelled)} jobs")
        return AdminResult(messages.text("admin_purged", locale, count=len(cancelled)), cancelled)

    def settings(self, actor: str, chat: str | None, key: str | None, value: str | None, locale: str) -> str:
        """Show this chat's settings, or change one (`key` and `value` together)."""
        if chat is None:
            raise CommandError("admin_settings_need_chat")
        current = self.store.chats.get(chat)
        if key is not None or value is not None:
            if key not in SETTINGS or value is None:
                raise CommandError("admin_settings_usage", keys=", ".join(SETTINGS))
            current = self._changed(current, key, value)
            self.store.chats.save(chat, current)
            self._audit(actor, chat, "settings", key, value)
        v, q = self.config.model_settings[self.models.active].limits, self.config.quota
        warning = ""
        if key == "gallery" and current.gallery and ":server:" in chat:
            # Settings on Discord cover the whole server: say plainly what that publishes.
            warning = messages.text("admin_gallery_whole_server", locale) + "\n"
        return warning + messages.text(
            "admin_settings",
            locale,
            models=",".join(current.models) or "all",
            max_frames=current.max_frames or v.max_frames,
            max_steps=current.max_steps or v.max_steps,
            daily=current.daily if current.daily is not None else q.daily,
            challenges="on" if current.challenges else "off",
            enabled="on" if current.enabled else "off",
            gallery="on" if current.gallery else "off",
            faces=FacePolicy(self.config.policy.faces).tightened(current.faces),
        )

    def _changed(self, current: ChatSettings, key: str, value: str) -> ChatSettings:
        """`current` with one setting changed; chat limits may only tighten the config's."""
        if key in SWITCHES:
            if value.lower() not in ("on", "off"):
                raise CommandError("admin_on_off", setting=key)
            switched: dict[str, Any] = {key: value.lower() == "on"}
            return replace(current, **switched)
        if key == "models":
            return replace(current, models=self.models.parse_list(value))
        if key == "faces":
            return replace(current, faces=self._faces(value))
        v = self.config.widest_limits()
        low, high = {
            "max_frames": (v.min_frames, v.max_frames),
            "max_steps": (v.min_steps, v.max_steps),
            "daily": (0, self.config.quota.daily),
        }[key]
        number: int | None = None
        if value.lower() != "default":
            if not _is_number(value) or not low <= int(value) <= high:
                raise CommandError("out_of_range", option=key, low=low, high=high, value=value)
            number = int(value)
        if key == "max_frames":
            return replace(current, max_frames=number)
        if key == "max_steps":
            return replace(current, max_steps=number)
        return replace(current, daily=number)

    def _faces(self, value: str) -> str | None:
        """A chat's face policy: only as strict as the config's or stricter ("default" undoes it)."""
        if value.lower() == "default":
            return None
        configured = FacePolicy(self.config.policy.faces)
        try:
            wanted = FacePolicy(value.lower())
        except ValueError:
            raise CommandError("admin_faces_usage", policy=configured) from None
        if wanted.strictness < configured.strictness:
            raise CommandError("admin_faces_looser", policy=configured)
        return str(wanted)

    def audit(self, chat: str | None, count: int, locale: str = messages.DEFAULT_LOCALE) -> str:
        entries = self.store.audit.entries(count, chat)
        if not entries:
            return messages.text("admin_audit_empty", locale)
        return messages.fit_lines(
            [
                f"{datetime.fromtimestamp(e.at, UTC):%Y-%m-%d %H:%M} {e.actor} {e.action} {e.target} "
                f"{e.detail[:200]}".rstrip()
                for e in entries
            ]
        )


def _is_number(text: str) -> bool:
    """Plain ASCII digits: `"²".isdigit()` is true, but int() refuses it."""
    return text.isascii() and text.isdigit() and len(text) <= 18


def _checked_user(user: str | None) -> str:
    if user is None or not USER_REF.match(user):
        raise CommandError("admin_need_user")
    return user


def _take_user(words: list[str], mentioned: str | None) -> tuple[str | None, list[str]]:
    """The user an admin command is about: `telegram:<id>` typed, or the mention/reply."""
    if words and USER_REF.match(words[0]):
        return words[0], words[1:]
    return mentioned, words


def parse_admin(argument: str, mentioned: str | None = None) -> AdminCommand:
    """The text grammar: `quota show|set|reset <user> [n]`, `ban <user> [reason]`, `unban <user>`,
    `queue`, `purge [user]`, `settings [key value]`, `audit [n]`.  The user may instead be
    `mentioned` (a reply or a mention the adapter resolved)."""
    words = argument.split()
    if not words:
        raise CommandError("admin_usage")
    head, rest = words[0].lower(), words[1:]
    if head == "quota":
        if not rest or rest[0] not in ("show", "set", "reset"):
            raise CommandError("admin_usage")
        action = AdminAction(f"quota {rest[0]}")
        user, rest = _take_user(rest[1:], mentioned)
        return AdminCommand(action, user, value=rest[0] if len(rest) == 1 else None)
    if head in ("ban", "unban"):
        user, rest = _take_user(rest, mentioned)
        return AdminCommand(AdminAction(head), user, reason=" ".join(rest))
    if head == "purge":
        user = _take_user(rest, mentioned)[0] if rest or mentioned else None
        if rest and user is None:
            raise CommandError("admin_need_user")
        return AdminCommand(AdminAction.PURGE, user)
    if head == "queue":
        return AdminCommand(AdminAction.QUEUE)
    if head == "model":
        return AdminCommand(AdminAction.MODEL, value=rest[0] if len(rest) == 1 else None)
    if head == "settings":
        if rest and len(rest) != 2:
            raise CommandError("admin_settings_usage", keys=", ".join(SETTINGS))
        return AdminCommand(
            AdminAction.SETTINGS, setting=rest[0] if rest else None, value=rest[1] if rest else None
        )
    if head == "audit":
        if rest and not _is_number(rest[0]):
            raise CommandError("out_of_range", option="n", low=1, high=AUDIT_MAX, value=rest[0])
        return AdminCommand(AdminAction.AUDIT, count=int(rest[0]) if rest else None)
    raise CommandError("admin_usage")
