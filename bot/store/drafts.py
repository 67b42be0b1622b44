"""Rewritten prompts waiting for ▶ Render, ✏️ Use mine or 🔁 Again (docs/enhance.md)."""

from __future__ import annotations

from typing import Any

from bot.domain import Draft
from bot.store.db import Database
from bot.store.rows import row_to_draft


class DraftTable:
    def __init__(self, db: Database) -> None:
        self.db = db

    def insert(self, draft: Draft) -> Draft:
        row: dict[str, Any] = {
            "platform": draft.user.platform,
            "user_id": draft.user.id,
            "user_name": draft.user.name,
            "locale": draft.user.locale,
            "chat_id": draft.chat.id,
            "chat_is_group": int(draft.chat.is_group),
            "chat_server": draft.chat.server,
            "args": draft.args,
            "rewrite": draft.rewrite,
            "writer": draft.writer,
            "created_at": draft.created_at,
            "reply_to": draft.reply_to,
            "message": draft.message,
            "attempts": draft.attempts,
            "used": int(draft.used),
        }
        names = ", ".join(row)
        marks = ", ".join(f":{name}" for name in row)
        cursor = self.db.conn.execute(f"INSERT INTO drafts ({names}) VALUES ({marks})", row)
        draft.id = int(cursor.lastrowid or 0)
        return draft

    def get(self, draft_id: int) -> Draft | None:
        row = self.db.conn.execute("SELECT * FROM drafts WHERE id = ?", (draft_id,)).fetchone()
        return row_to_draft(row) if row is not None else None

    def latest(self, user_key: str) -> Draft | None:
        """This person's newest draft not rendered yet."""
        platform, _, user_id = user_key.partition(":")
        row = self.db.conn.execute(
            "SELECT * FROM drafts WHERE platform = ? AND user_id = ? AND used = 0 ORDER BY id DESC LIMIT 1",
            (platform, user_id),
        ).fetchone()
        return row_to_draft(row) if row is not None else None

    def update(self, draft_id: int, **values: object) -> None:
        sets = ", ".join(f"{name} = :{name}" for name in values)
        self.db.conn.execute(f"UPDATE drafts SET {sets} WHERE id = :id", {**values, "id": draft_id})

    def use(self, draft_id: int) -> bool:
        """Mark it rendered; False when it already was (two presses of ▶ Render render once)."""
        cursor = self.db.conn.execute("UPDATE drafts SET used = 1 WHERE id = ? AND used = 0", (draft_id,))
        return cursor.rowcount == 1

    def forget_before(self, before: float) -> None:
        self.db.conn.execute("DELETE FROM drafts WHERE created_at < ?", (before,))
