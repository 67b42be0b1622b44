"""Row ↔ dataclass: the one place that knows how a `Job` or a `Challenge` is laid out in SQLite.

The jobs table's columns are derived from the dataclasses themselves (a `Job`'s own fields,
its `RenderParams`, and the user and chat it belongs to), so adding a field to `Job` adds
its column and its mapping at once.
"""

from __future__ import annotations

import sqlite3
import typing
from dataclasses import fields
from typing import Any

from bot.domain import (
    CONDITIONING_COLUMNS,
    Challenge,
    ChallengeStatus,
    ChatRef,
    Draft,
    Job,
    JobStatus,
    RenderParams,
    UserRef,
)

# Columns that are not fields of `Job`: who and where (flattened) and the quota ledger's.
_REF_COLUMNS: dict[str, type] = {
    "platform": str,
    "user_id": str,
    "user_name": str,
    "locale": str,
    "chat_id": str,
    "chat_is_group": int,
    "chat_server": str,
}
_LEDGER_COLUMNS: dict[str, type] = {"quota_day": str, "refunded": int}
_NESTED = ("user", "chat", "params")


def _column_type(hint: Any) -> type:
    """`int | None` → int; enums are stored as their text."""
    args = [a for a in typing.get_args(hint) if a is not type(None)] or [hint]
    kind = args[0]
    if isinstance(kind, type) and issubclass(kind, str):
        return str
    if kind is bool:
        return int
    return kind if kind in (int, float, str) else str


def _job_columns() -> dict[str, type]:
    job_hints = typing.get_type_hints(Job)
    params_hints = typing.get_type_hints(RenderParams) | CONDITIONING_COLUMNS  # its three columns
    columns: dict[str, type] = {"id": int, **_REF_COLUMNS}
    columns.update({f.name: _column_type(job_hints[f.name]) for f in fields(Job) if f.name not in _NESTED})
    columns.update({name: _column_type(params_hints[name]) for name in RenderParams.data_names()})
    columns.update(_LEDGER_COLUMNS)
    return columns


JOB_COLUMNS: dict[str, type] = _job_columns()


def job_to_row(job: Job) -> dict[str, Any]:
    """A job as the jobs table holds it (without the ledger columns)."""
    row: dict[str, Any] = {f.name: getattr(job, f.name) for f in fields(Job) if f.name not in _NESTED}
    row.update(job.params.to_data())
    row.update(
        platform=job.user.platform,
        user_id=job.user.id,
        user_name=job.user.name,
        locale=job.user.locale,
        chat_id=job.chat.id,
        chat_is_group=int(job.chat.is_group),
        chat_server=job.chat.server,
        status=str(job.status),
    )
    return row


def row_to_job(row: sqlite3.Row) -> Job:
    values = {f.name: row[f.name] for f in fields(Job) if f.name not in _NESTED}
    values["status"] = JobStatus(row["status"])
    values["model"] = row["model"] or ""
    values["created_at"] = row["created_at"] or 0.0
    return Job(
        **values,
        user=UserRef(row["platform"], row["user_id"], row["user_name"] or "", row["locale"] or "en"),
        chat=ChatRef(row["platform"], row["chat_id"], bool(row["chat_is_group"]), row["chat_server"] or ""),
        params=RenderParams.from_data({name: row[name] for name in RenderParams.data_names()}),
    )


CHALLENGE_COLUMNS: dict[str, type] = {
    "id": int,
    "platform": str,
    "chat_id": str,
    "chat_is_group": int,
    "chat_server": str,
    "theme": str,
    "created_by": str,
    "started_at": float,
    "deadline": float,
    "max_entries_per_user": int,
    "required_words": str,
    "free_entries": int,
    "status": str,
    "announcement": str,
    "entries_chat_id": str,
}


def challenge_to_row(challenge: Challenge) -> dict[str, Any]:
    return {
        "id": challenge.id,
        "platform": challenge.chat.platform,
        "chat_id": challenge.chat.id,
        "chat_is_group": int(challenge.chat.is_group),
        "chat_server": challenge.chat.server,
        "theme": challenge.theme,
        "created_by": challenge.created_by,
        "started_at": challenge.started_at,
        "deadline": challenge.deadline,
        "max_entries_per_user": challenge.max_entries_per_user,
        "required_words": "\n".join(challenge.required_words),
        "free_entries": int(challenge.free_entries),
        "status": str(challenge.status),
        "announcement": challenge.announcement,
        "entries_chat_id": challenge.entries_chat.id if challenge.entries_chat else None,
    }


def row_to_challenge(row: sqlite3.Row) -> Challenge:
    server = row["chat_server"] or ""
    chat = ChatRef(row["platform"], row["chat_id"], bool(row["chat_is_group"]), server)
    entries_chat = (
        ChatRef(row["platform"], row["entries_chat_id"], True, server) if row["entries_chat_id"] else None
    )
    return Challenge(
        id=row["id"],
        chat=chat,
        theme=row["theme"],
        created_by=row["created_by"],
        started_at=row["started_at"],
        deadline=row["deadline"],
        max_entries_per_user=row["max_entries_per_user"],
        required_words=tuple(w for w in (row["required_words"] or "").split("\n") if w),
        free_entries=bool(row["free_entries"]),
        status=ChallengeStatus(row["status"]),
        announcement=row["announcement"],
        entries_chat=entries_chat,
    )


DRAFT_COLUMNS: dict[str, type] = {
    "id": int,
    "platform": str,
    "user_id": str,
    "user_name": str,
    "locale": str,
    "chat_id": str,
    "chat_is_group": int,
    "chat_server": str,
    "args": str,
    "rewrite": str,
    "writer": str,
    "created_at": float,
    "reply_to": str,
    "message": str,
    "attempts": int,
    "used": int,
}


def row_to_draft(row: sqlite3.Row) -> Draft:
    return Draft(
        id=row["id"],
        user=UserRef(row["platform"], row["user_id"], row["user_name"] or "", row["locale"] or "en"),
        chat=ChatRef(row["platform"], row["chat_id"], bool(row["chat_is_group"]), row["chat_server"] or ""),
        args=row["args"],
        rewrite=row["rewrite"],
        writer=row["writer"] or "",
        created_at=row["created_at"],
        reply_to=row["reply_to"],
        message=row["message"],
        attempts=row["attempts"] or 1,
        used=bool(row["used"]),
    )
