"""Group prompt challenges: a theme, entries the bot renders, votes, a winner, a leaderboard.

Written once for every platform.  Deadlines live in SQLite and are re-armed at start-up;
a challenge whose deadline passed while the bot was down closes as soon as it is back.
Closing is a single `open → closed` update, so a winner is announced exactly once.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.core import messages
from bot.core.parsing import CommandError, VideoArgs, clean_text, parse_video_text
from bot.core.types import Button, Challenge, Job, JobStatus, Request, Standing

if TYPE_CHECKING:
    from bot.core.service import VideoService

log = logging.getLogger(__name__)

DEFAULT_DURATION_S = 24 * 3600
MAX_DURATION_S = 30 * 24 * 3600
MIN_DURATION_S = 60
DEFAULT_MAX_ENTRIES = 1
MAX_ENTRIES = 10
MAX_THEME_CHARS = 200
VOTE_LABEL_EVERY_S = 3.0
CHECK_EVERY_S = 60.0
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m(?:in)?)?(?:(\d+)s)?$", re.IGNORECASE)


@dataclass(frozen=True)
class StartArgs:
    theme: str
    duration_s: float = DEFAULT_DURATION_S
    max_entries_per_user: int = DEFAULT_MAX_ENTRIES
    required_words: tuple[str, ...] = ()
    free_entries: bool = False


def parse_duration(token: str) -> float | None:
    """ "2h", "30m", "1d12h", "90s" → seconds; None if `token` is not a duration."""
    match = _DURATION.match(token)
    if not token or not match or not any(match.groups()):
        return None
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return float(days * 86400 + hours * 3600 + minutes * 60 + seconds)


def parse_start(argument: str) -> StartArgs:
    """`<theme> [duration] [max_entries_per_user] [required words…] [--free]`.

    The theme runs until the first duration-looking word ("2h"); a theme of several
    words can also be quoted.  Required words may be separated by spaces or commas.
    """
    words = argument.split()
    free = "--free" in words
    words = [w for w in words if w != "--free"]
    theme_words: list[str] = []
    rest: list[str] = []
    if words and words[0][:1] in "\"“'":
        quote_end = next((i for i, w in enumerate(words) if w[-1:] in "\"”'" and (i or len(w) > 1)), None)
        if quote_end is None:
            raise CommandError("challenge_usage")
        theme_words, rest = words[: quote_end + 1], words[quote_end + 1 :]
        theme_words = [w.strip("\"“”'") for w in theme_words]
    else:
        # The last duration-looking word ends the theme, so "the 90s 2h" is "the 90s" for 2 h.
        durations = [i for i, word in enumerate(words) if parse_duration(word) is not None]
        if durations and durations[-1] > 0:
            theme_words, rest = words[: durations[-1]], words[durations[-1] :]
        else:
            theme_words = words
    theme = clean_text(" ".join(theme_words))
    if not theme:
        raise CommandError("challenge_usage")
    if len(theme) > MAX_THEME_CHARS:
        raise CommandError("prompt_too_long", length=len(theme), limit=MAX_THEME_CHARS)
    duration = float(DEFAULT_DURATION_S)
    if rest:
        parsed = parse_duration(rest[0])
        if parsed is None:
            raise CommandError("challenge_bad_duration", value=rest[0])
        duration, rest = parsed, rest[1:]
    if not MIN_DURATION_S <= duration <= MAX_DURATION_S:
        raise CommandError("challenge_bad_duration", value=messages.duration(duration))
    max_entries = DEFAULT_MAX_ENTRIES
    if rest and rest[0].isascii() and rest[0].isdigit():
        max_entries, rest = int(rest[0]), rest[1:]
        if not 1 <= max_entries <= MAX_ENTRIES:
            raise CommandError(
                "out_of_range", option="max_entries_per_user", low=1, high=MAX_ENTRIES, value=max_entries
            )
    required = tuple(w.lower() for w in re.split(r"[,\s]+", " ".join(rest)) if w)
    return StartArgs(theme, duration, max_entries, required, free)


def missing_words(prompt: str, required: tuple[str, ...]) -> list[str]:
    present = set(re.findall(r"\w+", prompt.lower()))
    return [word for word in required if word not in present]


class Challenges:
    """Challenge commands, votes and the deadline timers, on top of the core."""

    def __init__(self, service: VideoService) -> None:
        self.service = service
        self.store = service.store
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._label_due: dict[int, float] = {}
        self._label_pending: set[int] = set()

    # commands ------------------------------------------------------------------------

    async def command(self, req: Request, argument: str) -> None:
        sub, _, rest = argument.strip().partition(" ")
        sub = sub.lower()
        if sub == "start":
            await self.start(req, rest)
        elif sub == "enter":
            await self.enter(req, rest)
        elif sub == "status":
            await self.status(req)
        elif sub in ("end", "cancel"):
            await self.stop(req, cancel=sub == "cancel")
        else:
            raise CommandError("challenge_usage")

    async def start(self, req: Request, argument: str) -> None:
        if not self.service.is_admin(req):
            raise CommandError("challenge_admin_only")
        if not self.store.chat_settings(req.chat.key).challenges:
            raise CommandError("challenge_disabled")
        args = parse_start(argument)
        now = self.service.clock()
        try:
            challenge = self.store.create_challenge(
                Challenge(
                    0,
                    req.chat,
                    args.theme,
                    req.user.key,
                    now,
                    now + args.duration_s,
                    args.max_entries_per_user,
                    args.required_words,
                    args.free_entries,
                )
            )
        except ValueError:
            raise CommandError("challenge_already_open") from None
        self.store.audit(
            now,
            req.chat.key,
            req.user.key,
            "challenge start",
            args.theme,
            f"{messages.duration(args.duration_s)}",
        )
        outbox = self.service.outboxes[req.chat.platform]
        announcement = await outbox.send_text(
            req.chat, self._announcement(challenge, req.user.locale), reply_to=req.reply_to, user=req.user
        )
        if announcement is not None:
            thread = await outbox.open_thread(req.chat, announcement, args.theme[:90])
            self.store.update_challenge(
                challenge.id, announcement=announcement, entries_chat_id=thread.id if thread else None
            )
        self._arm(challenge.id, challenge.deadline)

    def _announcement(self, challenge: Challenge, locale: str) -> str:
        rules = messages.text("challenge_rules", locale, entries=challenge.max_entries_per_user)
        if challenge.required_words:
            rules += " " + messages.text(
                "challenge_rules_words", locale, words=", ".join(challenge.required_words)
            )
        if not challenge.free_entries:
            rules += " " + messages.text("challenge_rules_quota", locale)
        return messages.text(
            "challenge_announce",
            locale,
            theme=challenge.theme,
            rules=rules,
            left=messages.duration(challenge.deadline - self.service.clock()),
        )

    def _open(self, req: Request) -> Challenge:
        challenge = self.store.open_challenge(req.chat)
        if challenge is None:
            raise CommandError("challenge_none")
        return challenge

    async def enter(self, req: Request, argument: str) -> None:
        challenge = self._open(req)
        if self.service.clock() >= challenge.deadline:
            raise CommandError("challenge_voting_closed")
        args: VideoArgs = parse_video_text(argument)
        missing = missing_words(clean_text(args.prompt), challenge.required_words)
        if missing:
            raise CommandError("challenge_missing_words", words=", ".join(missing))
        entered = self.store.entries_of(challenge.id, req.user.key)
        if len(entered) >= challenge.max_entries_per_user:
            raise CommandError("challenge_too_many", limit=challenge.max_entries_per_user)
        await self.service.submit(req, args, challenge=challenge)

    async def status(self, req: Request) -> None:
        challenge = self._open(req)
        locale = req.user.locale
        standings = self.store.standings(challenge.id)
        lines = [
            messages.text(
                "challenge_status",
                locale,
                theme=challenge.theme,
                entries=len(self.store.entries_of(challenge.id)),
                left=messages.duration(max(challenge.deadline - self.service.clock(), 0)),
            )
        ]
        for place, standing in enumerate(standings[:5], start=1):
            name = standing.user.name or standing.user.key
            lines.append(f"{place}. {name} · #{standing.job_id} · 👍 {standing.votes}")
        await self.service.reply(req, "\n".join(lines), private=True)

    async def stop(self, req: Request, *, cancel: bool) -> None:
        if not self.service.is_admin(req):
            raise CommandError("challenge_admin_only")
        challenge = self._open(req)
        self.store.audit(
            self.service.clock(),
            req.chat.key,
            req.user.key,
            "challenge cancel" if cancel else "challenge end",
            challenge.theme,
        )
        await self.close(challenge.id, cancelled=cancel)
        if cancel:
            await self.service.reply(
                req, messages.text("challenge_cancelled", req.user.locale, theme=challenge.theme)
            )

    async def leaderboard(self, req: Request) -> None:
        rows = self.store.leaderboard(req.chat.key)
        if not rows:
            raise CommandError("leaderboard_empty")
        lines = [messages.text("leaderboard_title", req.user.locale)]
        for place, row in enumerate(rows, start=1):
            lines.append(
                messages.text(
                    "leaderboard_row",
                    req.user.locale,
                    place=place,
                    name=row.name or row.user_key,
                    wins=row.wins,
                    votes=row.votes,
                )
            )
        await self.service.reply(req, "\n".join(lines))

    # entries and votes -----------------------------------------------------------------

    def entry_reply_to(self, challenge: Challenge) -> str | None:
        """Without a thread, entries are posted as replies to the announcement."""
        return challenge.announcement if challenge.entries_chat is None else None

    def entry_buttons(self, job: Job) -> list[Button]:
        votes = self.store.vote_count(job.id)
        return [
            Button("vote", job.id, messages.text("button_vote", job.user.locale, votes=votes)),
            Button("info", job.id, messages.text("button_info", job.user.locale)),
        ]

    def entry_caption(self, job: Job, challenge: Challenge) -> str:
        return messages.text(
            "challenge_entry",
            job.user.locale,
            name=job.user.name or job.user.key,
            theme=challenge.theme,
            prompt=job.params.prompt,
            seed=job.params.seed,
            job=job.id,
        )

    async def vote(self, req: Request, job: Job) -> None:
        challenge = self.store.get_challenge(job.challenge_id or 0)
        locale = req.user.locale
        if challenge is None or challenge.status != "open" or self.service.clock() >= challenge.deadline:
            raise CommandError("challenge_voting_closed")
        if job.user.key == req.user.key:
            raise CommandError("challenge_self_vote")
        voted, count = self.store.toggle_vote(challenge.id, job.id, req.user.key, self.service.clock())
        await self.service.reply(
            req, messages.text("vote_counted" if voted else "vote_removed", locale, votes=count), private=True
        )
        self._refresh_label(job)

    def _refresh_label(self, job: Job) -> None:
        """Edit the vote button's count, at most once every few seconds per entry."""
        if job.id in self._label_pending:
            return
        self._label_pending.add(job.id)
        delay = max(0.0, self._label_due.get(job.id, 0.0) - time.monotonic())
        self.service.spawn(self._edit_label(job, delay))

    async def _edit_label(self, job: Job, delay: float) -> None:
        try:
            if delay:
                await asyncio.sleep(delay)
        finally:
            self._label_pending.discard(job.id)
        self._label_due[job.id] = time.monotonic() + VOTE_LABEL_EVERY_S
        fresh = self.store.get_job(job.id)
        if fresh is None or not fresh.result_message:
            return
        try:
            await self.service.outboxes[job.chat.platform].edit_buttons(
                fresh.chat, fresh.result_message, self.entry_buttons(fresh)
            )
        except Exception:
            log.info("could not update the vote count of entry %d", job.id, exc_info=True)

    # deadlines ----------------------------------------------------------------------------

    async def rearm(self, platform: str) -> None:
        """A platform is up: close what expired while we were away, set timers for the rest."""
        for challenge in self.store.open_challenges():
            if challenge.chat.platform != platform:
                continue
            if challenge.deadline <= self.service.clock():
                await self.close(challenge.id)
            else:
                self._arm(challenge.id, challenge.deadline)

    def _arm(self, challenge_id: int, deadline: float) -> None:
        """Wake at the deadline, or sooner to look at the clock again (it may jump: suspend, NTP)."""
        delay = min(max(0.0, deadline - self.service.clock()), CHECK_EVERY_S)
        self._timers[challenge_id] = asyncio.get_running_loop().call_later(
            delay, self._tick, challenge_id, deadline
        )

    def _tick(self, challenge_id: int, deadline: float) -> None:
        if self.service.clock() >= deadline:
            self.service.spawn(self.close(challenge_id))
        else:
            self._arm(challenge_id, deadline)

    def disarm(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    async def close(self, challenge_id: int, *, cancelled: bool = False) -> None:
        """Close voting once and announce the winner(s); ties share the win."""
        timer = self._timers.pop(challenge_id, None)
        if timer is not None:
            timer.cancel()
        challenge = self.store.get_challenge(challenge_id)
        if challenge is None:
            return
        standings = self.store.standings(challenge_id)
        top = standings[0].votes if standings else 0
        winners = [s for s in standings if s.votes == top and top > 0]
        status = "cancelled" if cancelled else "closed"
        if not self.store.close_challenge(challenge_id, status, winners, standings, challenge.chat.key):
            return
        if cancelled:
            for job in self.store.entries_of(challenge_id):
                if self.store.set_status(job.id, JobStatus.CANCELLED, only_from=(JobStatus.QUEUED,)):
                    self.store.refund(job.id)
            return
        await self._announce_winners(challenge, winners)

    async def _announce_winners(self, challenge: Challenge, winners: list[Standing]) -> None:
        outbox = self.service.outboxes.get(challenge.chat.platform)
        if outbox is None:
            return
        locale = "en"
        if not winners:
            text = messages.text("challenge_no_winner", locale, theme=challenge.theme)
            reply_to = challenge.announcement
        else:
            names = ", ".join(w.user.name or w.user.key for w in winners)
            key = "challenge_winners" if len(winners) > 1 else "challenge_winner"
            text = messages.text(
                key, locale, theme=challenge.theme, names=names, votes=winners[0].votes, job=winners[0].job_id
            )
            reply_to = winners[0].result_message
        try:
            await outbox.send_text(
                challenge.where_entries_go if winners else challenge.chat, text, reply_to=reply_to
            )
            if challenge.entries_chat is not None:
                await outbox.send_text(challenge.chat, text, reply_to=challenge.announcement)
        except Exception:
            log.warning("could not announce the end of challenge %d", challenge.id, exc_info=True)
