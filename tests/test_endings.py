"""One way a job ends: the store's `end` sets the status, `finished_at` and the refund in one
transaction, and nothing ever moves a job out of done, failed or cancelled."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.domain import ChatRef, Job, JobStatus, QuotaCharge, RenderParams, UserRef
from bot.store import Store
from tests.harness.clock import ManualClock

CHAT = ChatRef("test", "group", is_group=True)
DAY = "2026-12-02"
ENDED = (JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    db = Store(tmp_path / "jobs.sqlite3", clock=ManualClock(1_000.0, step=1.0))
    yield db
    db.close()


def charged_job(store: Store, who: str = "A") -> Job:
    """A queued job that used one of its owner's daily clips."""
    params = RenderParams("a cat", "", 1, 8, 3, 9.0, 64, 64, 8)
    job = Job(id=0, user=UserRef("test", who), chat=CHAT, params=params, model="tiny")
    return store.jobs.insert(job, QuotaCharge(f"test:{who}", DAY, daily_limit=5, max_queued=5))


def status(store: Store, job_id: int) -> JobStatus:
    job = store.jobs.get(job_id)
    assert job is not None
    return job.status


@pytest.mark.parametrize("final", ENDED)
def test_an_ended_job_never_moves_again_whoever_asks(store: Store, final: JobStatus) -> None:
    job = charged_job(store)
    assert store.jobs.end(job.id, final)
    used = store.quota.used_today("test:A", DAY)

    for other in ENDED:
        assert not store.jobs.end(job.id, other), f"{final} → {other}"
    for moving in (JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.ENCODING, JobStatus.DELIVERING):
        assert not store.jobs.set_status(job.id, moving), f"{final} → {moving}"
    store.jobs.requeue(job.id)

    assert status(store, job.id) == final
    assert store.quota.used_today("test:A", DAY) == used, "refunded at most once"


def test_done_is_not_refunded_failed_and_cancelled_are(store: Store) -> None:
    done, failed, cancelled = (charged_job(store, who) for who in "ABC")

    store.jobs.end(done.id, JobStatus.DONE)
    store.jobs.end(failed.id, JobStatus.FAILED, error="failed_internal")
    store.jobs.end(cancelled.id, JobStatus.CANCELLED)

    assert [store.quota.used_today(f"test:{who}", DAY) for who in "ABC"] == [1, 0, 0]
    for job in (done, failed, cancelled):
        ended = store.jobs.get(job.id)
        assert ended is not None and ended.finished_at is not None


def test_a_crash_between_status_and_refund_leaves_neither(store: Store) -> None:
    """The refund fails half-way (a trigger stands in for the crash): the job is not ended either."""
    job = charged_job(store)
    conn = store.db.conn
    conn.execute("CREATE TEMP TRIGGER crash BEFORE UPDATE ON usage BEGIN SELECT RAISE(ABORT, 'crash'); END")
    with pytest.raises(sqlite3.DatabaseError, match="crash"):
        store.jobs.end(job.id, JobStatus.FAILED, error="failed_internal")

    assert status(store, job.id) == JobStatus.QUEUED, "no ending without its refund"
    assert store.quota.used_today("test:A", DAY) == 1
    conn.execute("DROP TRIGGER crash")
    assert store.jobs.end(job.id, JobStatus.FAILED, error="failed_internal")
    assert (status(store, job.id), store.quota.used_today("test:A", DAY)) == (JobStatus.FAILED, 0)


def test_only_from_still_narrows_the_ending(store: Store) -> None:
    job = charged_job(store)
    assert store.jobs.set_status(job.id, JobStatus.RUNNING)

    assert not store.jobs.end(job.id, JobStatus.CANCELLED, only_from=(JobStatus.QUEUED,))
    assert status(store, job.id) == JobStatus.RUNNING


def test_set_status_does_not_end_jobs(store: Store) -> None:
    job = charged_job(store)
    with pytest.raises(ValueError, match="end"):
        store.jobs.set_status(job.id, JobStatus.DONE)
