"""The quota ledger: GCRA rate state, clips used per day, personal limits, refunds."""

from __future__ import annotations

import sqlite3

from bot.domain import JobStatus, QuotaCharge, QuotaExceeded
from bot.store.db import Database
from bot.store.totals import waiting_total


class _DryRun(Exception):
    """Rolls back a charge that was only a question."""


class QuotaLedger:
    def __init__(self, db: Database) -> None:
        self.db = db

    def charge(self, conn: sqlite3.Connection, charge: QuotaCharge) -> None:
        """Inside the caller's transaction: check the caps and charge one clip, or raise."""
        platform, _, user_id = charge.user_key.partition(":")
        total = waiting_total(conn)
        if total >= charge.max_total:
            raise QuotaExceeded("full", total, charge.max_total)
        waiting = conn.execute(
            "SELECT count(*) FROM jobs WHERE platform = ? AND user_id = ? AND status = ?",
            (platform, user_id, str(JobStatus.QUEUED)),
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
        if not charge.counts_daily:
            return
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

    def would_charge(self, charge: QuotaCharge) -> None:
        """Raise `QuotaExceeded` as `charge` would now, charging nothing (the same checks, rolled
        back): asked before a picture is downloaded, so an over-quota one never is."""
        try:
            with self.db.transaction() as conn:
                self.charge(conn, charge)
                raise _DryRun
        except _DryRun:
            return

    def refund(self, job_id: int) -> bool:
        """Give back the quota a job used, once; True if something was refunded."""
        with self.db.transaction() as conn:
            return self.refund_in(conn, job_id)

    def refund_in(self, conn: sqlite3.Connection, job_id: int) -> bool:
        """Inside the caller's transaction: `refund` (a job's ending and its refund land together)."""
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
        row = self.db.conn.execute(
            "SELECT used FROM usage WHERE user_key = ? AND day = ?", (user_key, day)
        ).fetchone()
        return int(row["used"]) if row else 0

    def reset(self, user_key: str, day: str) -> None:
        """Forget today's clips and the rate-limit debt: a fresh start for this user."""
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM usage WHERE user_key = ? AND day = ?", (user_key, day))
            conn.execute("DELETE FROM rate WHERE user_key = ?", (user_key,))

    def user_daily_limit(self, user_key: str) -> int | None:
        row = self.db.conn.execute("SELECT daily FROM user_limits WHERE user_key = ?", (user_key,)).fetchone()
        return None if row is None else int(row["daily"])

    def set_user_daily_limit(self, user_key: str, daily: int | None) -> None:
        if daily is None:
            self.db.conn.execute("DELETE FROM user_limits WHERE user_key = ?", (user_key,))
        else:
            self.db.conn.execute(
                "INSERT INTO user_limits (user_key, daily) VALUES (?, ?)"
                " ON CONFLICT (user_key) DO UPDATE SET daily = excluded.daily",
                (user_key, daily),
            )

    def forget_before(self, day: str, now: float) -> None:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM usage WHERE day < ?", (day,))
            conn.execute("DELETE FROM rate WHERE tat < ?", (now,))
