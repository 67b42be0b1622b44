"""What the web side may show, and the unguessable ids it is shown under.

Job and challenge ids are sequential: a URL holding one would let anyone walk every clip.
The web side names things by random tokens instead (`public_ids`), minted the first time
a page needs one.  Only chats that opted in (`/admin settings gallery on`) are published,
and only groups: a private chat never appears, whatever its settings say.
"""

from __future__ import annotations

import logging
import secrets
import sqlite3
from dataclasses import dataclass

from bot.domain import Challenge, ChatRef, Job, JobStatus
from bot.store.db import Database
from bot.store.rows import row_to_challenge, row_to_job

log = logging.getLogger(__name__)

TOKEN_BYTES = 16  # 128 random bits: 22 URL-safe characters
JOB, CHALLENGE, CHAT = "job", "challenge", "chat"


def _scope(table: str) -> str:
    """SQL for a row's settings key: its Discord server's, or its chat's (`ChatRef.scope_key`)."""
    return (
        f"CASE WHEN coalesce({table}.chat_server, '') <> ''"
        f" THEN {table}.platform || ':server:' || {table}.chat_server"
        f" ELSE {table}.platform || ':' || {table}.chat_id END"
    )


def _published(table: str) -> str:
    """SQL: the row belongs to a group whose admins turned the gallery on."""
    return (
        f"{table}.chat_is_group = 1 AND EXISTS (SELECT 1 FROM chat_settings"
        f" WHERE chat_settings.chat_key = {_scope(table)} AND chat_settings.gallery = 1)"
    )


_NOT_DELETED = (
    f"NOT EXISTS (SELECT 1 FROM public_ids p WHERE p.kind = '{JOB}'"
    " AND p.target = CAST(jobs.id AS TEXT) AND p.hidden = 1)"
)
_SHOWN = (
    f"jobs.status = '{JobStatus.DONE}' AND jobs.clip_path IS NOT NULL AND {_published('jobs')}"
    f" AND {_NOT_DELETED}"
)
# A clip continued by an extension that is shown: the gallery shows the chain once, as its
# longest clip (which holds this one); a direct link to it still works.
_EXTENDED = (
    "EXISTS (SELECT 1 FROM jobs child WHERE child.extends IS NOT NULL"
    " AND json_extract(child.extends, '$.parent_id') = jobs.id"
    f" AND child.status = '{JobStatus.DONE}' AND child.clip_path IS NOT NULL"
    f" AND NOT EXISTS (SELECT 1 FROM public_ids p WHERE p.kind = '{JOB}'"
    " AND p.target = CAST(child.id AS TEXT) AND p.hidden = 1))"
)


@dataclass(frozen=True)
class Entry:
    """A challenge entry as its page shows it: the job, its votes, and its clip's token if shown."""

    job: Job
    votes: int
    token: str | None


@dataclass(frozen=True)
class Winner:
    user_key: str
    name: str
    votes: int


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


