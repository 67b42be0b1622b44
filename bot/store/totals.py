"""Running totals of the jobs table by status and render shape, kept by triggers.

How many jobs wait (the `max_total` cap, `/healthz`, the metrics' gauges) and how much work
waits (an ETA's makings) are sums over the whole queue; read from the jobs themselves they
cost a pass over every waiting row on every `/video` (measured: ~3 million SQLite VM steps,
~0.14 s, per ack at 100,000 waiting).  These totals make them a look-up of a few rows, one per
(status, model, size, frames), however long the queue.  Triggers keep them right whichever
process writes the file, as `bot.store.fair` does for the order.
"""

from __future__ import annotations

import sqlite3

from bot.domain import JobStatus

TABLE = "job_totals"
COLUMNS: dict[str, type] = {
    "status": str,
    "model": str,
    "width": int,
    "height": int,
    "frames": int,
    "jobs": int,
    "step_frames": int,  # sum of steps × frames
}
KEY = ("status", "model", "width", "height", "frames")

_SHAPE_COLUMNS = "status, model, width, height, frames"
_SHAPES = "status, model, width, height, frames, steps"  # what the triggers watch


def _values(row: str) -> str:
    return (
        f"{row}.status, coalesce({row}.model, ''), coalesce({row}.width, 0), coalesce({row}.height, 0),"
        f" coalesce({row}.frames, 0)"
    )


def _add(row: str) -> str:
    return (
        f"INSERT INTO {TABLE} ({_SHAPE_COLUMNS}, jobs, step_frames)"
        f" VALUES ({_values(row)}, 1, coalesce({row}.steps * {row}.frames, 0))"
        f" ON CONFLICT ({_SHAPE_COLUMNS}) DO UPDATE"
        " SET jobs = jobs + 1, step_frames = step_frames + excluded.step_frames;"
    )


def _remove(row: str) -> str:
    where = f"({_SHAPE_COLUMNS}) = ({_values(row)})"
    return (
        f"UPDATE {TABLE} SET jobs = jobs - 1,"
        f" step_frames = step_frames - coalesce({row}.steps * {row}.frames, 0) WHERE {where};"
        f" DELETE FROM {TABLE} WHERE {where} AND jobs <= 0;"
    )


TRIGGERS = (
    f"CREATE TRIGGER IF NOT EXISTS totals_on_insert AFTER INSERT ON jobs BEGIN {_add('NEW')} END",
    f"CREATE TRIGGER IF NOT EXISTS totals_on_delete AFTER DELETE ON jobs BEGIN {_remove('OLD')} END",
    f"""CREATE TRIGGER IF NOT EXISTS totals_on_update AFTER UPDATE OF {_SHAPES} ON jobs
    BEGIN {_remove("OLD")} {_add("NEW")} END""",
)

_FILL = f"""INSERT INTO {TABLE} ({_SHAPE_COLUMNS}, jobs, step_frames)
SELECT {_values("jobs")}, count(*), coalesce(sum(steps * frames), 0) FROM jobs
GROUP BY {_values("jobs")}"""


def install(conn: sqlite3.Connection) -> None:
    """Create the triggers; a file from before them gets its totals counted once."""
    present = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND name = 'totals_on_insert'")
    if present.fetchone():
        return
    own = not conn.in_transaction  # a numbered migration may already hold its transaction
    if own:
        conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(f"DELETE FROM {TABLE}")
        conn.execute(_FILL)
        for trigger in TRIGGERS:
            conn.execute(trigger)
    except BaseException:
        if own:
            conn.execute("ROLLBACK")
        raise
    if own:
        conn.execute("COMMIT")


def waiting_total(conn: sqlite3.Connection) -> int:
    """How many jobs wait: a look-up of a few rows, not a count of the queue."""
    row = conn.execute(f"SELECT sum(jobs) FROM {TABLE} WHERE status = ?", (str(JobStatus.QUEUED),))
    return int(row.fetchone()[0] or 0)
