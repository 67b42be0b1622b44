"""The fair order, kept in the jobs table itself so a look-up is one indexed range scan.

The order (`bot.core.queue.fair_order` spells it out in Python; the tests hold the two
together): lowest priority class first; within a class, round-robin over users — everyone's
first waiting job, then everyone's second … (`fair_turn`) — each round ordered by who was
served least recently (`fair_served`), then by whose first waiting job is oldest
(`fair_first`).

Those three columns are a waiting job's sort key.  Triggers keep them right whenever a job
enters or leaves the queue or a user is served, whichever process writes (the bot, the
shell's admin tools): each change renumbers one user's waiting jobs, a handful of rows.  So
the next job to run, a job's place in line and the work ahead of it are reads of the
covering index `FAIR_INDEX`, however many users wait — not a window over the whole queue on
every request.
"""

from __future__ import annotations

import sqlite3

from bot.domain import JobStatus

COLUMNS: dict[str, type] = {"fair_turn": int, "fair_served": float, "fair_first": int}
DEFAULTS: dict[str, object] = {"fair_turn": 0, "fair_served": 0.0, "fair_first": 0}
KEY = "priority, fair_turn, fair_served, fair_first"
# The key, then what an ETA sums, so the place-and-work query never reads the table.
FAIR_INDEX = (
    *("status", "priority", "fair_turn", "fair_served", "fair_first"),
    *("model", "width", "height", "steps", "frames"),
)

_QUEUED = f"'{JobStatus.QUEUED}'"
_SAME_USER = f"j.status = {_QUEUED} AND j.platform = jobs.platform AND j.user_id = jobs.user_id"
_RENUMBER = f"""
UPDATE jobs SET
    fair_turn = (SELECT count(*) FROM jobs AS j WHERE {_SAME_USER} AND j.id < jobs.id),
    fair_first = (SELECT min(j.id) FROM jobs AS j WHERE {_SAME_USER}),
    fair_served = coalesce(
        (SELECT last_served_at FROM users WHERE user_key = jobs.platform || ':' || jobs.user_id), 0)
WHERE status = {_QUEUED}"""
_SERVED = f"""
UPDATE jobs SET fair_served = coalesce(NEW.last_served_at, 0)
WHERE status = {_QUEUED}
    AND platform = substr(NEW.user_key, 1, instr(NEW.user_key, ':') - 1)
    AND user_id = substr(NEW.user_key, instr(NEW.user_key, ':') + 1)"""
_OF_NEW_USER = " AND platform = NEW.platform AND user_id = NEW.user_id"

TRIGGERS = (
    f"""CREATE TRIGGER IF NOT EXISTS fair_on_insert AFTER INSERT ON jobs
    WHEN NEW.status = {_QUEUED} BEGIN {_RENUMBER}{_OF_NEW_USER}; END""",
    f"""CREATE TRIGGER IF NOT EXISTS fair_on_status AFTER UPDATE OF status ON jobs
    WHEN (OLD.status = {_QUEUED}) != (NEW.status = {_QUEUED}) BEGIN {_RENUMBER}{_OF_NEW_USER}; END""",
    f"CREATE TRIGGER IF NOT EXISTS fair_on_served AFTER INSERT ON users BEGIN {_SERVED}; END",
    f"""CREATE TRIGGER IF NOT EXISTS fair_on_served_again AFTER UPDATE OF last_served_at ON users
    BEGIN {_SERVED}; END""",
)


def install(conn: sqlite3.Connection) -> None:
    """Create the triggers; a file from before them gets its waiting jobs numbered once."""
    present = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND name = 'fair_on_insert'")
    if present.fetchone():
        return
    for trigger in TRIGGERS:
        conn.execute(trigger)
    conn.execute(_RENUMBER)