class PublicPages:
    def __init__(self, db: Database) -> None:
        self.db = db

    # tokens --------------------------------------------------------------------------------

    def tokens(self, kind: str, targets: list[str]) -> dict[str, str]:
        """The token of each target, minting those that have none yet.  A page is no reason to
        wait for a locked database: targets it could not mint for are left out this time."""
        if not targets:
            return {}
        marks = ", ".join("?" for _ in targets)
        query = f"SELECT target, token FROM public_ids WHERE kind = ? AND target IN ({marks})"
        found = {row["target"]: row["token"] for row in self.db.conn.execute(query, [kind, *targets])}
        missing = [target for target in targets if target not in found]
        if missing:
            try:
                self.db.conn.executemany(
                    "INSERT OR IGNORE INTO public_ids (kind, target, token, hidden) VALUES (?, ?, ?, 0)",
                    [(kind, target, new_token()) for target in missing],
                )
            except sqlite3.OperationalError as error:
                log.warning("could not mint web ids (%s); those items wait for the next page", error)
            found = {row["target"]: row["token"] for row in self.db.conn.execute(query, [kind, *targets])}
        return found

    def token(self, kind: str, target: str | int) -> str | None:
        """`target`'s token, or None when the database could not mint one just now."""
        return self.tokens(kind, [str(target)]).get(str(target))

    def target(self, kind: str, token: str) -> str | None:
        row = self.db.conn.execute(
            "SELECT target FROM public_ids WHERE kind = ? AND token = ? AND hidden = 0", (kind, token)
        ).fetchone()
        return None if row is None else str(row["target"])

    def hidden(self, kind: str, target: str | int) -> bool:
        """Whether `target` was hidden for good (a clip deleted with 🗑)."""
        row = self.db.conn.execute(
            "SELECT 1 FROM public_ids WHERE kind = ? AND target = ? AND hidden = 1", (kind, str(target))
        ).fetchone()
        return row is not None

    def hide(self, kind: str, target: str | int) -> None:
        """Never show this again (its owner deleted the clip in chat)."""
        self.db.conn.execute(
            "INSERT INTO public_ids (kind, target, token, hidden) VALUES (?, ?, ?, 1)"
            " ON CONFLICT (kind, target) DO UPDATE SET hidden = 1",
            (kind, str(target), new_token()),
        )

    def forget_orphans(self) -> None:
        """Tokens of jobs that retention has deleted."""
        self.db.conn.execute(
            f"DELETE FROM public_ids WHERE kind = '{JOB}'"
            " AND target NOT IN (SELECT CAST(id AS TEXT) FROM jobs)"
        )

    # what is shown -------------------------------------------------------------------------

    def latest_clips(self, limit: int) -> list[tuple[str, Job]]:
        """The newest delivered clips of published chats, with their tokens."""
        rows = self.db.conn.execute(
            f"SELECT * FROM jobs WHERE {_SHOWN} AND NOT {_EXTENDED}"
            " ORDER BY finished_at DESC, id DESC LIMIT ?",
            (limit,),
        ).fetchall()
        jobs = [row_to_job(row) for row in rows]
        tokens = self.tokens(JOB, [str(job.id) for job in jobs])
        return [(tokens[str(job.id)], job) for job in jobs if str(job.id) in tokens]

    def clip(self, token: str) -> Job | None:
        """The clip `token` names, if it is still shown (published, delivered, not deleted)."""
        target = self.target(JOB, token)
        if target is None:
            return None
        row = self.db.conn.execute(f"SELECT * FROM jobs WHERE id = ? AND {_SHOWN}", (int(target),)).fetchone()
        return None if row is None else row_to_job(row)

    def challenge(self, token: str) -> Challenge | None:
        target = self.target(CHALLENGE, token)
        if target is None:
            return None
        row = self.db.conn.execute(
            f"SELECT * FROM challenges WHERE id = ? AND {_published('challenges')}", (int(target),)
        ).fetchone()
        return None if row is None else row_to_challenge(row)

    def entries(self, challenge_id: int) -> list[Entry]:
        """A challenge's entries that still count, most votes first, with tokens for shown clips;
        an entry its author deleted (🗑) is gone from the page, prompt and name included."""
        rows = self.db.conn.execute(
            "SELECT jobs.*, (SELECT count(*) FROM votes WHERE votes.job_id = jobs.id) AS vote_count,"
            f" ({_SHOWN}) AS shown FROM jobs WHERE challenge_id = ? AND status NOT IN (?, ?)"
            f" AND {_NOT_DELETED}"
            " ORDER BY vote_count DESC, id",
            (challenge_id, str(JobStatus.FAILED), str(JobStatus.CANCELLED)),
        ).fetchall()
        shown = [str(row["id"]) for row in rows if row["shown"]]
        tokens = self.tokens(JOB, shown)
        return [Entry(row_to_job(row), int(row["vote_count"]), tokens.get(str(row["id"]))) for row in rows]

    def winners(self, challenge_id: int) -> list[Winner]:
        rows = self.db.conn.execute(
            "SELECT user_key, user_name, votes FROM challenge_results"
            " WHERE challenge_id = ? AND winner = 1 ORDER BY votes DESC, user_key",
            (challenge_id,),
        ).fetchall()
        return [Winner(row["user_key"], row["user_name"] or "", int(row["votes"] or 0)) for row in rows]

    def leaderboard_chat(self, token: str) -> str | None:
        """The chat key a leaderboard token names, if that chat is published."""
        chat_key = self.target(CHAT, token)
        if chat_key is None:
            return None
        platform, _, chat_id = chat_key.partition(":")
        row = self.db.conn.execute(
            "SELECT 1 FROM challenges WHERE platform = ? AND chat_id = ?"
            f" AND {_published('challenges')} LIMIT 1",
            (platform, chat_id),
        ).fetchone()
        return None if row is None else chat_key

    def is_published(self, chat: ChatRef) -> bool:
        if not chat.is_group:
            return False
        row = self.db.conn.execute(
            "SELECT gallery FROM chat_settings WHERE chat_key = ?", (chat.scope_key,)
        ).fetchone()
        return bool(row is not None and row["gallery"])

    def challenges_of(self, chat_key: str, limit: int = 10) -> list[tuple[str, Challenge]]:
        """A published chat's latest challenges with their tokens (the leaderboard page links them)."""
        platform, _, chat_id = chat_key.partition(":")
        rows = self.db.conn.execute(
            "SELECT * FROM challenges WHERE platform = ? AND chat_id = ? ORDER BY id DESC LIMIT ?",
            (platform, chat_id, limit),
        ).fetchall()
        found = [row_to_challenge(row) for row in rows]
        tokens = self.tokens(CHALLENGE, [str(c.id) for c in found])
        return [(tokens[str(c.id)], c) for c in found if str(c.id) in tokens]
