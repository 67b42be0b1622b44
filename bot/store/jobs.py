"""The jobs table: insert with the quota charge, claim, status changes, look-ups."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from bot.domain import Job, JobStatus, QuotaCharge, UserRef
from bot.store.db import Database
from bot.store.fair import KEY as FAIR_KEY
from bot.store.quota import QuotaLedger
from bot.store.rows import job_to_row, row_to_job
from bot.store.totals import TABLE as TOTALS
from bot.store.totals import waiting_total

FINISHED = tuple(str(s) for s in JobStatus if s.finished)
FINISHED_SQL = "(" + ", ".join(f"'{s}'" for s in FINISHED) + ")"


def where_chat(chat_key: str, table: str = "jobs") -> tuple[str, list[str]]:
    """SQL for "in this chat": a chat's key ("discord:777") or a server's ("discord:server:42")."""
    platform, _, rest = chat_key.partition(":")
    kind, _, server = rest.partition(":")
    if kind == "server" and server:
        return f"{table}.platform = ? AND {table}.chat_server = ?", [platform, server]
    return f"{table}.platform = ? AND {table}.chat_id = ?", [platform, rest]


class JobTable:
    def __init__(self, db: Database, ledger: QuotaLedger, clock: Callable[[], float]) -> None:
        self.db = db
        self.ledger = ledger
        self.clock = clock

    def insert(self, job: Job, charge: QuotaCharge | None) -> Job:
        """Charge the quota and store the job in one transaction; raises `QuotaExceeded`."""
        with self.db.transaction() as conn:
            if charge is not None:
                self.ledger.charge(conn, charge)
            row = job_to_row(job)
            row.pop("id")
            row["quota_day"] = charge.day if charge and charge.counts_daily else None
            names = ", ".join(row)
            marks = ", ".join(f":{name}" for name in row)
            cursor = conn.execute(f"INSERT INTO jobs ({names}) VALUES ({marks})", row)
            job.id = int(cursor.lastrowid or 0)
        return job

    def get(self, job_id: int) -> Job | None:
        row = self.db.conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return row_to_job(row) if row else None

    def with_status(self, *statuses: JobStatus) -> list[Job]:
        marks = ", ".join("?" for _ in statuses)
        rows = self.db.conn.execute(
            f"SELECT * FROM jobs WHERE status IN ({marks}) ORDER BY id", [str(s) for s in statuses]
        ).fetchall()
        return [row_to_job(row) for row in rows]

    def of_user(self, user: UserRef, limit: int = 10) -> list[Job]:
        rows = self.db.conn.execute(
            "SELECT * FROM jobs WHERE platform = ? AND user_id = ? ORDER BY id DESC LIMIT ?",
            (user.platform, user.id, limit),
        ).fetchall()
        return [row_to_job(row) for row in rows]

    def queued_of(self, user_key: str | None, chat_key: str | None = None) -> list[Job]:
        """Queued jobs, of one user and/or in one chat (None: any), oldest first."""
        query, args = "SELECT * FROM jobs WHERE jobs.status = ?", [str(JobStatus.QUEUED)]
        if user_key is not None:
            platform, _, user_id = user_key.partition(":")
            query, args = query + " AND platform = ? AND user_id = ?", [*args, platform, user_id]
        if chat_key is not None:
            condition, chat_args = where_chat(chat_key)
            query, args = f"{query} AND {condition}", [*args, *chat_args]
        return [row_to_job(row) for row in self.db.conn.execute(query + " ORDER BY id", args).fetchall()]

    def unfinished_in(self, chat_key: str, limit: int = -1) -> list[Job]:
        condition, args = where_chat(chat_key)
        rows = self.db.conn.execute(
            f"SELECT * FROM jobs WHERE {condition} AND status NOT IN {FINISHED_SQL} ORDER BY id LIMIT ?",
            [*args, limit],
        ).fetchall()
        return [row_to_job(row) for row in rows]

    def unfinished_count(self, chat_key: str) -> int:
        condition, args = where_chat(chat_key)
        row = self.db.conn.execute(
            f"SELECT count(*) FROM jobs WHERE {condition} AND status NOT IN {FINISHED_SQL}", args
        ).fetchone()
        return int(row[0])

    def with_notice(self, platform: str) -> list[Job]:
        rows = self.db.conn.execute(
            "SELECT * FROM jobs WHERE notice IS NOT NULL AND platform = ? ORDER BY id", (platform,)
        ).fetchall()
        return [row_to_job(row) for row in rows]

    def due_for_delivery(self, now: float) -> list[Job]:
        """Finished clips still to send whose next round has come."""
        rows = self.db.conn.execute(
            "SELECT * FROM jobs WHERE status = ? AND (next_delivery_at IS NULL OR next_delivery_at <= ?)"
            " ORDER BY id",
            (str(JobStatus.DELIVERING), now),
        ).fetchall()
        return [row_to_job(row) for row in rows]

    def by_result_message(self, platform: str, chat_id: str, message: str) -> Job | None:
        row = self.db.conn.execute(
            "SELECT * FROM jobs WHERE platform = ? AND chat_id = ? AND result_message = ?"
            " ORDER BY id DESC LIMIT 1",
            (platform, chat_id, message),
        ).fetchone()
        return row_to_job(row) if row else None

    def of_challenge(self, challenge_id: int, user_key: str | None = None) -> list[Job]:
        """A challenge's entries that still count: not failed, not cancelled."""
        query = "SELECT * FROM jobs WHERE challenge_id = ? AND status NOT IN (?, ?)"
        args: list[Any] = [challenge_id, str(JobStatus.FAILED), str(JobStatus.CANCELLED)]
        if user_key is not None:
            platform, _, user_id = user_key.partition(":")
            query += " AND platform = ? AND user_id = ?"
            args += [platform, user_id]
        return [row_to_job(row) for row in self.db.conn.execute(query + " ORDER BY id", args).fetchall()]

    def fair_order(self, limit: int = -1, chat_key: str | None = None) -> list[Job]:
        """Waiting jobs in the order they will run (at most `limit`; -1: all), optionally of one chat
        (`bot.store.fair` keeps the order's key in the rows)."""
        query, args = "SELECT * FROM jobs WHERE status = ?", [str(JobStatus.QUEUED)]
        if chat_key is not None:
            condition, chat_args = where_chat(chat_key)
            query, args = f"{query} AND {condition}", [*args, *chat_args]
        rows = self.db.conn.execute(f"{query} ORDER BY {FAIR_KEY} LIMIT ?", [*args, limit])
        return [row_to_job(row) for row in rows.fetchall()]

    def first_of_each_model(self, window: int) -> list[Job]:
        """The first waiting job of each model among the first `window` in line, in line order:
        what a dispatcher choosing by model needs, without reading the whole window's rows (the
        models come from the fair-order index)."""
        rows = self.db.conn.execute(
            f"SELECT id, model FROM jobs WHERE status = ? ORDER BY {FAIR_KEY} LIMIT ?",
            (str(JobStatus.QUEUED), window),
        ).fetchall()
        firsts: dict[str, int] = {}
        for row in rows:
            firsts.setdefault(row["model"] or "", int(row["id"]))
        jobs = [self.get(job_id) for job_id in firsts.values()]
        return [job for job in jobs if job is not None]

    def waiting_count(self, chat_key: str | None = None) -> int:
        if chat_key is None:
            return waiting_total(self.db.conn)
        condition, args = where_chat(chat_key)
        query = f"SELECT count(*) FROM jobs WHERE jobs.status = ? AND {condition}"
        return int(self.db.conn.execute(query, [str(JobStatus.QUEUED), *args]).fetchone()[0])

    def counts(self) -> dict[tuple[str, str], int]:
        """How many jobs the table holds, by (status, model): the metrics' jobs gauge."""
        rows = self.db.conn.execute(
            f"SELECT status, model, sum(jobs) AS n FROM {TOTALS} GROUP BY status, model"
        ).fetchall()
        return {(row["status"], row["model"]): int(row["n"]) for row in rows}

    def recent_failed(self, limit: int = 20) -> list[Job]:
        rows = self.db.conn.execute(
            "SELECT * FROM jobs WHERE status = ? ORDER BY finished_at DESC, id DESC LIMIT ?",
            (str(JobStatus.FAILED), limit),
        ).fetchall()
        return [row_to_job(row) for row in rows]

    def last_served(self) -> dict[str, float]:
        rows = self.db.conn.execute("SELECT user_key, last_served_at FROM users").fetchall()
        return {row["user_key"]: row["last_served_at"] or 0.0 for row in rows}

    def claim(self, job_id: int) -> Job | None:
        """Move a queued job to running (one more attempt) and note when its user was served."""
        now = self.clock()
        with self.db.transaction() as conn:
            row = conn.execute(
                "UPDATE jobs SET status = ?, started_at = ?, attempts = attempts + 1"
                " WHERE id = ? AND status = ? RETURNING *",
                (str(JobStatus.RUNNING), now, job_id, str(JobStatus.QUEUED)),
            ).fetchone()
            if row is None:
                return None
            conn.execute(
                "INSERT INTO users (user_key, last_served_at) VALUES (?, ?)"
                " ON CONFLICT (user_key) DO UPDATE SET last_served_at = excluded.last_served_at",
                (f"{row['platform']}:{row['user_id']}", now),
            )
        return row_to_job(row)

    def set_status(
        self, job_id: int, status: JobStatus, *, only_from: tuple[JobStatus, ...] = (), **extra: Any
    ) -> bool:
        """Move an unfinished job on (and set columns in `extra`); with `only_from`, only from those.
        Jobs end through `end`; an ended job never moves again (False)."""
        if status.finished:
            raise ValueError(f"job {job_id}: {status} is an ending; use end()")
        return self._move(self.db.conn, job_id, status, only_from, extra)

    def end(
        self, job_id: int, status: JobStatus, *, only_from: tuple[JobStatus, ...] = (), **extra: Any
    ) -> bool:
        """End a job: its final status, `finished_at` and, failed or cancelled, its quota refund,
        in one transaction (a crash leaves all or none).  Refuses to leave an ended state and,
        with `only_from`, any state but those; False when it refused."""
        if not status.finished:
            raise ValueError(f"job {job_id}: {status} is not an ending")
        with self.db.transaction() as conn:
            if not self._move(conn, job_id, status, only_from, {"finished_at": self.clock(), **extra}):
                return False
            if status != JobStatus.DONE:
                self.ledger.refund_in(conn, job_id)
        return True

    def _move(
        self,
        conn: sqlite3.Connection,
        job_id: int,
        status: JobStatus,
        only_from: tuple[JobStatus, ...],
        extra: dict[str, Any],
    ) -> bool:
        """The one status change: never out of an ended state, whoever asks."""
        values: dict[str, Any] = {"status": str(status), **extra, "id": job_id}
        sets = ", ".join(f"{name} = :{name}" for name in values if name != "id")
        where = f"id = :id AND status NOT IN {FINISHED_SQL}"
        if only_from:
            where += " AND status IN (" + ", ".join(f":from{i}" for i in range(len(only_from))) + ")"
            values.update({f"from{i}": str(s) for i, s in enumerate(only_from)})
        return conn.execute(f"UPDATE jobs SET {sets} WHERE {where}", values).rowcount > 0

    def update(self, job_id: int, **columns: Any) -> None:
        """Columns other than the status (which moves through `set_status` and `end` only)."""
        if "status" in columns:
            raise ValueError("a job's status moves through set_status() or end()")
        sets = ", ".join(f"{name} = :{name}" for name in columns)
        self.db.conn.execute(f"UPDATE jobs SET {sets} WHERE id = :id", {**columns, "id": job_id})

    def requeue(self, job_id: int) -> None:
        """Put a job back in line without counting the attempt (our shutdown, not its fault)."""
        self.db.conn.execute(
            "UPDATE jobs SET status = ?, attempts = max(attempts - 1, 0), started_at = NULL"
            f" WHERE id = ? AND status NOT IN {FINISHED_SQL}",
            (str(JobStatus.QUEUED), job_id),
        )


class Timings:
    """Measured seconds per step·frame for each render shape: the ETA's raw material."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, key: str) -> float | None:
        row = self.db.conn.execute("SELECT value FROM timings WHERE key = ?", (key,)).fetchone()
        return float(row["value"]) if row else None

    def starting(self, prefix: str) -> dict[str, float]:
        """Every timing whose key starts with `prefix` (one shape's batch sizes)."""
        rows = self.db.conn.execute(  # a range of the key: a search, not a scan
            "SELECT key, value FROM timings WHERE key >= ? AND key < ?", (prefix, prefix + "\U0010ffff")
        ).fetchall()
        return {str(row["key"]): float(row["value"]) for row in rows}

    def record(self, key: str, value: float, weight: float = 0.3) -> float:
        """Blend a new measurement into the stored moving average and return it."""
        row = self.db.conn.execute(
            "INSERT INTO timings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE"
            " SET value = value * (1 - ?) + excluded.value * ? RETURNING value",
            (key, value, weight, weight),
        ).fetchone()
        return float(row["value"])
