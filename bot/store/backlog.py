"""The work waiting in line, summed by render shape: what ETAs and places in line are made of."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from bot.domain import JobStatus
from bot.store.db import Database
from bot.store.fair import KEY as FAIR_KEY
from bot.store.totals import TABLE as TOTALS

# A waiting job's place is counted from the shorter end of the line: the jobs behind it when
# at most this many (a new job, mostly), else the jobs ahead of it.
BEHIND_PROBE = 512


@dataclass(frozen=True)
class WorkAhead:
    place: int  # 1-based place in line (everything waiting: how many wait)
    step_frames: dict[tuple[str, int, int, int], int]  # steps × frames, by (model, width, height, frames)
    clips: dict[tuple[str, int, int, int], int] = field(default_factory=dict)  # jobs, by the same shape


class Backlog:
    """Read-only sums over the waiting jobs, from the totals table and the fair-order index."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def work_waiting(self) -> WorkAhead:
        """Steps × frames of everything waiting, by render shape: when the queue would be clear."""
        return _work(_waiting_work(self.db.conn))

    def work_until(self, job_id: int) -> WorkAhead | None:
        """A waiting job's place in line and the steps × frames up to and including it, by
        render shape (model, width, height, frames): its ETA's makings.  None if it is not
        waiting.  The waiting totals less the few jobs behind it (a new job's case), else a
        range of the fair-order index up to it: never a pass over the whole queue for a job
        near either end."""
        conn = self.db.conn
        queued = str(JobStatus.QUEUED)
        key = conn.execute(
            f"SELECT {FAIR_KEY} FROM jobs WHERE id = ? AND status = ?", (job_id, queued)
        ).fetchone()
        if key is None:
            return None
        behind = conn.execute(
            "SELECT model, width, height, frames, steps FROM jobs"
            f" WHERE status = ? AND ({FAIR_KEY}) > (?, ?, ?, ?) LIMIT ?",
            (queued, *key, BEHIND_PROBE),
        ).fetchall()
        if len(behind) < BEHIND_PROBE:
            ahead = {_shape(row): [int(row[4]), int(row[5])] for row in _waiting_work(conn)}
            for row in behind:  # (another process may write between these reads: no KeyError)
                shape = ahead.setdefault(_shape(row), [0, 0])
                shape[0] -= int(row["steps"] or 0) * int(row["frames"] or 0)
                shape[1] -= 1
            return _work((*shape, *work) for shape, work in ahead.items() if work[1] > 0)
        rows = conn.execute(
            "SELECT model, width, height, frames, sum(steps * frames), count(*) FROM jobs"
            f" WHERE status = ? AND ({FAIR_KEY}) <= (?, ?, ?, ?) GROUP BY model, width, height, frames",
            (queued, *key),
        ).fetchall()
        return _work(rows)


def _waiting_work(conn: sqlite3.Connection) -> list[Any]:
    """(model, width, height, frames, steps × frames, jobs) of everything waiting, by shape."""
    return conn.execute(
        f"SELECT model, width, height, frames, step_frames, jobs FROM {TOTALS} WHERE status = ?",
        (str(JobStatus.QUEUED),),
    ).fetchall()


def _shape(row: Any) -> tuple[str, int, int, int]:
    return (row[0] or "", int(row[1] or 0), int(row[2] or 0), int(row[3] or 0))


def _work(rows: Iterable[Any]) -> WorkAhead:
    """(model, width, height, frames, steps × frames, jobs) rows → their sums by shape."""
    shapes = {_shape(row): row for row in rows}
    return WorkAhead(
        place=sum(int(row[5]) for row in shapes.values()),
        step_frames={shape: int(row[4]) for shape, row in shapes.items()},
        clips={shape: int(row[5]) for shape, row in shapes.items()},
    )


__all__ = ["BEHIND_PROBE", "Backlog", "WorkAhead"]
