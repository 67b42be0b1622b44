"""One SQLite connection, its schema, and `BEGIN IMMEDIATE` transactions.

WAL mode, autocommit, and explicit `BEGIN IMMEDIATE` where several statements must stand
or fall together (the quota charge and the job insert).  The schema is created with
sqlite-utils, so a column added to a dataclass is added to an older file at start-up.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlite_utils

from bot.store.rows import CHALLENGE_COLUMNS, JOB_COLUMNS


class Database:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.conn = sqlite3.connect(path, isolation_level=None, timeout=30.0)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA busy_timeout=30000")
        create_schema(self.conn)

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


def create_schema(conn: sqlite3.Connection) -> None:
    db = sqlite_utils.Database(conn)
    jobs = db.table("jobs")
    jobs.create(
        JOB_COLUMNS,
        pk="id",
        not_null={"platform", "user_id", "chat_id", "status", "prompt"},
        defaults={"attempts": 0, "priority": 0, "refunded": 0},
        if_not_exists=True,
    )
    for name, kind in JOB_COLUMNS.items():  # columns added since the file was made
        if name not in jobs.columns_dict:
            jobs.add_column(name, kind)
    jobs.create_index(["status", "priority", "id"], if_not_exists=True)
    jobs.create_index(["platform", "user_id", "id"], if_not_exists=True)
    jobs.create_index(["status", "platform", "user_id", "id"], if_not_exists=True)  # the fair order's windows
    db.table("usage").create(
        {"user_key": str, "day": str, "used": int}, pk=("user_key", "day"), if_not_exists=True
    )
    db.table("users").create({"user_key": str, "last_served_at": float}, pk="user_key", if_not_exists=True)
    db.table("timings").create({"key": str, "value": float}, pk="key", if_not_exists=True)
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
    db.table("challenges").create(CHALLENGE_COLUMNS, pk="id", if_not_exists=True)
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
