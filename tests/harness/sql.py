"""What SQL a piece of code runs and how much work SQLite does for it: statements, their query
plans, and virtual-machine steps.  Steps do not depend on the machine or its load, so a test can
say "this costs the same with 100 or 3,000 jobs waiting" without timing anything."""

from __future__ import annotations

import sqlite3
from types import TracebackType
from typing import Self

from bot.domain import ChatRef, Job, RenderParams, UserRef
from bot.store import Store
from bot.store.rows import job_to_row

TICK = 10  # VM steps between progress callbacks: the count's resolution


class SqlCost:
    """`with SqlCost(conn) as cost: ...`, then `cost.steps`, `cost.statements`, `cost.plans()`."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.statements: list[str] = []  # as run; a trigger's program repeats its statement
        self._ticks = 0

    @property
    def steps(self) -> int:
        """SQLite VM steps, to within `TICK`."""
        return self._ticks * TICK

    def _tick(self) -> int:
        self._ticks += 1
        return 0  # 0: go on

    def __enter__(self) -> Self:
        self.conn.set_trace_callback(self.statements.append)
        self.conn.set_progress_handler(self._tick, TICK)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.conn.set_trace_callback(None)
        self.conn.set_progress_handler(None, 0)

    def plans(self) -> dict[str, list[str]]:
        """Each distinct statement's query plan (`EXPLAIN QUERY PLAN`), transactions left out."""
        plans = {}
        for statement in dict.fromkeys(self.statements):
            if statement.split(maxsplit=1)[0].upper() in {"BEGIN", "COMMIT", "ROLLBACK"}:
                continue
            plans[statement] = [row[3] for row in self.conn.execute(f"EXPLAIN QUERY PLAN {statement}")]
        return plans


def fill_queue(
    store: Store,
    count: int,
    *,
    first: int = 0,
    platform: str = "telegram",
    params: RenderParams | None = None,
    model: str = "tiny",
    chat: ChatRef | None = None,
    created_at: float = 0.0,
) -> None:
    """`count` people (user ids `first`, `first + 1` …, each in their own chat unless `chat`),
    one waiting job each, in one transaction: a long queue in seconds (the fair order's and the
    totals' triggers run as for any insert)."""
    params = params or RenderParams("a cat", "", 1, 8, 3, 9.0, 64, 64, 8)
    with store.db.transaction() as conn:
        for n in range(first, first + count):
            user = UserRef(platform, str(n), f"Waiting {n}")
            job = Job(0, user, chat or ChatRef(platform, str(n)), params, model, created_at=created_at)
            row = job_to_row(job)
            row.pop("id")
            conn.execute(
                f"INSERT INTO jobs ({', '.join(row)}) VALUES ({', '.join(':' + k for k in row)})", row
            )
