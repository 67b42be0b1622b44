"""Numbered migrations on a database file made before they existed: new columns added once,
and jobs that stored a hub id or a folder moved to their configured model's name, once."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bot.app import model_keys
from bot.core.models import Models
from bot.domain import JobStatus
from bot.settings.loading import parse_config
from bot.settings.root import Config
from bot.store import Store
from bot.store.migrations import LATEST, version

MS = "damo-vilab/text-to-video-ms-1.7b"
FOLDER = "/srv/models/wan"
# what the first releases wrote: no ledger, delivery-round or fair-order columns, no version
OLD_COLUMNS = (
    "id INTEGER PRIMARY KEY, platform TEXT NOT NULL, user_id TEXT NOT NULL, user_name TEXT, locale TEXT,"
    " chat_id TEXT NOT NULL, chat_is_group INTEGER, chat_server TEXT, model TEXT, status TEXT NOT NULL,"
    " attempts INTEGER DEFAULT 0, created_at FLOAT, started_at FLOAT, finished_at FLOAT, reply_to TEXT,"
    " status_message TEXT, result_message TEXT, clip_path TEXT, error TEXT, parent_id INTEGER,"
    " priority INTEGER DEFAULT 0, challenge_id INTEGER, prompt TEXT NOT NULL, negative TEXT, seed INTEGER,"
    " frames INTEGER, steps INTEGER, guidance FLOAT, width INTEGER, height INTEGER, fps INTEGER,"
    " quota_day TEXT"
)


def old_file(path: Path, models: list[str]) -> None:
    conn = sqlite3.connect(path)
    conn.execute(f"CREATE TABLE jobs ({OLD_COLUMNS})")
    for n, model in enumerate(models, 1):
        conn.execute(
            "INSERT INTO jobs (id, platform, user_id, chat_id, model, status, created_at, prompt, negative,"
            " seed, frames, steps, guidance, width, height, fps)"
            " VALUES (?, 'test', '1', 'c', ?, 'done', 1.0, 'a cat', '', 1, 8, 3, 9.0, 64, 64, 8)",
            (n, model),
        )
    conn.commit()
    conn.close()


def config_with_names() -> Config:
    return parse_config(
        {"models": {"ms": {"id": MS}, "wan": {"id": "Wan-AI/Wan2.1-T2V-1.3B-Diffusers", "path": FOLDER}}},
        "x.toml",
        {},
    )


def test_an_old_file_gets_new_columns_and_its_jobs_name_their_models_once(tmp_path: Path) -> None:
    path = tmp_path / "videobot.sqlite3"
    old_file(path, [MS, FOLDER, "ms", "someone/retired-model"])
    config = config_with_names()

    store = Store(path, model_keys=model_keys(config))

    assert version(store.db.conn) == LATEST == 2
    columns = {row[1] for row in store.db.conn.execute("PRAGMA table_info(jobs)")}
    assert {"refunded", "notice", "delivery_rounds", "fair_turn"} <= columns
    models = [store.jobs.get(n).model for n in (1, 2, 3, 4)]  # type: ignore[union-attr]
    assert models == ["ms", "wan", "ms", "someone/retired-model"], "a model no longer configured stays"
    assert store.jobs.get(1).status == JobStatus.DONE  # type: ignore[union-attr]
    lookup = Models(config, store)
    assert [lookup.configured(m) for m in models] == ["ms", "wan", "ms", None]

    # data moves once: a row written the old way afterwards is not moved again
    store.db.conn.execute("UPDATE jobs SET model = ? WHERE id = 3", (MS,))
    store.close()
    again = Store(path, model_keys=model_keys(config))
    assert again.jobs.get(3).model == MS  # type: ignore[union-attr]
    again.close()


def test_without_the_config_the_data_migration_waits_for_the_bot(tmp_path: Path) -> None:
    path = tmp_path / "videobot.sqlite3"
    old_file(path, [MS])

    shell = Store(path)  # `videobot admin`: no model names at hand
    assert version(shell.db.conn) == 1 and shell.jobs.get(1).model == MS  # type: ignore[union-attr]
    shell.close()

    bot = Store(path, model_keys=model_keys(config_with_names()))
    assert version(bot.db.conn) == 2 and bot.jobs.get(1).model == "ms"  # type: ignore[union-attr]
    bot.close()


def test_a_lone_model_table_keeps_its_jobs_under_its_hub_id(tmp_path: Path) -> None:
    path = tmp_path / "videobot.sqlite3"
    old_file(path, [MS, "/srv/models/ms17"])
    config = parse_config({"model": {"id": MS, "path": "/srv/models/ms17"}}, "x.toml", {})

    store = Store(path, model_keys=model_keys(config))

    assert [store.jobs.get(n).model for n in (1, 2)] == [MS, MS]  # type: ignore[union-attr]
    assert Models(config, store).configured(MS) == "default"
    store.close()
