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

from bot.core import messages, roles
from bot.core.admission import Admission
from bot.core.captions import entry_buttons
from bot.core.endings import Endings
from bot.core.notify import Notifier
from bot.core.options import VideoArgs
from bot.core.parsing import CommandError, clean_text, parse_video_text
from bot.core.ports import Clock, WebLinks
from bot.core.tasks import Tasks
from bot.domain import Challenge, ChallengeStatus, ChatRef, Job, Request, Standing
from bot.settings.root import Config
from bot.settings.sections import ChallengeConfig
from bot.store import Store

log = logging.getLogger(__name__)

_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m(?:in)?)?(?:(\d+)s)?$", re.IGNORECASE)


@dataclass(frozen=True)
class StartArgs:
    """`/challenge start`, typed: Discord's options fill it directly, text is parsed into it.

    None means the config's default; `check_start` applies defaults and limits.
    """

    theme: str
    duration_s: float | None = None
    max_entries_per_user: int | None = None
    required_words: tuple[str, ...] = ()
    free_entries: bool = False
    duration_text: str | None = None  # "2h" as typed in an option, read when `duration_s` is None


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
    duration: float | None = None
    if rest:
        duration = parse_duration(rest[0])
        if duration is None:
            raise CommandError("challenge_bad_duration", value=rest[0])
        rest = rest[1:]
    max_entries: int | None = None
    if rest and rest[0].isascii() and rest[0].isdigit() and len(rest[0]) <= 9:
        max_entries, rest = int(rest[0]), rest[1:]
    required = tuple(re.split(r"[,\s]+", " ".join(rest)))
    return StartArgs(" ".join(theme_words), duration, max_entries, required, free)


def check_start(args: StartArgs, limits: ChallengeConfig) -> StartArgs:
    """Defaults filled in and every limit checked, however the arguments arrived."""
    theme = clean_text(args.theme)
    if not theme:
        raise CommandError("challenge_usage")
    if len(theme) > limits.max_theme_chars:
        raise CommandError("prompt_too_long", length=len(theme), limit=limits.max_theme_chars)
    duration_s = args.duration_s
    if duration_s is None and args.duration_text and args.duration_text.strip():
        duration_s = parse_duration("".join(args.duration_text.split()))
        if duration_s is None:
            raise CommandError("challenge_bad_duration", value=args.duration_text.strip())
    duration = float(limits.default_duration_s if duration_s is None else duration_s)
    if not limits.min_duration_s <= duration <= limits.max_duration_s:
        raise CommandError("challenge_bad_duration", value=messages.duration(duration))
    max_entries = (
        limits.default_max_entries if args.max_entries_per_user is None else args.max_entries_per_user
    )
    if not 1 <= max_entries <= limits.max_entries:
        raise CommandError(
            "out_of_range", option="max_entries_per_user", low=1, high=limits.max_entries, value=max_entries
        )
    required = tuple(w.lower() for word in args.required_words for w in re.split(r"[,\s]+", word) if w)
    return StartArgs(theme, duration, max_entries, required, args.free_entries)


def missing_words(prompt: str, required: tuple[str, ...]) -> list[str]:
    present = set(re.findall(r"\w+", prompt.lower()))
    return [word for word in required if word not in present]


