"""One SQLite connection, its schema, and `BEGIN IMMEDIATE` transactions.

WAL mode, autocommit, and explicit `BEGIN IMMEDIATE` where several statements must stand
or fall together (the quota charge and the job insert).  The schema is created with
sqlite-utils by numbered migrations (`bot.store.migrations`, `PRAGMA user_version`).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import sqlite_utils

from bot.store.fair import COLUMNS as FAIR_COLUMNS
from bot.store.fair import DEFAULTS as FAIR_DEFAULTS
from bot.store.fair import FAIR_INDEX
from bot.store.fair import install as install_fair_order
from bot.store.migrations import ModelKeys, migrate, version
from bot.store.rows import CHALLENGE_COLUMNS, DRAFT_COLUMNS, JOB_COLUMNS
from bot.store.totals import COLUMNS as TOTALS_COLUMNS
from bot.store.totals import KEY as TOTALS_KEY
from bot.store.totals import TABLE as TOTALS_TABLE
from bot.store.totals import install as install_totals


class StoreError(Exception):
    """The database file cannot be used; the message is one line for the owner."""


@dataclass(frozen=True)
class Table:
    columns: dict[str, type]
    pk: str | tuple[str, ...]
    not_null: frozenset[str] = frozenset()
    defaults: dict[str, object] = field(default_factory=dict)
    indexes: tuple[tuple[str, ...], ...] = ()


# Every table the bot keeps, in one place: created when missing, and columns added since
# an older file was made are added at start-up (any table, not only jobs).  Anything else
# a file needs (renames, moving data) is a numbered migration in `bot.store.migrations`.
TABLES: dict[str, Table] = {
    "jobs": Table(
        {**JOB_COLUMNS, **FAIR_COLUMNS},
        pk="id",
        not_null=frozenset({"platform", "user_id", "chat_id", "status", "prompt"}),
        defaults={"attempts": 0, "priority": 0, "refunded": 0, **FAIR_DEFAULTS},
        indexes=(
            ("status", "priority", "id"),
            ("platform", "user_id", "id"),
            ("status", "platform", "user_id", "id"),  # renumbering one user's waiting jobs
            FAIR_INDEX,
            ("platform", "chat_id", "status"),  # a busy group's board
        ),
    ),
    # How many jobs and how much work, by status and render shape (`bot.store.totals`).
    TOTALS_TABLE: Table(TOTALS_COLUMNS, pk=TOTALS_KEY, defaults={"jobs": 0, "step_frames": 0}),
    "usage": Table({"user_key": str, "day": str, "used": int}, pk=("user_key", "day")),
    "users": Table({"user_key": str, "last_served_at": float}, pk="user_key"),
    "timings": Table({"key": str, "value": float}, pk="key"),
    "rate": Table({"user_key": str, "tat": float}, pk="user_key"),
    "user_limits": Table({"user_key": str, "daily": int}, pk="user_key"),
    "chat_settings": Table(
        {
            "chat_key": str,
            "max_frames": int,
            "max_steps": int,
            "daily": int,
            "challenges": int,
            "enabled": int,
            "models": str,  # comma-separated names `/video --model` may pick here; empty: every model
            "gallery": int,
            "faces": str,  # a tighter [policy] faces for this chat; NULL: the config's
        },
        pk="chat_key",
    ),
    "bot_settings": Table({"key": str, "value": str}, pk="key"),  # what owners switch at run time
    "bans": Table(
        {"user_key": str, "scope": str, "reason": str, "by_user": str, "at": float}, pk=("user_key", "scope")
    ),
    "challenges": Table(CHALLENGE_COLUMNS, pk="id"),
    "votes": Table({"job_id": int, "voter": str, "challenge_id": int, "at": float}, pk=("job_id", "voter")),
    "challenge_results": Table(
        {
            "challenge_id": int,
            "user_key": str,
            "user_name": str,
            "chat_key": str,
            "votes": int,
            "winner": int,
        },
        pk=("challenge_id", "user_key"),
    ),
    # The web side's unguessable names for jobs, challenges and chats (`bot.store.public`).
    "public_ids": Table(
        {"kind": str, "target": str, "token": str, "hidden": int},
        pk=("kind", "target"),
        defaults={"hidden": 0},
        indexes=(("token",),),
    ),
    # rewritten prompts shown before their render, with their buttons (`bot.store.drafts`)
    "drafts": Table(DRAFT_COLUMNS, pk="id", not_null=frozenset({"platform", "user_id", "chat_id", "args"})),
    "audit_log": Table(
        {"id": int, "at": float, "chat": str, "actor": str, "action": str, "target": str, "detail": str},
        pk="id",
    ),
}


def owner_only(path: Path) -> None:
    """The database (private prompts, Discord interaction tokens) and its folder readable by
    the bot's user alone; SQLite gives its -wal and -shm files the database's mode."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(OSError):  # a folder someone else owns (a mounted volume): leave it
        path.parent.chmod(0o700)
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
    path.chmod(0o600)


class Database:
    def __init__(
        self, path: Path, busy_timeout_ms: int = 30_000, model_keys: ModelKeys | None = None
    ) -> None:
        owner_only(path)
        self.path = path
        try:
            self.conn = sqlite3.connect(path, isolation_level=None, timeout=busy_timeout_ms / 1000)
            self.conn.row_factory = sqlite3.Row
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            made = version(self.conn) == 0  # a new file: migration 1 declares every table as it is now
            migrate(self.conn, model_keys, sync_declared_tables)
            if not made:
                sync_declared_tables(self.conn)  # a column declared without its migration is still added
            install_fair_order(self.conn)
        except sqlite3.DatabaseError as error:
            raise StoreError(
                f"{path}: not a videobot database ({error}); move it away or fix [storage] dir"
            ) from None

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


def sync_declared_tables(conn: sqlite3.Connection) -> None:
    """Create the tables in `TABLES` and add the columns and indexes a file lacks (idempotent)."""
    db = sqlite_utils.Database(conn)
    for name, spec in TABLES.items():
        table = db.table(name)
        table.create(
            spec.columns,
            pk=spec.pk,
            not_null=set(spec.not_null),
            defaults=dict(spec.defaults),
            if_not_exists=True,
        )
        present = table.columns_dict
        for column, kind in spec.columns.items():  # added since the file was made
            if column not in present:
                table.add_column(column, kind, not_null_default=spec.defaults.get(column))
        for index in spec.indexes:
            table.create_index(list(index), if_not_exists=True)
    install_fair_order(conn)
    install_totals(conn)
