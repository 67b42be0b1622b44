"""SQLite: the single source of truth for jobs, quota use and timings.  All SQL lives here.

One connection, WAL mode, autocommit with explicit `BEGIN IMMEDIATE` where several
statements must stand or fall together (the quota charge and the job insert).  The
schema is created with sqlite-utils so adding a column later is one line.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import sqlite_utils

from bot.core.types import Challenge, ChatRef, Job, JobStatus, LeaderboardRow, RenderParams, Standing, UserRef

DB_FILE = "videobot.sqlite3"


class QuotaExceeded(Exception):
    """The user hit a limit: "rate", "daily" or "queued"; `retry_after` for "rate"."""

    def __init__(self, limit: str, used: int, allowed: int, retry_after: float = 0.0) -> None:
        super().__init__(limit)
        self.limit = limit
        self.used = used
        self.allowed = allowed
        self.retry_after = retry_after


@dataclass(frozen=True)
class QuotaCharge:
    """What admitting one job costs a user, and where, so a refund undoes exactly that.

    The rate limit is GCRA: one request every `60 / per_minute` seconds on average,
    with up to `burst` at once.  Its whole state is one "theoretical arrival time".
    """

    user_key: str
    day: str
    daily_limit: int
    max_queued: int
    per_minute: float = 60.0
    burst: int = 1_000_000
    now: float = 0.0


@dataclass(frozen=True)
class ChatSettings:
    """Per-chat limits admins set; None means "the config's value"."""

    max_frames: int | None = None
    max_steps: int | None = None
    daily: int | None = None
    challenges: bool = True
    enabled: bool = True


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: float
    chat: str
    actor: str
    action: str
    target: str
    detail: str


_JOB_COLUMNS: dict[str, Any] = {
    "id": int,
    "platform": str,
    "user_id": str,
    "user_name": str,
    "locale": str,
    "chat_id": str,
    "chat_is_group": int,
    "reply_to": str,
    "status": str,
    "attempts": int,
    "priority": int,
    "model": str,
    "prompt": str,
    "negative": str,
    "seed": int,
    "frames": int,
    "steps": int,
    "guidance": float,
    "width": int,
    "height": int,
    "fps": int,
    "parent_id": int,
    "created_at": float,
    "started_at": float,
    "finished_at": float,
    "status_message": str,
    "result_message": str,
    "clip_path": str,
    "error": str,
    "quota_day": str,
    "refunded": int,
    "challenge_id": int,
}


class Store:
    """Jobs, quota use and measured timings in one SQLite file."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.conn = sqlite3.connect(path, isolation_level=None, timeout=30.0)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA busy_timeout=30000")
        self._create_schema()

    def _create_schema(self) -> None:
        db = sqlite_utils.Database(self.conn)
        jobs, usage, users, timings = (db.table(name) for name in ("jobs", "usage", "users", "timings"))
        jobs.create(
            _JOB_COLUMNS,
            pk="id",
            not_null={"platform", "user_id", "chat_id", "status", "prompt"},
            defaults={"attempts": 0, "priority": 0, "refunded": 0},
            if_not_exists=True,
        )
        for name, kind in _JOB_COLUMNS.items():  # columns added since the file was made
            if name not in jobs.columns_dict:
                jobs.add_column(name, kind)
        jobs.create_index(["status", "priority", "id"], if_not_exists=True)
        jobs.create_index(["platform", "user_id", "id"], if_not_exists=True)
        usage.create({"user_key": str, "day": str, "used": int}, pk=("user_key", "day"), if_not_exists=True)
        users.create({"user_key": str, "last_served_at": float}, pk="user_key", if_not_exists=True)
        timings.create({"key": str, "value": float}, pk="key", if_not_exists=True)
        db.table("rate").create({"user_key": str, "tat": float}, pk="user_key", if_not_exists=True)
        db.table("user_limits").create({"user_key": str, "daily": int}, pk="user_key", if_not_exists=True)
        db.table("chat_settings").create(
            {
                "chat_key": str,
                "max_frames": int,
                "max_steps": int,
                "daily": int,
                "challenges": int,
                "enabled": int,
            },
            pk="chat_key",
            if_not_exists=True,
        )
        db.table("bans").create(
            {"user_key": str, "scope": str, "reason": str, "by_user": str, "at": float},
            pk=("user_key", "scope"),
            if_not_exists=True,
        )
        db.table("challenges").create(
            {
                "id": int,
                "platform": str,
                "chat_id": str,
                "chat_is_group": int,
                "theme": str,
                "created_by": str,
                "started_at": float,
                "deadline": float,
                "max_entries_per_user": int,
                "required_words": str,
                "free_entries": int,
                "status": str,
                "announcement": str,
                "entries_chat_id": str,
            },
            pk="id",
            if_not_exists=True,
        )
        db.table("votes").create(
            {"job_id": int, "voter": str, "challenge_id": int, "at": float},
            pk=("job_id", "voter"),
            if_not_exists=True,
        )
        db.table("challenge_results").create(
            {
                "challenge_id": int,
                "user_key": str,
                "user_name": str,
                "chat_key": str,
                "votes": int,
                "winner": int,
            },
            pk=("challenge_id", "user_key"),
            if_not_exists=True,
        )
        db.table("audit_log").create(
            {"id": int, "at": float, "chat": str, "actor": str, "action": str, "target": str, "detail": str},
            pk="id",
            if_not_exists=True,
        )

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """`BEGIN IMMEDIATE`: take the write lock first, so checks and writes agree."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # jobs -------------------------------------------------------------------------

    def insert_job(self, job: Job, charge: QuotaCharge | None) -> Job:
        """Charge the quota and store the job in one transaction; raises `QuotaExceeded`."""
        with self.transaction() as conn:
            if charge is not None:
                self._charge(conn, charge)
            row = _job_to_row(job)
            row.pop("id")
            row["quota_day"] = charge.day if charge else None
            names = ", ".join(row)
            marks = ", ".join(f":{name}" for name in row)
            cursor = conn.execute(f"INSERT INTO jobs ({names}) VALUES ({marks})", row)
            job.id = int(cursor.lastrowid or 0)
        return job

    def _charge(self, conn: sqlite3.Connection, charge: QuotaCharge) -> None:
        platform, _, user_id = charge.user_key.partition(":")
        waiting = conn.execute(
            "SELECT count(*) FROM jobs WHERE platform = ? AND user_id = ? AND status = 'queued'",
            (platform, user_id),
        ).fetchone()[0]
        if waiting >= charge.max_queued:
            raise QuotaExceeded("queued", waiting, charge.max_queued)
        interval = 60.0 / charge.per_minute
        tolerance = interval * (charge.burst - 1)
        admitted = conn.execute(
            "INSERT INTO rate (user_key, tat) VALUES (:user, :now + :interval)"
            " ON CONFLICT (user_key) DO UPDATE SET tat = max(tat, :now) + :interval"
            " WHERE max(tat, :now) - :now <= :tolerance RETURNING tat",
            {"user": charge.user_key, "now": charge.now, "interval": interval, "tolerance": tolerance},
        ).fetchone()
        if admitted is None:
            tat = conn.execute("SELECT tat FROM rate WHERE user_key = ?", (charge.user_key,)).fetchone()[0]
            raise QuotaExceeded("rate", charge.burst, charge.burst, retry_after=tat - tolerance - charge.now)
        conn.execute(
            "INSERT INTO usage (user_key, day, used) VALUES (?, ?, 0) ON CONFLICT DO NOTHING",
            (charge.user_key, charge.day),
        )
        charged = conn.execute(
            "UPDATE usage SET used = used + 1 WHERE user_key = ? AND day = ? AND used < ?",
            (charge.user_key, charge.day, charge.daily_limit),
        ).rowcount
        if not charged:
            raise QuotaExceeded("daily", charge.daily_limit, charge.daily_limit)

    def refund(self, job_id: int) -> bool:
        """Give back the quota a job used, once; True if something was refunded."""
        with self.transaction() as conn:
            row = conn.execute(
                "UPDATE jobs SET refunded = 1 WHERE id = ? AND refunded = 0 AND quota_day IS NOT NULL"
                " RETURNING platform, user_id, quota_day",
                (job_id,),
            ).fetchone()
            if row is None:
                return False
            conn.execute(
                "UPDATE usage SET used = max(used - 1, 0) WHERE user_key = ? AND day = ?",
                (f"{row['platform']}:{row['user_id']}", row["quota_day"]),
            )
        return True

    def used_today(self, user_key: str, day: str) -> int:
        row = self.conn.execute(
            "SELECT used FROM usage WHERE user_key = ? AND day = ?", (user_key, day)
        ).fetchone()
        return int(row["used"]) if row else 0

    def get_job(self, job_id: int) -> Job | None:
        row = self.conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return _row_to_job(row) if row else None

    def jobs_with_status(self, *statuses: JobStatus) -> list[Job]:
        marks = ", ".join("?" for _ in statuses)
        rows = self.conn.execute(
            f"SELECT * FROM jobs WHERE status IN ({marks}) ORDER BY id", [str(s) for s in statuses]
        ).fetchall()
        return [_row_to_job(row) for row in rows]

    def user_jobs(self, user: UserRef, limit: int = 10) -> list[Job]:
        rows = self.conn.execute(
            "SELECT * FROM jobs WHERE platform = ? AND user_id = ? ORDER BY id DESC LIMIT ?",
            (user.platform, user.id, limit),
        ).fetchall()
        return [_row_to_job(row) for row in rows]

    def job_by_result_message(self, platform: str, chat_id: str, message: str) -> Job | None:
        row = self.conn.execute(
            "SELECT * FROM jobs WHERE platform = ? AND chat_id = ? AND result_message = ?"
            " ORDER BY id DESC LIMIT 1",
            (platform, chat_id, message),
        ).fetchone()
        return _row_to_job(row) if row else None

    def last_served(self) -> dict[str, float]:
        rows = self.conn.execute("SELECT user_key, last_served_at FROM users").fetchall()
        return {row["user_key"]: row["last_served_at"] or 0.0 for row in rows}

    def claim(self, job_id: int, now: float) -> Job | None:
        """Move a queued job to running (one more attempt) and note when its user was served."""
        with self.transaction() as conn:
            row = conn.execute(
                "UPDATE jobs SET status = 'running', started_at = ?, attempts = attempts + 1"
                " WHERE id = ? AND status = 'queued' RETURNING *",
                (now, job_id),
            ).fetchone()
            if row is None:
                return None
            conn.execute(
                "INSERT INTO users (user_key, last_served_at) VALUES (?, ?)"
                " ON CONFLICT (user_key) DO UPDATE SET last_served_at = excluded.last_served_at",
                (f"{row['platform']}:{row['user_id']}", now),
            )
        return _row_to_job(row)

    def set_status(
        self, job_id: int, status: JobStatus, *, only_from: tuple[JobStatus, ...] = (), **extra: Any
    ) -> bool:
        """Set a job's status (and columns in `extra`); with `only_from`, only from those."""
        values: dict[str, Any] = {"status": str(status), **extra, "id": job_id}
        if status.finished:
            values.setdefault("finished_at", time.time())
        sets = ", ".join(f"{name} = :{name}" for name in values if name != "id")
        where = "id = :id"
        if only_from:
            where += " AND status IN (" + ", ".join(f"'{s}'" for s in only_from) + ")"
        return self.conn.execute(f"UPDATE jobs SET {sets} WHERE {where}", values).rowcount > 0

    def update_job(self, job_id: int, **columns: Any) -> None:
        sets = ", ".join(f"{name} = :{name}" for name in columns)
        self.conn.execute(f"UPDATE jobs SET {sets} WHERE id = :id", {**columns, "id": job_id})

    def requeue(self, job_id: int) -> None:
        """Put a job back in line without counting the attempt (our shutdown, not its fault)."""
        self.conn.execute(
            "UPDATE jobs SET status = 'queued', attempts = max(attempts - 1, 0), started_at = NULL"
            " WHERE id = ?",
            (job_id,),
        )

    def expired_clips(self, older_than: float) -> list[Job]:
        rows = self.conn.execute(
            "SELECT * FROM jobs WHERE clip_path IS NOT NULL AND status IN ('done', 'failed', 'cancelled')"
            " AND finished_at < ?",
            (older_than,),
        ).fetchall()
        return [_row_to_job(row) for row in rows]

    # limits, bans, audit ---------------------------------------------------------------

    def user_daily_limit(self, user_key: str) -> int | None:
        row = self.conn.execute("SELECT daily FROM user_limits WHERE user_key = ?", (user_key,)).fetchone()
        return None if row is None else int(row["daily"])

    def set_user_daily_limit(self, user_key: str, daily: int | None) -> None:
        if daily is None:
            self.conn.execute("DELETE FROM user_limits WHERE user_key = ?", (user_key,))
        else:
            self.conn.execute(
                "INSERT INTO user_limits (user_key, daily) VALUES (?, ?)"
                " ON CONFLICT (user_key) DO UPDATE SET daily = excluded.daily",
                (user_key, daily),
            )

    def reset_usage(self, user_key: str, day: str) -> None:
        """Forget today's clips and the rate-limit debt: a fresh start for this user."""
        with self.transaction() as conn:
            conn.execute("DELETE FROM usage WHERE user_key = ? AND day = ?", (user_key, day))
            conn.execute("DELETE FROM rate WHERE user_key = ?", (user_key,))

    def chat_settings(self, chat_key: str) -> ChatSettings:
        row = self.conn.execute("SELECT * FROM chat_settings WHERE chat_key = ?", (chat_key,)).fetchone()
        if row is None:
            return ChatSettings()
        return ChatSettings(
            max_frames=row["max_frames"],
            max_steps=row["max_steps"],
            daily=row["daily"],
            challenges=bool(row["challenges"]),
            enabled=bool(row["enabled"]),
        )

    def save_chat_settings(self, chat_key: str, settings: ChatSettings) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO chat_settings"
            " (chat_key, max_frames, max_steps, daily, challenges, enabled) VALUES (?, ?, ?, ?, ?, ?)",
            (
                chat_key,
                settings.max_frames,
                settings.max_steps,
                settings.daily,
                int(settings.challenges),
                int(settings.enabled),
            ),
        )

    def ban(self, user_key: str, scope: str, reason: str, by_user: str, at: float) -> None:
        """Ban in one chat (`scope` = its key) or everywhere (`scope` = "*")."""
        self.conn.execute(
            "INSERT OR REPLACE INTO bans (user_key, scope, reason, by_user, at) VALUES (?, ?, ?, ?, ?)",
            (user_key, scope, reason, by_user, at),
        )

    def unban(self, user_key: str, scope: str) -> bool:
        """Lift a ban in one chat; `scope` "*" lifts every ban the user has."""
        deleted = self.conn.execute(
            "DELETE FROM bans WHERE user_key = ? AND (scope = ? OR ? = '*')", (user_key, scope, scope)
        )
        return deleted.rowcount > 0

    def ban_reason(self, user_key: str, chat_key: str | None = None) -> str | None:
        """None if not banned here (or everywhere), else the reason given (possibly empty)."""
        row = self.conn.execute(
            "SELECT reason FROM bans WHERE user_key = ? AND scope IN ('*', ?) ORDER BY scope = '*' DESC",
            (user_key, chat_key or "*"),
        ).fetchone()
        return None if row is None else str(row["reason"] or "")

    def audit(
        self, at: float, chat: str, actor: str, action: str, target: str = "", detail: str = ""
    ) -> None:
        self.conn.execute(
            "INSERT INTO audit_log (at, chat, actor, action, target, detail) VALUES (?, ?, ?, ?, ?, ?)",
            (at, chat, actor, action, target, detail),
        )

    def audit_entries(self, limit: int, chat: str | None = None) -> list[AuditEntry]:
        query = "SELECT * FROM audit_log"
        args: list[Any] = []
        if chat is not None:
            query += " WHERE chat = ?"
            args.append(chat)
        rows = self.conn.execute(query + " ORDER BY id DESC LIMIT ?", [*args, limit]).fetchall()
        return [
            AuditEntry(
                r["id"],
                r["at"],
                r["chat"] or "",
                r["actor"],
                r["action"],
                r["target"] or "",
                r["detail"] or "",
            )
            for r in rows
        ]

    def queued_jobs_of(self, user_key: str | None, chat_key: str | None = None) -> list[Job]:
        """Queued jobs, of one user and/or in one chat (None: any)."""
        return [
            job
            for job in self.jobs_with_status(JobStatus.QUEUED)
            if (user_key is None or job.user.key == user_key)
            and (chat_key is None or job.chat.key == chat_key)
        ]

    # challenges -------------------------------------------------------------------------

    def create_challenge(self, challenge: Challenge) -> Challenge:
        """Insert an open challenge unless the chat already has one (then raise ValueError)."""
        with self.transaction() as conn:
            busy = conn.execute(
                "SELECT id FROM challenges WHERE platform = ? AND chat_id = ? AND status = 'open'",
                (challenge.chat.platform, challenge.chat.id),
            ).fetchone()
            if busy is not None:
                raise ValueError(f"challenge {busy['id']} is still open")
            cursor = conn.execute(
                "INSERT INTO challenges (platform, chat_id, chat_is_group, theme, created_by, started_at,"
                " deadline, max_entries_per_user, required_words, free_entries, status)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'open')",
                (
                    challenge.chat.platform,
                    challenge.chat.id,
                    int(challenge.chat.is_group),
                    challenge.theme,
                    challenge.created_by,
                    challenge.started_at,
                    challenge.deadline,
                    challenge.max_entries_per_user,
                    "\n".join(challenge.required_words),
                    int(challenge.free_entries),
                ),
            )
        return replace(challenge, id=int(cursor.lastrowid or 0))

    def update_challenge(self, challenge_id: int, **columns: Any) -> None:
        sets = ", ".join(f"{name} = :{name}" for name in columns)
        self.conn.execute(f"UPDATE challenges SET {sets} WHERE id = :id", {**columns, "id": challenge_id})

    def get_challenge(self, challenge_id: int) -> Challenge | None:
        row = self.conn.execute("SELECT * FROM challenges WHERE id = ?", (challenge_id,)).fetchone()
        return _row_to_challenge(row) if row else None

    def open_challenge(self, chat: ChatRef) -> Challenge | None:
        row = self.conn.execute(
            "SELECT * FROM challenges WHERE status = 'open' AND platform = ?"
            " AND (chat_id = ? OR entries_chat_id = ?)",
            (chat.platform, chat.id, chat.id),
        ).fetchone()
        return _row_to_challenge(row) if row else None

    def open_challenges(self) -> list[Challenge]:
        rows = self.conn.execute(
            "SELECT * FROM challenges WHERE status = 'open' ORDER BY deadline"
        ).fetchall()
        return [_row_to_challenge(row) for row in rows]

    def entries_of(self, challenge_id: int, user_key: str | None = None) -> list[Job]:
        """Entries that still count: not failed, not cancelled."""
        query = "SELECT * FROM jobs WHERE challenge_id = ? AND status NOT IN ('failed', 'cancelled')"
        args: list[Any] = [challenge_id]
        if user_key is not None:
            platform, _, user_id = user_key.partition(":")
            query += " AND platform = ? AND user_id = ?"
            args += [platform, user_id]
        return [_row_to_job(row) for row in self.conn.execute(query + " ORDER BY id", args).fetchall()]

    def toggle_vote(self, challenge_id: int, job_id: int, voter: str, at: float) -> tuple[bool, int]:
        """Add the vote, or take it back if already given; returns (voted now, entry's votes)."""
        with self.transaction() as conn:
            removed = conn.execute(
                "DELETE FROM votes WHERE job_id = ? AND voter = ?", (job_id, voter)
            ).rowcount
            if not removed:
                conn.execute(
                    "INSERT INTO votes (job_id, voter, challenge_id, at) VALUES (?, ?, ?, ?)",
                    (job_id, voter, challenge_id, at),
                )
            count = conn.execute("SELECT count(*) FROM votes WHERE job_id = ?", (job_id,)).fetchone()[0]
        return not removed, int(count)

    def vote_count(self, job_id: int) -> int:
        return int(self.conn.execute("SELECT count(*) FROM votes WHERE job_id = ?", (job_id,)).fetchone()[0])

    def standings(self, challenge_id: int) -> list[Standing]:
        """Delivered entries, most votes first (ties: earlier entry first)."""
        rows = self.conn.execute(
            "SELECT jobs.*, (SELECT count(*) FROM votes WHERE votes.job_id = jobs.id) AS vote_count"
            " FROM jobs WHERE challenge_id = ? AND status = 'done' ORDER BY vote_count DESC, id",
            (challenge_id,),
        ).fetchall()
        return [
            Standing(
                row["id"],
                _row_to_job(row).user,
                row["vote_count"],
                row["result_message"],
                _row_to_job(row).chat,
            )
            for row in rows
        ]

    def close_challenge(
        self,
        challenge_id: int,
        status: str,
        winners: list[Standing],
        standings: list[Standing],
        chat_key: str,
    ) -> bool:
        """Close once (open → closed/cancelled) and record results; False if already closed."""
        with self.transaction() as conn:
            closed = conn.execute(
                "UPDATE challenges SET status = ? WHERE id = ? AND status = 'open'", (status, challenge_id)
            ).rowcount
            if not closed:
                return False
            if status == "closed":
                totals: dict[str, tuple[str, int]] = {}
                for standing in standings:
                    name, votes = totals.get(standing.user.key, (standing.user.name, 0))
                    totals[standing.user.key] = (name, votes + standing.votes)
                winner_keys = {w.user.key for w in winners}
                for user_key, (name, votes) in totals.items():
                    conn.execute(
                        "INSERT OR REPLACE INTO challenge_results"
                        " (challenge_id, user_key, user_name, chat_key, votes, winner)"
                        " VALUES (?, ?, ?, ?, ?, ?)",
                        (challenge_id, user_key, name, chat_key, votes, int(user_key in winner_keys)),
                    )
        return True

    def leaderboard(self, chat_key: str, limit: int = 10) -> list[LeaderboardRow]:
        rows = self.conn.execute(
            "SELECT user_key, max(user_name) AS name, sum(winner) AS wins, sum(votes) AS votes"
            " FROM challenge_results WHERE chat_key = ? GROUP BY user_key"
            " ORDER BY wins DESC, votes DESC, user_key LIMIT ?",
            (chat_key, limit),
        ).fetchall()
        return [LeaderboardRow(r["user_key"], r["name"] or "", int(r["wins"]), int(r["votes"])) for r in rows]

    def forget_before(self, *, jobs_before: float, audit_before: float, day_before: str, now: float) -> None:
        """Delete finished jobs (prompts, user ids), usage and audit entries older than the cutoffs."""
        with self.transaction() as conn:
            conn.execute("DELETE FROM usage WHERE day < ?", (day_before,))
            conn.execute("DELETE FROM rate WHERE tat < ?", (now,))
            conn.execute("DELETE FROM users WHERE last_served_at < ?", (jobs_before,))
            conn.execute(
                "DELETE FROM votes WHERE job_id IN (SELECT id FROM jobs WHERE finished_at < ?"
                " AND status IN ('done', 'failed', 'cancelled') AND clip_path IS NULL)",
                (jobs_before,),
            )
            conn.execute(
                "DELETE FROM jobs WHERE finished_at < ? AND status IN ('done', 'failed', 'cancelled')"
                " AND clip_path IS NULL",
                (jobs_before,),
            )
            conn.execute("DELETE FROM audit_log WHERE at < ?", (audit_before,))

    # timings ------------------------------------------------------------------------

    def timing(self, key: str) -> float | None:
        row = self.conn.execute("SELECT value FROM timings WHERE key = ?", (key,)).fetchone()
        return float(row["value"]) if row else None

    def record_timing(self, key: str, value: float, weight: float = 0.3) -> float:
        """Blend a new measurement into the stored moving average and return it."""
        row = self.conn.execute(
            "INSERT INTO timings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE"
            " SET value = value * (1 - ?) + excluded.value * ? RETURNING value",
            (key, value, weight, weight),
        ).fetchone()
        return float(row["value"])


