"""Numbered migrations: `PRAGMA user_version` holds the last one a file has had.

Each runs once, in order, in its own `BEGIN IMMEDIATE` transaction with the version bump, so
a crash leaves a file at one version or the next, never between.  Data moves once; the code
then forgets the old shape.  A migration that needs the config (`model_keys`) waits for a
`Store` opened with it (the bot's, not the shell's admin tools), and so do the ones after it.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass

log = logging.getLogger(__name__)

ModelKeys = Mapping[str, str]  # a model's hub id or folder → the key its jobs store
DeclareTables = Callable[[sqlite3.Connection], None]  # `db.sync_declared_tables`, passed in (no cycle)


@dataclass(frozen=True)
class Inputs:
    """What a migration may use besides the connection."""

    model_keys: ModelKeys
    declare_tables: DeclareTables


@dataclass(frozen=True)
class Migration:
    number: int
    what: str
    apply: Callable[[sqlite3.Connection, Inputs], None]
    needs_models: bool = False


def declared_tables(conn: sqlite3.Connection, inputs: Inputs) -> None:
    """1: the tables as declared in `db.TABLES`: created, and columns added since a file was made
    (what every file had before migrations were numbered)."""
    inputs.declare_tables(conn)


def jobs_name_their_model(conn: sqlite3.Connection, inputs: Inputs) -> None:
    """2: jobs from before model names stored a hub id or a folder; they store the configured
    model's key now (its `[models.NAME]` name; a lone `[model]`: its hub id)."""
    keys = set(inputs.model_keys.values())
    for alias, key in inputs.model_keys.items():
        if alias and alias not in keys:
            conn.execute("UPDATE jobs SET model = ? WHERE model = ?", (key, alias))


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "tables as declared", declared_tables),
    Migration(2, "jobs name their configured model", jobs_name_their_model, needs_models=True),
)
LATEST = MIGRATIONS[-1].number


def version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, model_keys: ModelKeys | None, declare_tables: DeclareTables) -> int:
    """Run the migrations this file has not had; returns its version now."""
    for migration in MIGRATIONS:
        if migration.number <= version(conn):
            continue
        if migration.needs_models and model_keys is None:
            break
        conn.execute("BEGIN IMMEDIATE")
        try:
            if migration.number > version(conn):  # another process may have run it meanwhile
                migration.apply(conn, Inputs(model_keys or {}, declare_tables))
                conn.execute(f"PRAGMA user_version = {migration.number}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        log.info("database migration %d: %s", migration.number, migration.what)
    return version(conn)
