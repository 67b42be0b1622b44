"""What admins set: per-chat settings, bans, and the audit log of what they did."""

from __future__ import annotations

from typing import Any

from bot.domain import AuditEntry, ChatSettings
from bot.store.db import Database

EVERYWHERE = "*"


class ChatSettingsTable:
    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, chat_key: str) -> ChatSettings:
        row = self.db.conn.execute("SELECT * FROM chat_settings WHERE chat_key = ?", (chat_key,)).fetchone()
        if row is None:
            return ChatSettings()
        return ChatSettings(
            max_frames=row["max_frames"],
            max_steps=row["max_steps"],
            daily=row["daily"],
            challenges=bool(row["challenges"]),
            enabled=bool(row["enabled"]),
            gallery=bool(row["gallery"]),
            models=tuple(name for name in (row["models"] or "").split(",") if name),
            faces=row["faces"] or None,
        )

    def save(self, chat_key: str, settings: ChatSettings) -> None:
        self.db.conn.execute(
            "INSERT OR REPLACE INTO chat_settings"
            " (chat_key, max_frames, max_steps, daily, challenges, enabled, gallery, models, faces)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                chat_key,
                settings.max_frames,
                settings.max_steps,
                settings.daily,
                int(settings.challenges),
                int(settings.enabled),
                int(settings.gallery),
                ",".join(settings.models),
                settings.faces,
            ),
        )


class BotSettings:
    """Switches owners flip at run time (the active model), kept across restarts."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, key: str) -> str | None:
        row = self.db.conn.execute("SELECT value FROM bot_settings WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row["value"])

    def set(self, key: str, value: str) -> None:
        self.db.conn.execute("INSERT OR REPLACE INTO bot_settings (key, value) VALUES (?, ?)", (key, value))


class Bans:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, user_key: str, scope: str, reason: str, by_user: str, at: float) -> None:
        """Ban in one chat (`scope` = its key) or everywhere (`scope` = "*")."""
        self.db.conn.execute(
            "INSERT OR REPLACE INTO bans (user_key, scope, reason, by_user, at) VALUES (?, ?, ?, ?, ?)",
            (user_key, scope, reason, by_user, at),
        )

    def remove(self, user_key: str, scope: str) -> bool:
        """Lift a ban in one chat; `scope` "*" lifts every ban the user has."""
        deleted = self.db.conn.execute(
            "DELETE FROM bans WHERE user_key = ? AND (scope = ? OR ? = ?)",
            (user_key, scope, scope, EVERYWHERE),
        )
        return deleted.rowcount > 0

    def reason(self, user_key: str, *scopes: str | None) -> str | None:
        """None if not banned in any of `scopes` (a chat, its server) nor everywhere, else the
        reason given (possibly empty)."""
        where = [EVERYWHERE, *(scope for scope in scopes if scope)]
        marks = ", ".join("?" for _ in where)
        row = self.db.conn.execute(
            f"SELECT reason FROM bans WHERE user_key = ? AND scope IN ({marks}) ORDER BY scope = ? DESC",
            (user_key, *where, EVERYWHERE),
        ).fetchone()
        return None if row is None else str(row["reason"] or "")


class AuditLog:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, at: float, chat: str, actor: str, action: str, target: str = "", detail: str = "") -> None:
        self.db.conn.execute(
            "INSERT INTO audit_log (at, chat, actor, action, target, detail) VALUES (?, ?, ?, ?, ?, ?)",
            (at, chat, actor, action, target, detail),
        )

    def entries(self, limit: int, chat: str | None = None) -> list[AuditEntry]:
        query = "SELECT * FROM audit_log"
        args: list[Any] = []
        if chat is not None:
            query += " WHERE chat = ?"
            args.append(chat)
        rows = self.db.conn.execute(query + " ORDER BY id DESC LIMIT ?", [*args, limit]).fetchall()
        return [
            AuditEntry(
                r["id"],
                r["at"],
                r["chat"] or "",
                r["actor"],
                r["action"],
                r["target"] or "",
                r["detail"] or "",
            )
            for r in rows
        ]

    def forget_before(self, at: float) -> None:
        self.db.conn.execute("DELETE FROM audit_log WHERE at < ?", (at,))