@dataclass(eq=False)
class Challenges:
    """Challenge commands, votes and the deadline timers, on top of admission and endings."""

    config: Config
    store: Store
    notifier: Notifier
    admission: Admission
    endings: Endings
    tasks: Tasks
    clock: Clock
    links: WebLinks | None = None  # the web side's pages; None: replies carry no link

    def __post_init__(self) -> None:
        self.limits = self.config.challenges
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._label_due: dict[int, float] = {}
        self._label_pending: set[int] = set()

    # commands ------------------------------------------------------------------------

    async def command(self, req: Request, argument: str) -> None:
        """`/challenge start|enter|status|end|cancel …` as typed on a text platform."""
        sub, _, rest = argument.strip().partition(" ")
        sub = sub.lower()
        if sub == "start":
            await self.start(req, parse_start(rest))
        elif sub == "enter":
            await self.enter(req, parse_video_text(rest))
        elif sub == "status":
            await self.status(req)
        elif sub in ("end", "cancel"):
            await self.stop(req, cancel=sub == "cancel")
        else:
            raise CommandError("challenge_usage")

    def _is_admin(self, req: Request) -> bool:
        return roles.is_admin(req, self.config.admin)

    async def start(self, req: Request, args: StartArgs) -> None:
        if not self._is_admin(req):
            raise CommandError("challenge_admin_only")
        if not self.store.chats.get(req.chat.scope_key).challenges:
            raise CommandError("challenge_disabled")
        if args.free_entries and not roles.is_owner(req, self.config.admin):
            # Free entries skip the daily quota; any group's admin starting them (in a group of their
            # own) would get unlimited clips, so only the bot's owners may.
            raise CommandError("challenge_free_owner_only")
        args = check_start(args, self.limits)
        duration = float(args.duration_s or 0)
        now = self.clock()
        try:
            challenge = self.store.challenges.create(
                Challenge(
                    0,
                    req.chat,
                    args.theme,
                    req.user.key,
                    now,
                    now + duration,
                    args.max_entries_per_user or 1,
                    args.required_words,
                    args.free_entries,
                )
            )
        except ValueError:
            raise CommandError("challenge_already_open") from None
        self.store.audit.add(
            now, req.chat.key, req.user.key, "challenge start", args.theme, messages.duration(duration)
        )
        outbox = self.notifier.outboxes[req.chat.platform]
        announcement = await outbox.send_text(
            req.chat, self._announcement(challenge, req.user.locale), reply_to=req.reply_to, user=req.user
        )
        if announcement is not None:
            thread = await outbox.open_thread(req.chat, announcement, args.theme[:90])
            self.store.challenges.update(
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
        text = messages.text(
            "challenge_announce",
            locale,
            theme=challenge.theme,
            rules=rules,
            left=messages.duration(challenge.deadline - self.clock()),
        )
        url = self._link(challenge.chat, challenge.id)
        return text + "\n" + messages.text("challenge_see_all", locale, url=url) if url else text

    def _open(self, req: Request) -> Challenge:
        challenge = self.store.challenges.open_in(req.chat)
        if challenge is None:
            raise CommandError("challenge_none")
        return challenge

    async def enter(self, req: Request, args: VideoArgs) -> Job | None:
        challenge = self._open(req)
        if self.clock() >= challenge.deadline:
            raise CommandError("challenge_voting_closed")
        missing = missing_words(clean_text(args.prompt), challenge.required_words)
        if missing:
            raise CommandError("challenge_missing_words", words=", ".join(missing))
        entered = self.store.jobs.of_challenge(challenge.id, req.user.key)
        if len(entered) >= challenge.max_entries_per_user:
            raise CommandError("challenge_too_many", limit=challenge.max_entries_per_user)
        return await self.admission.submit(req, args, challenge=challenge)

    async def status(self, req: Request) -> None:
        challenge = self._open(req)
        locale = req.user.locale
        standings = self.store.challenges.standings(challenge.id)
        lines = [
            messages.text(
                "challenge_status",
                locale,
                theme=challenge.theme,
                entries=len(self.store.jobs.of_challenge(challenge.id)),
                left=messages.duration(max(challenge.deadline - self.clock(), 0)),
            )
        ]
        for place, standing in enumerate(standings[:5], start=1):
            name = standing.user.name or standing.user.key
            lines.append(f"{place}. {name} · #{standing.job_id} · 👍 {standing.votes}")
        url = self._link(challenge.chat, challenge.id)
        if url:
            lines.append(messages.text("challenge_see_all", locale, url=url))
        await self.notifier.reply(req, "\n".join(lines), private=True)

    def _link(self, chat: ChatRef, challenge_id: int) -> str | None:
        return self.links.challenge(chat, challenge_id) if self.links else None

    async def stop(self, req: Request, *, cancel: bool) -> None:
        if not self._is_admin(req):
            raise CommandError("challenge_admin_only")
        challenge = self._open(req)
        action = "challenge cancel" if cancel else "challenge end"
        self.store.audit.add(self.clock(), req.chat.key, req.user.key, action, challenge.theme)
        await self.close(challenge.id, cancelled=cancel)
        if cancel:
            await self.notifier.reply(
                req, messages.text("challenge_cancelled", req.user.locale, theme=challenge.theme)
            )

    async def leaderboard(self, req: Request) -> None:
        rows = self.store.challenges.leaderboard(req.chat.key)
        if not rows:
            raise CommandError("leaderboard_empty")
        lines = [messages.text("leaderboard_title", req.user.locale)]
        url = self.links.leaderboard(req.chat) if self.links else None
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
        if url:
            lines.append(messages.text("leaderboard_see_all", req.user.locale, url=url))
        await self.notifier.reply(req, "\n".join(lines))

    # votes ------------------------------------------------------------------------------

    async def vote(self, req: Request, job: Job) -> None:
        challenge = self.store.challenges.get(job.challenge_id or 0)
        locale = req.user.locale
        if (
            challenge is None
            or challenge.status != ChallengeStatus.OPEN
            or self.clock() >= challenge.deadline
        ):
            raise CommandError("challenge_voting_closed")
        if job.user.key == req.user.key:
            raise CommandError("challenge_self_vote")
        voted, count = self.store.challenges.toggle_vote(challenge.id, job.id, req.user.key, self.clock())
        await self.notifier.reply(
            req, messages.text("vote_counted" if voted else "vote_removed", locale, votes=count), private=True
        )
        self._refresh_label(job)

    def _refresh_label(self, job: Job) -> None:
        """Edit the vote button's count, at most once every few seconds per entry."""
        if job.id in self._label_pending:
            return
        self._label_pending.add(job.id)
        delay = max(0.0, self._label_due.get(job.id, 0.0) - time.monotonic())
        self.tasks.spawn(self._edit_label(job, delay))

    async def _edit_label(self, job: Job, delay: float) -> None:
        try:
            if delay:
                await asyncio.sleep(delay)
        finally:
            self._label_pending.discard(job.id)
        self._label_due[job.id] = time.monotonic() + self.limits.vote_label_interval_s
        fresh = self.store.jobs.get(job.id)
        outbox = self.notifier.outbox(job.chat.platform)
        if fresh is None or not fresh.result_message or outbox is None:
            return
        try:
            buttons = entry_buttons(fresh, self.store.challenges.vote_count(fresh.id))
            await outbox.edit_buttons(fresh.chat, fresh.result_message, buttons)
        except Exception:
            log.info("could not update the vote count of entry %d", job.id, exc_info=True)

    # deadlines ----------------------------------------------------------------------------

    async def rearm(self, platform: str) -> None:
        """A platform is up: close what expired while we were away, set timers for the rest."""
        for challenge in self.store.challenges.all_open():
            if challenge.chat.platform != platform:
                continue
            if challenge.deadline <= self.clock():
                await self.close(challenge.id)
            else:
                self._arm(challenge.id, challenge.deadline)

    def _arm(self, challenge_id: int, deadline: float) -> None:
        """Wake at the deadline, or sooner to look at the clock again (it may jump: suspend, NTP)."""
        delay = min(max(0.0, deadline - self.clock()), self.limits.check_every_s)
        self._timers[challenge_id] = asyncio.get_running_loop().call_later(
            delay, self._tick, challenge_id, deadline
        )

    def _tick(self, challenge_id: int, deadline: float) -> None:
        if self.clock() >= deadline:
            self.tasks.spawn(self.close(challenge_id))
        else:
            self._arm(challenge_id, deadline)

    def disarm(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    async def close(self, challenge_id: int, *, cancelled: bool = False) -> None:
        """Close voting once and announce the winner(s); ties share the win.

        Cancelled: no winner, and entries still waiting are cancelled, refunded and their
        owners told, through the same path as every other cancel.
        """
        timer = self._timers.pop(challenge_id, None)
        if timer is not None:
            timer.cancel()
        challenge = self.store.challenges.get(challenge_id)
        if challenge is None:
            return
        standings = self.store.challenges.standings(challenge_id)
        top = standings[0].votes if standings else 0
        winners = [s for s in standings if s.votes == top and top > 0]
        status = ChallengeStatus.CANCELLED if cancelled else ChallengeStatus.CLOSED
        if not self.store.challenges.close(challenge_id, status, winners, standings, challenge.chat.key):
            return
        if cancelled:
            waiting = [j for j in self.store.jobs.of_challenge(challenge_id) if not j.status.finished]
            await self.endings.cancel_all(waiting, "challenge_entry_cancelled", error="challenge cancelled")
            return
        await self._announce_winners(challenge, winners)

    async def _announce_winners(self, challenge: Challenge, winners: list[Standing]) -> None:
        outbox = self.notifier.outbox(challenge.chat.platform)
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