def _job_to_row(job: Job) -> dict[str, Any]:
    p = job.params
    return {
        "id": job.id,
        "platform": job.user.platform,
        "user_id": job.user.id,
        "user_name": job.user.name,
        "locale": job.user.locale,
        "chat_id": job.chat.id,
        "chat_is_group": int(job.chat.is_group),
        "reply_to": job.reply_to,
        "status": str(job.status),
        "attempts": job.attempts,
        "priority": job.priority,
        "model": job.model,
        "prompt": p.prompt,
        "negative": p.negative,
        "seed": p.seed,
        "frames": p.frames,
        "steps": p.steps,
        "guidance": p.guidance,
        "width": p.width,
        "height": p.height,
        "fps": p.fps,
        "parent_id": job.parent_id,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "status_message": job.status_message,
        "result_message": job.result_message,
        "clip_path": job.clip_path,
        "error": job.error,
        "challenge_id": job.challenge_id,
    }


def _row_to_job(row: sqlite3.Row) -> Job:
    return Job(
        id=row["id"],
        user=UserRef(row["platform"], row["user_id"], row["user_name"] or "", row["locale"] or "en"),
        chat=ChatRef(row["platform"], row["chat_id"], bool(row["chat_is_group"])),
        params=RenderParams(
            prompt=row["prompt"],
            negative=row["negative"] or "",
            seed=row["seed"],
            frames=row["frames"],
            steps=row["steps"],
            guidance=row["guidance"],
            width=row["width"],
            height=row["height"],
            fps=row["fps"],
        ),
        model=row["model"] or "",
        status=JobStatus(row["status"]),
        attempts=row["attempts"],
        priority=row["priority"],
        created_at=row["created_at"] or 0.0,
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        reply_to=row["reply_to"],
        status_message=row["status_message"],
        result_message=row["result_message"],
        clip_path=row["clip_path"],
        error=row["error"],
        parent_id=row["parent_id"],
        challenge_id=row["challenge_id"],
    )


def _row_to_challenge(row: sqlite3.Row) -> Challenge:
    chat = ChatRef(row["platform"], row["chat_id"], bool(row["chat_is_group"]))
    entries_chat = ChatRef(row["platform"], row["entries_chat_id"], True) if row["entries_chat_id"] else None
    return Challenge(
        id=row["id"],
        chat=chat,
        theme=row["theme"],
        created_by=row["created_by"],
        started_at=row["started_at"],
        deadline=row["deadline"],
        max_entries_per_user=row["max_entries_per_user"],
        required_words=tuple(w for w in (row["required_words"] or "").split("\n") if w),
        free_entries=bool(row["free_entries"]),
        status=row["status"],
        announcement=row["announcement"],
        entries_chat=entries_chat,
    )
