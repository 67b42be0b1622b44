"""Who goes next: round-robin between people, priority first, and what a restart finds."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.core.queue import JobQueue, QueueClosed, fair_order
from bot.domain import ChatRef, Job, JobStatus, RenderParams, UserRef
from bot.store import Store
from bot.store import backlog as store_backlog
from tests.harness.clock import ManualClock
from tests.harness.core import crash_state

CHAT = ChatRef("test", "group", is_group=True)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    db = Store(tmp_path / "jobs.sqlite3", clock=ManualClock(1_000.0, step=1.0))  # each row its own second
    yield db
    db.close()


@pytest.fixture
def queue(store: Store) -> JobQueue:
    return JobQueue(store)


def add(store: Store, who: str, *, priority: int = 0, prompt: str = "a cat") -> Job:
    params = RenderParams(prompt, "", 1, 8, 3, 9.0, 64, 64, 8)
    job = Job(id=0, user=UserRef("test", who), chat=CHAT, params=params, model="tiny", priority=priority)
    return store.jobs.insert(job, None)


def stored(store: Store, job_id: int) -> Job:
    job = store.jobs.get(job_id)
    assert job is not None, f"no job #{job_id}"
    return job


def owners(jobs: list[Job]) -> str:
    return "".join(job.user.id for job in jobs)


def claim_all(queue: JobQueue) -> list[Job]:
    claimed = []
    while (job := queue.try_claim()) is not None:
        claimed.append(job)
    return claimed


def test_one_busy_user_does_not_block_the_others(store: Store, queue: JobQueue) -> None:
    for who in "AAAAA" + "B" + "CC":
        add(store, who)

    assert owners(queue.ordered()) == "ABCACAAA"
    assert owners(claim_all(queue)) == "ABCACAAA"


def test_each_users_own_jobs_keep_their_order(store: Store, queue: JobQueue) -> None:
    first, second = add(store, "A"), add(store, "A")
    add(store, "B")

    a_jobs = [job.id for job in claim_all(queue) if job.user.id == "A"]

    assert a_jobs == [first.id, second.id]


def test_a_higher_priority_class_goes_first_whoever_was_served(store: Store, queue: JobQueue) -> None:
    add(store, "A")
    add(store, "B")
    urgent = add(store, "C", priority=-1)

    order = queue.ordered()

    assert order[0].id == urgent.id
    assert owners(order) == "CAB"


def test_a_lower_priority_class_waits_for_everyone_else(store: Store, queue: JobQueue) -> None:
    background = add(store, "A", priority=5)
    add(store, "B")
    add(store, "B")
    assert queue.ordered()[-1].id == background.id


def test_the_user_served_least_recently_goes_first(store: Store, queue: JobQueue) -> None:
    add(store, "A")
    add(store, "B")
    # B was served long ago, A just now: B's job, though newer, goes first
    recent = fair_order(store.jobs.with_status(JobStatus.QUEUED), {"test:A": 500.0, "test:B": 100.0})
    assert owners(recent) == "BA"
    # someone never served goes before both
    add(store, "C")
    never = fair_order(store.jobs.with_status(JobStatus.QUEUED), {"test:A": 500.0, "test:B": 100.0})
    assert owners(never) == "CBA"


def test_serving_a_user_sends_them_to_the_back(store: Store, queue: JobQueue) -> None:
    add(store, "A")
    add(store, "A")
    add(store, "B")
    served = queue.try_claim()
    assert served is not None and served.user.id == "A"
    add(store, "C")  # arrives later but was never served: goes before A's second job

    assert owners(queue.ordered()) == "BCA"


def test_queue_positions_agree_with_the_order_jobs_are_claimed(store: Store, queue: JobQueue) -> None:
    jobs = [add(store, who) for who in "AABACBBCA"]
    positions: dict[int, int] = {}
    for job in jobs:
        position = queue.position(job.id)
        assert position is not None, f"job #{job.id} is not in line"
        positions[job.id] = position

    claimed = claim_all(queue)

    assert sorted(positions.values()) == list(range(1, len(jobs) + 1))
    assert [job.id for job in claimed] == sorted(positions, key=lambda job_id: positions[job_id])


def test_positions_move_up_as_jobs_are_taken(store: Store, queue: JobQueue) -> None:
    add(store, "A")
    mine = add(store, "B")
    assert queue.position(mine.id) == 2
    queue.try_claim()
    assert queue.position(mine.id) == 1
    queue.try_claim()
    assert queue.position(mine.id) is None, "a running job is no longer in line"


def test_claiming_counts_an_attempt_and_marks_the_job_running(store: Store, queue: JobQueue) -> None:
    job = add(store, "A")

    claimed = queue.try_claim()

    assert claimed is not None and claimed.id == job.id
    row = store.jobs.get(job.id)
    assert row is not None and row.status == JobStatus.RUNNING and row.attempts == 1
    assert row.started_at is not None
    assert queue.try_claim() is None, "a job is claimed once"


def test_cancelled_and_finished_jobs_are_not_in_line(store: Store, queue: JobQueue) -> None:
    gone = add(store, "A")
    waiting = add(store, "B")
    store.jobs.end(gone.id, JobStatus.CANCELLED)

    assert [job.id for job in queue.ordered()] == [waiting.id]


@pytest.mark.asyncio
async def test_the_worker_wakes_when_a_job_is_queued(store: Store, queue: JobQueue) -> None:
    waiter = asyncio.create_task(queue.next_job())
    await asyncio.sleep(0)
    assert not waiter.done()

    job = add(store, "A")
    queue.notify()

    claimed = await asyncio.wait_for(waiter, 5)
    assert claimed.id == job.id and claimed.status == JobStatus.RUNNING


@pytest.mark.asyncio
async def test_closing_the_queue_ends_a_worker_waiting_on_an_empty_queue(queue: JobQueue) -> None:
    waiter = asyncio.create_task(queue.next_job())
    await asyncio.sleep(0)

    queue.close()

    with pytest.raises(QueueClosed):
        await asyncio.wait_for(waiter, 5)


def interrupted(store: Store, who: str, status: JobStatus, attempts: int) -> Job:
    job = add(store, who)
    crash_state(store, job.id, status, attempts=attempts, started_at=5.0)
    return job


def test_after_a_restart_interrupted_renders_go_back_in_line_with_their_attempts(
    store: Store, queue: JobQueue
) -> None:
    rendering = interrupted(store, "A", JobStatus.RUNNING, attempts=1)
    encoding = interrupted(store, "B", JobStatus.ENCODING, attempts=2)
    waiting = add(store, "C")

    found = queue.recover(max_attempts=3)

    assert {job.id for job in found.requeued} == {rendering.id, encoding.id}
    assert found.tired == []
    for job, attempts in ((rendering, 1), (encoding, 2)):
        row = store.jobs.get(job.id)
        assert row is not None
        assert (row.status, row.attempts, row.started_at) == (JobStatus.QUEUED, attempts, None)
    assert {job.id for job in queue.ordered()} == {rendering.id, encoding.id, waiting.id}
    assert queue.try_claim() is not None
    assert stored(store, rendering.id).attempts == 2


def test_a_job_interrupted_max_attempts_times_is_left_for_its_ending(store: Store, queue: JobQueue) -> None:
    tired = interrupted(store, "A", JobStatus.RUNNING, attempts=3)
    fresh = interrupted(store, "B", JobStatus.RUNNING, attempts=2)

    found = queue.recover(max_attempts=3)

    assert [job.id for job in found.tired] == [tired.id], "failed, refunded and told through Endings"
    assert [job.id for job in found.requeued] == [fresh.id]
    assert [job.id for job in queue.ordered()] == [fresh.id]


@pytest.mark.asyncio
async def test_recovered_jobs_wake_the_worker(store: Store, queue: JobQueue) -> None:
    job = interrupted(store, "A", JobStatus.RUNNING, attempts=1)
    queue.recover(max_attempts=3)

    claimed = await asyncio.wait_for(queue.next_job(), 5)

    assert claimed.id == job.id and claimed.attempts == 2


@pytest.mark.parametrize("probe", [1, 512])
@pytest.mark.parametrize("seed", range(6))
def test_sqlite_computes_the_same_fair_order_as_the_specification(
    store: Store, queue: JobQueue, seed: int, probe: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Random queues: people with priority or not, some served before; claims in between.
    Places are counted from the back of the line (the waiting totals less the jobs behind) or,
    with many behind (`probe` 1), from the front: both agree with the specification."""
    import random

    monkeypatch.setattr(store_backlog, "BEHIND_PROBE", probe)
    rng = random.Random(seed)
    people = {f"u{n}": rng.choice((0, 1, 1, 1)) for n in range(rng.randint(1, 12))}
    for _ in range(rng.randint(1, 60)):
        who = rng.choice(list(people))
        add(store, who, priority=people[who])
        if rng.random() < 0.2:
            queue.try_claim()  # someone is served: their turn moves to the back
    expected = fair_order(store.jobs.with_status(JobStatus.QUEUED), store.jobs.last_served())
    assert [j.id for j in queue.ordered()] == [j.id for j in expected]
    assert [queue.position(j.id) for j in expected] == list(range(1, len(expected) + 1))
    assert [j.id for j in queue.ordered(3)] == [j.id for j in expected[:3]]
    assert queue.waiting() == len(expected)
    for place, job in enumerate(expected, start=1):
        work = store.backlog.work_until(job.id)
        assert work is not None and work.place == place
        assert sum(work.step_frames.values()) == sum(
            j.params.steps * j.params.frames for j in expected[:place]
        )


