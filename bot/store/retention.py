"""What `[storage]` promises to forget: old clips, pictures no job needs, finished jobs."""

from __future__ import annotations

from bot.domain import Job
from bot.store.db import Database
from bot.store.jobs import FINISHED_SQL
from bot.store.rows import row_to_job


class Retention:
    """The jobs table's forgetting side (housekeeping's, never the queue's)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def expired_clips(self, older_than: float) -> list[Job]:
        rows = self.db.conn.execute(
            f"SELECT * FROM jobs WHERE clip_path IS NOT NULL AND status IN {FINISHED_SQL}"
            " AND finished_at < ?",
            (older_than,),
        ).fetchall()
        return [row_to_job(row) for row in rows]

    def picture_in_use(self, sha256: str) -> bool:
        """Whether a job still needs this picture: waiting or running, or keeping its clip (a reroll)."""
        row = self.db.conn.execute(
            "SELECT 1 FROM jobs WHERE picture IS NOT NULL AND json_extract(picture, '$.sha256') = ?"
            f" AND (clip_path IS NOT NULL OR status NOT IN {FINISHED_SQL}) LIMIT 1",
            (sha256,),
        ).fetchone()
        return row is not None

    def forget_finished(self, before: float) -> None:
        """Delete finished jobs (prompts, user ids) and their votes, once their clips are gone."""
        with self.db.transaction() as conn:
            old = f"finished_at < ? AND status IN {FINISHED_SQL} AND clip_path IS NULL"
            conn.execute(f"DELETE FROM votes WHERE job_id IN (SELECT id FROM jobs WHERE {old})", (before,))
            conn.execute(f"DELETE FROM jobs WHERE {old}", (before,))
            conn.execute("DELETE FROM users WHERE last_served_at < ?", (before,))


__all__ = ["Retention"]
