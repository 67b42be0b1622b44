"""The store's work per `/video` stays flat as the queue grows: counts and sums come from running
totals kept by triggers, places in line from the short end of the fair-order index.

Measured in SQLite virtual-machine steps (the same on any machine, under any load), never time.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from bot.domain import ChatRef, JobStatus, RenderParams, UserRef
from bot.store import Store
from bot.store.totals import TABLE
from tests.harness.config import MakeConfig
from tests.harness.core import MakeBot
from tests.harness.sql import SqlCost, fill_queue

BIG = 10_000_000


def wait_in_line(store: Store, count: int, first: int = 0, *, frames: int = 8) -> None:
    fill_queue(store, count, first=first, params=RenderParams("a cat", "", 1, frames, 3, 9.0, 64, 64, 8))


def totals(store: Store) -> dict[tuple[str, str, int, int, int], tuple[int, int]]:
    rows = store.db.conn.execute(f"SELECT * FROM {TABLE}").fetchall()
    return {tuple(r)[:5]: (r["jobs"], r["step_frames"]) for r in rows}  # type: ignore[misc]


def counted(store: Store) -> dict[tuple[str, str, int, int, int], tuple[int, int]]:
    rows = store.db.conn.execute(
        "SELECT status, coalesce(model, ''), width, height, frames, count(*), sum(steps * frames)"
        " FROM jobs GROUP BY 1, 2, 3, 4, 5"
    ).fetchall()
    return {tuple(r)[:5]: (r[5], r[6]) for r in rows}  # type: ignore[misc]


@pytest.mark.asyncio
async def test_an_ack_costs_the_same_with_3000_waiting_as_with_100(
    make_bot: MakeBot, make_config: MakeConfig
) -> None:
    """Admission, the caps' counts, the insert and its triggers, the place in line and the ETA:
    every statement is an index search, and the whole ack takes as many SQLite steps whether 100
    or 3,000 people wait (before the totals: ~3,500 and ~93,000)."""
    config = make_config(quota={"daily": BIG, "max_queued": BIG}, queue={"max_total": BIG})
    bot = await make_bot(config=config, worker=False)
    costs = []
    for waiting, newcomer in ((100, "new1"), (3_000, "new2")):
        wait_in_line(bot.store, waiting - bot.store.jobs.waiting_count(), bot.store.jobs.waiting_count())
        user = UserRef("telegram", newcomer, "Newcomer")
        with SqlCost(bot.store.db.conn) as cost:
            job = await bot.video("a cat surfing", user, chat=ChatRef("telegram", newcomer))
        assert bot.last_text.startswith("⏳") and f"place {waiting + 1} " in bot.last_text, bot.last_text
        assert bot.store.backlog.work_until(job.id).place == waiting + 1  # type: ignore[union-attr]
        for statement, plan in cost.plans().items():
            # a temporary B-tree sorts the few rows found (a ban's scopes, the ETA's shapes)
            assert all(step.startswith(("SEARCH", "USE TEMP B-TREE")) for step in plan), (statement, plan)
        costs.append(cost.steps)
    small, large = costs
    assert large <= small * 1.2 + 100, costs


def test_the_totals_follow_every_change_whoever_writes(tmp_path: Path) -> None:
    """Inserts, claims, cancels, a changed shape and deletes, from this store and from plain SQL in
    another connection: the totals always equal a count of the jobs table."""
    rng = random.Random(7)
    store = Store(tmp_path / "t.db")
    elsewhere = Store(tmp_path / "t.db")
    for step in range(300):
        ids = [row[0] for row in store.db.conn.execute("SELECT id FROM jobs")]
        action = rng.random()
        if action < 0.5 or not ids:
            wait_in_line(store, 1, step, frames=rng.choice((8, 16)))
        elif action < 0.65:
            store.jobs.claim(rng.choice(ids))
        elif action < 0.8:
            status = rng.choice(list(JobStatus))
            move = store.jobs.end if status.finished else store.jobs.set_status
            move(rng.choice(ids), status)
        elif action < 0.9:
            elsewhere.db.conn.execute(
                "UPDATE jobs SET frames = 4, steps = 5 WHERE id = ?", (rng.choice(ids),)
            )
        else:
            elsewhere.db.conn.execute("DELETE FROM jobs WHERE id = ?", (rng.choice(ids),))
        assert totals(store) == counted(store), step
    assert store.jobs.waiting_count() == len(store.jobs.with_status(JobStatus.QUEUED))
    elsewhere.close()
    store.close()


def test_an_older_file_gets_its_totals_counted_at_start(tmp_path: Path) -> None:
    store = Store(tmp_path / "old.db")
    wait_in_line(store, 5)
    store.jobs.claim(1)
    for name in ("totals_on_insert", "totals_on_delete", "totals_on_update"):
        store.db.conn.execute(f"DROP TRIGGER {name}")
    store.db.conn.execute(f"DELETE FROM {TABLE}")
    store.close()
    reopened = Store(tmp_path / "old.db")
    assert totals(reopened) == counted(reopened) and reopened.jobs.waiting_count() == 4
    reopened.close()


def test_a_claim_reads_the_first_job_of_each_model_not_the_whole_window(tmp_path: Path) -> None:
    """The dispatcher chooses by model: it is shown the head of each model's line within the
    window, so a claim reads a few rows however long the queue."""
    store = Store(tmp_path / "m.db")
    fill_queue(store, 150)
    fill_queue(store, 1, first=150, model="other")
    fill_queue(store, 100, first=151)
    heads = store.jobs.first_of_each_model(200)
    assert [(job.user.id, job.model) for job in heads] == [("0", "tiny"), ("150", "other")]
    assert [job.model for job in store.jobs.first_of_each_model(100)] == ["tiny"]
    store.close()
