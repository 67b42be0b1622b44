"""One snapshot of the bot's health, for `/healthz`, the front page and `/metrics` alike."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class BotStatus:
    database: bool  # the database answers
    waiting: int | None  # jobs in line (None: the database did not answer)
    rendering: int  # jobs handed to the render backend now
    model: str  # the default model, as its clips are signed
    model_loaded: bool
    model_problem: str | None  # why nothing renders, in the owner's words
    platforms: tuple[str, ...]  # chat platforms that said they are up
    disconnected: tuple[str, ...] = ()  # enabled, but not connected now (retried with backoff)
    # each configured model (by the key its clips are stored under) → resident now
    models_loaded: dict[str, bool] = field(default_factory=dict)
    dead_tasks: tuple[str, ...] = ()  # core tasks that ended on an error (`/healthz` says 503)
    # seconds each resident model took to load and to warm up (backends that load models)
    warm: dict[str, dict[str, float | None]] = field(default_factory=dict)
