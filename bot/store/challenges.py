"""Challenges, their votes and their results (the leaderboard's ledger)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bot.domain import Challenge, ChallengeStatus, ChatRef, JobStatus, LeaderboardRow, Standing
from bot.store.db import Database
from bot.store.rows import challenge_to_row, row_to_challenge, row_to_job


class ChallengeTable:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, challenge: Challenge) -> Challenge:
        """Insert an open challenge unless the chat already has one (then raise ValueError)."""
        with self.db.transaction() as conn:
            busy = conn.execute(
                "SELECT id FROM challenges WHERE platform = ? AND chat_id = ? AND status = ?",
                (challenge.chat.platform, challenge.chat.id, str(ChallengeStatus.OPEN)),
            ).fetchone()
            if busy is not None:
                raise ValueError(f"challenge {busy['id']} is still open")
            row = challenge_to_row(replace(challenge, status=ChallengeStatus.OPEN))
            row.pop("id")
            names = ", ".join(row)
            marks = ", ".join(f":{name}" for name in row)
            cursor = conn.execute(f"INSERT INTO challenges ({names}) VALUES ({marks})", row)
        return replace(challenge, id=int(cursor.lastrowid or 0))

    def update(self, challenge_id: int, **columns: Any) -> None:
        sets = ", ".join(f"{name} = :{name}" for name in columns)
        self.db.conn.execute(f"UPDATE challenges SET {sets} WHERE id = :id", {**columns, "id": challenge_id})

    def get(self, challenge_id: int) -> Challenge | None:
        row = self.db.conn.execute("SELECT * FROM challenges WHERE id = ?", (challenge_id,)).fetchone()
        return row_to_challenge(row) if row else None

    def open_in(self, chat: ChatRef) -> Challenge | None:
        """The open challenge of a chat, or of the thread its entries go to."""
        row = self.db.conn.execute(
            "SELECT * FROM challenges WHERE status = ? AND platform = ?"
            " AND (chat_id = ? OR entries_chat_id = ?)",
            (str(ChallengeStatus.OPEN), chat.platform, chat.id, chat.id),
        ).fetchone()
        return row_to_challenge(row) if row else None

    def all_open(self) -> list[Challenge]:
        rows = self.db.conn.execute(
            "SELECT * FROM challenges WHERE status = ? ORDER BY deadline", (str(ChallengeStatus.OPEN),)
        ).fetchall()
        return [row_to_challenge(row) for row in rows]

    def toggle_vote(self, challenge_id: int, job_id: int, voter: str, at: float) -> tuple[bool, int]:
        """Add the vote, or take it back if already given; returns (voted now, entry's votes)."""
        with self.db.transaction() as conn:
            removed = conn.execute(
                "DELETE FROM votes WHERE job_id = ? AND voter = ?", (job_id, voter)
            ).rowcount
            if not removed:
                conn.execute(
                    "INSERT INTO votes (job_id, voter, challenge_id, at) VALUES (?, ?, ?, ?)",
                    (job_id, voter, challenge_id, at),
                )
            count = conn.execute("SELECT count(*) FROM votes WHERE job_id = ?", (job_id,)).fetchone()[0]
        return not removed, int(count)

    def vote_count(self, job_id: int) -> int:
        row = self.db.conn.execute("SELECT count(*) FROM votes WHERE job_id = ?", (job_id,)).fetchone()
        return int(row[0])

    def standings(self, challenge_id: int) -> list[Standing]:
        """Delivered entries, most votes first (ties: earlier entry first)."""
        rows = self.db.conn.execute(
            "SELECT jobs.*, (SELECT count(*) FROM votes WHERE votes.job_id = jobs.id) AS vote_count"
            " FROM jobs WHERE challenge_id = ? AND status = ? ORDER BY vote_count DESC, id",
            (challenge_id, str(JobStatus.DONE)),
        ).fetchall()
        standings = []
        for row in rows:
            job = row_to_job(row)
            standings.append(Standing(job.id, job.user, row["vote_count"], job.result_message, job.chat))
        return standings

    def close(
        self,
        challenge_id: int,
        status: ChallengeStatus,
        winners: list[Standing],
        standings: list[Standing],
        chat_key: str,
    ) -> bool:
        """Close once (open → closed/cancelled) and record results; False if already closed."""
        with self.db.transaction() as conn:
            closed = conn.execute(
                "UPDATE challenges SET status = ? WHERE id = ? AND status = ?",
                (str(status), challenge_id, str(ChallengeStatus.OPEN)),
            ).rowcount
            if not closed:
                return False
            if status == ChallengeStatus.CLOSED:
                totals: dict[str, tuple[str, int]] = {}
                for standing in standings:
                    name, votes = totals.get(standing.user.key, (standing.user.name, 0))
                    totals[standing.user.key] = (name, votes + standing.votes)
                winner_keys = {w.user.key for w in winners}
                for user_key, (name, votes) in totals.items():
                    conn.execute(
                        "INSERT OR REPLACE INTO challenge_results"
                        " (challenge_id, user_key, user_name, chat_key, votes, winner)"
                        " VALUES (?, ?, ?, ?, ?, ?)",
                        (challenge_id, user_key, name, chat_key, votes, int(user_key in winner_keys)),
                    )
        return True

    def leaderboard(self, chat_key: str, limit: int = 10) -> list[LeaderboardRow]:
        rows = self.db.conn.execute(
            "SELECT user_key, max(user_name) AS name, sum(winner) AS wins, sum(votes) AS votes"
            " FROM challenge_results WHERE chat_key = ? GROUP BY user_key"
            " ORDER BY wins DESC, votes DESC, user_key LIMIT ?",
            (chat_key, limit),
        ).fetchall()
        return [LeaderboardRow(r["user_key"], r["name"] or "", int(r["wins"]), int(r["votes"])) for r in rows]
