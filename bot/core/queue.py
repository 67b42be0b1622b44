"""Which job runs next, and waking the worker when there is one.

SQLite holds the queue; this module only decides the order and wakes the single render
worker.  The order is decided when the worker takes a job, not at insert time: lowest
priority class first, then the user served least recently, then the oldest job (the
round-robin InvokeAI uses), so one user with five jobs never blocks someone with one.
Queue positions shown to users come from the same function.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from bot.core.tasks import wait_event
from bot.domain import Job, JobStatus
from bot.store import Store


def fair_order(queued: Iterable[Job], last_served: dict[str, float]) -> list[Job]:
    """Queued jobs in the order the worker will take them, spelled out one pick at a time.

    The specification of the order: `Store.jobs.fair_order` computes the same in SQL (one
    query, whatever the queue holds), and the tests check that the two agree.
    """
    per_user: dict[str, list[Job]] = {}
    for job in sorted(queued, key=lambda j: j.id):
        per_user.setdefault(job.user.key, []).append(job)
    served = {user: last_served.get(user, 0.0) for user in per_user}
    order: list[Job] = []
    turn = max([0.0, *served.values()])
    while per_user:
        user = min(per_user, key=lambda u: (per_user[u][0].priority, served[u], per_user[u][0].id))
        order.append(per_user[user].pop(0))
        if not per_user[user]:
            del per_user[user]
        turn += 1.0
        served[user] = turn
    return order


# A picker chooses by model: it is shown the first waiting job of each model among the first
# PICK_WINDOW in line, in line order (not every row of the window: a claim stays cheap however
# long the queue).
Picker = Callable[[list[Job]], Job | None]
PICK_WINDOW = 200  # how far down the line the dispatcher looks for a job of the model in memory


class QueueClosed(Exception):
    """`close()` was called: the worker should stop waiting for jobs."""


@dataclass
class Recovery:
    """What start-up found: interrupted jobs put back in line, and those tried too often (left
    for `Endings` to fail, refund and tell)."""

    requeued: list[Job] = field(default_factory=list)
    tired: list[Job] = field(default_factory=list)


class JobQueue:
    """Fair dispatch over the jobs table, with an event to wake the worker."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._changed = asyncio.Event()
        self.closed = False

    def close(self) -> None:
        """Wake and end every `next_job()` wait (shutdown); queued rows stay queued."""
        self.closed = True
        self._changed.set()

    def notify(self) -> None:
        """Something was queued (or the worker should look again)."""
        self._changed.set()

    def ordered(self, limit: int = -1) -> list[Job]:
        """Waiting jobs in the order the worker will take them (SQLite computes it)."""
        return self.store.jobs.fair_order(limit)

    def waiting(self) -> int:
        return self.store.jobs.waiting_count()

    def position(self, job_id: int) -> int | None:
        """1-based place in line, or None if the job is not waiting."""
        ahead = self.store.backlog.work_until(job_id)
        return ahead.place if ahead else None

    def try_claim(self, pick: Picker | None = None) -> Job | None:
        """Claim the job at the head of the line (or the one `pick` chooses from the line in
        order); another process may take it first, then the next."""
        while True:
            line = self.store.jobs.first_of_each_model(PICK_WINDOW) if pick else self.ordered(1)
            chosen = (pick(line) if pick else line[0]) if line else None
            if chosen is None:
                return None
            claimed = self.store.jobs.claim(chosen.id)
            if claimed is not None:
                return claimed

    async def next_job(self, pick: Picker | None = None, *, recheck_s: float | None = None) -> Job:
        """Wait until a job is queued and claim it (status → running, attempts + 1).

        With `pick`, jobs it passes over (their model cannot load now) are looked at again
        every `recheck_s`.  Raises `QueueClosed` once `close()` has been called, so a worker
        waiting on an empty queue can shut down at once.
        """
        while True:
            if self.closed:
                raise QueueClosed()
            self._changed.clear()
            job = self.try_claim(pick)
            if job is not None:
                return job
            if pick is not None and recheck_s is not None and self.waiting():
                await wait_event(self._changed, recheck_s)
                continue
            await self._changed.wait()

    async def wait_for_change(self, timeout: float) -> None:
        """Sleep until `notify()`, `close()` or `timeout`, whichever comes first."""
        if self.closed:
            return
        self._changed.clear()
        await wait_event(self._changed, timeout)

    def recover(self, max_attempts: int) -> Recovery:
        """After a restart: interrupted renders go back in line; those tried `max_attempts` times
        are returned to be failed."""
        found = Recovery()
        for job in self.store.jobs.with_status(JobStatus.RUNNING, JobStatus.ENCODING):
            if job.attempts >= max_attempts:
                found.tired.append(job)
            else:
                self.store.jobs.set_status(job.id, JobStatus.QUEUED, started_at=None)
                found.requeued.append(job)
        if found.requeued:
            self.notify()
        return found
