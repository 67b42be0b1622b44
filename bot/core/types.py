"""The data the core passes around: who asked, where, for what, and how it went."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    ENCODING = "encoding"
    DELIVERING = "delivering"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED)


@dataclass(frozen=True)
class UserRef:
    """A person on one platform; `key` ("telegram:42") names them everywhere."""

    platform: str
    id: str
    name: str = ""
    locale: str = "en"

    @property
    def key(self) -> str:
        return f"{self.platform}:{self.id}"


@dataclass(frozen=True)
class ChatRef:
    """Where messages go: a Telegram chat, a Discord channel, the console."""

    platform: str
    id: str
    is_group: bool = False

    @property
    def key(self) -> str:
        return f"{self.platform}:{self.id}"


@dataclass(frozen=True)
class RenderParams:
    prompt: str
    negative: str
    seed: int
    frames: int
    steps: int
    guidance: float
    width: int
    height: int
    fps: int


@dataclass(frozen=True)
class Request:
    """One command as the core sees it; `reply_to` is the adapter's opaque message ref."""

    user: UserRef
    chat: ChatRef
    reply_to: str | None = None
    is_admin: bool = False
    roles: tuple[str, ...] = ()


@dataclass
class Job:
    id: int
    user: UserRef
    chat: ChatRef
    params: RenderParams
    model: str
    status: JobStatus = JobStatus.QUEUED
    attempts: int = 0
    created_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    reply_to: str | None = None
    status_message: str | None = None
    result_message: str | None = None
    clip_path: str | None = None
    error: str | None = None
    parent_id: int | None = None
    priority: int = 0
    challenge_id: int | None = None


class Undeliverable(Exception):
    """The platform says this chat can never receive the message (bot removed, chat gone)."""


@dataclass(frozen=True)
class Button:
    """A button under a result; adapters encode (action, job_id) in callback data."""

    action: str
    job_id: int
    label: str


@dataclass(frozen=True)
class Clip:
    """An encoded MP4 on disk and the facts platforms want with an upload."""

    path: str
    size_bytes: int
    width: int
    height: int
    frames: int
    fps: int

    @property
    def duration_s(self) -> float:
        return self.frames / self.fps


@dataclass(frozen=True)
class Challenge:
    """A prompt challenge in one chat: a theme, entries rendered by the bot, votes."""

    id: int
    chat: ChatRef
    theme: str
    created_by: str
    started_at: float
    deadline: float
    max_entries_per_user: int
    required_words: tuple[str, ...]
    free_entries: bool
    status: str = "open"
    announcement: str | None = None
    entries_chat: ChatRef | None = None

    @property
    def where_entries_go(self) -> ChatRef:
        return self.entries_chat or self.chat


@dataclass(frozen=True)
class Standing:
    """One entry's place in a challenge."""

    job_id: int
    user: UserRef
    votes: int
    result_message: str | None
    chat: ChatRef


@dataclass(frozen=True)
class LeaderboardRow:
    user_key: str
    name: str
    wins: int
    votes: int
