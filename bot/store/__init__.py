"""SQLite: the single source of truth for jobs, quota use, challenges and what admins set.

Every SQL statement lives in this package, one table (or ledger) a class, all sharing one
connection.  `Store` bundles them; callers say which room they mean
(`store.jobs.claim(...)`, `store.quota.refund(...)`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from bot.store.backlog import Backlog
from bot.store.challenges import ChallengeTable
from bot.store.db import Database, StoreError
from bot.store.drafts import DraftTable
from bot.store.jobs import JobTable, Timings
from bot.store.migrations import ModelKeys
from bot.store.moderation import EVERYWHERE, AuditLog, Bans, BotSettings, ChatSettingsTable
from bot.store.public import PublicPages
from bot.store.quota import QuotaLedger
from bot.store.retention import Retention

DB_FILE = "videobot.sqlite3"


class Store:
    """The bot's SQLite file, room by room.  `clock` dates every change (tests pass their own)."""

    def __init__(
        self,
        path: Path,
        clock: Callable[[], float] = time.time,
        *,
        busy_timeout_ms: int = 30_000,
        model_keys: ModelKeys | None = None,
    ) -> None:
        """`busy_timeout_ms`: how long a call waits for another process's lock.  The bot keeps it
        short (its calls run on the event loop) and retries what matters (`bot.core.persist`).
        `model_keys` (each configured model's hub id and folder → its key) lets the migrations
        that move job rows to configured names run; without it they wait for the bot."""
        self.db = Database(path, busy_timeout_ms, model_keys)
        self.path = path
        self.clock = clock
        self.quota = QuotaLedger(self.db)
        self.jobs = JobTable(self.db, self.quota, clock)
        self.backlog = Backlog(self.db)  # the work waiting, for ETAs and places in line
        self.retention = Retention(self.db)
        self.timings = Timings(self.db)
        self.chats = ChatSettingsTable(self.db)
        self.settings = BotSettings(self.db)
        self.bans = Bans(self.db)
        self.audit = AuditLog(self.db)
        self.challenges = ChallengeTable(self.db)
        self.public = PublicPages(self.db)
        self.drafts = DraftTable(self.db)

    def close(self) -> None:
        self.db.close()

    def forget_before(self, *, jobs_before: float, audit_before: float, day_before: str, now: float) -> None:
        """Delete finished jobs, old usage and audit entries: what `[storage]` promises to forget."""
        self.quota.forget_before(day_before, now)
        self.retention.forget_finished(jobs_before)
        self.audit.forget_before(audit_before)
        self.public.forget_orphans()
        self.drafts.forget_before(jobs_before)


__all__ = ["DB_FILE", "EVERYWHERE", "Store", "StoreError"]