def test_places_in_a_long_queue_are_index_look_ups_not_passes_over_the_queue(
    store: Store, queue: JobQueue
) -> None:
    """10,000 people waiting: the next job, a place in line and the work ahead are searches of
    an index (SQLite's plan says SEARCH), never a scan of the jobs table or a window over it."""
    statements: list[str] = []
    for n in range(10_000):
        add(store, f"p{n}")
    mine = add(store, "me")
    store.db.conn.set_trace_callback(statements.append)
    try:
        assert queue.position(mine.id) == 10_001
        assert queue.ordered(1)[0].user.id == "p0"
    finally:
        store.db.conn.set_trace_callback(None)
    assert 2 <= len(statements) <= 4
    for statement in statements:
        plan = [row[3] for row in store.db.conn.execute(f"EXPLAIN QUERY PLAN {statement}")]
        assert all(step.startswith(("SEARCH", "USE TEMP B-TREE FOR GROUP BY")) for step in plan), plan


def test_the_order_is_kept_by_whoever_writes_the_file(store: Store, tmp_path: Path) -> None:
    """Another process (the shell's admin tools, an older bot) changing jobs with plain SQL
    keeps the order's key right: it lives in the file's triggers, not in this process."""
    first, second = add(store, "a"), add(store, "a")
    other = add(store, "b")
    elsewhere = Store(store.path, store.clock)
    elsewhere.db.conn.execute("UPDATE jobs SET status = 'cancelled' WHERE id = ?", (first.id,))
    elsewhere.db.close()
    assert [j.id for j in JobQueue(store).ordered()] == [second.id, other.id]
    expected = fair_order(store.jobs.with_status(JobStatus.QUEUED), store.jobs.last_served())
    assert [j.id for j in expected] == [second.id, other.id]


def test_an_older_file_gets_its_waiting_jobs_numbered_at_start(tmp_path: Path) -> None:
    store = Store(tmp_path / "old.db")
    jobs = [add(store, who) for who in ("a", "a", "b")]
    conn = store.db.conn
    for name in ("fair_on_insert", "fair_on_status", "fair_on_served", "fair_on_served_again"):
        conn.execute(f"DROP TRIGGER {name}")
    conn.execute("UPDATE jobs SET fair_turn = 0, fair_first = 0, fair_served = 0")
    store.db.close()
    reopened = Store(tmp_path / "old.db")
    assert [j.id for j in JobQueue(reopened).ordered()] == [jobs[0].id, jobs[2].id, jobs[1].id]
