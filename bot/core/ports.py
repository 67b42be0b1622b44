"""The core's two ports: how it speaks to a chat platform (`Outbox`) and how it gets clips
rendered (`RenderBackend`, whose news comes back as typed events through one sink).

Adapters implement `Outbox`; `bot.dispatch` implements `RenderBackend`.  Nothing here
knows which platform or which backend is on the other side.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.domain import Button, ChatRef, Clip, Delivery, RenderParams, UserRef
from bot.pipelines.spec import ClipIdentity

Clock = Callable[[], float]


class Outbox(Protocol):
    """What an adapter does for the core.  Refs are the adapter's own message ids."""

    def upload_limit(self, chat: ChatRef) -> int: ...

    async def send_text(
        self,
        chat: ChatRef,
        text: str,
        *,
        reply_to: str | None = None,
        private: bool = False,
        user: UserRef | None = None,
    ) -> str | None: ...

    async def edit_text(self, chat: ChatRef, message: str, text: str) -> bool | None:
        """Edit a message; False when it can no longer be edited (a Discord token past 15 min)."""
        ...

    async def send_video(self, delivery: Delivery) -> str:
        """Post a finished clip; returns the ref of the message that holds it."""
        ...

    async def delete(self, chat: ChatRef, message: str) -> None: ...

    async def show_activity(self, chat: ChatRef) -> None: ...

    async def edit_buttons(self, chat: ChatRef, message: str, buttons: Sequence[Button]) -> None: ...

    async def open_thread(self, chat: ChatRef, message: str, name: str) -> ChatRef | None:
        """A thread for a challenge's entries under `message`, where the platform has them."""
        ...


# the render-backend port -------------------------------------------------------------------


class WebLinks(Protocol):
    """The web side's public pages, for replies that point to them (`bot/web/links.py` builds them):
    None when the web side is off or the chat's admins keep it off the gallery."""

    def challenge(self, chat: ChatRef, challenge_id: int) -> str | None: ...

    def leaderboard(self, chat: ChatRef) -> str | None: ...


@dataclass(frozen=True)
class RenderJob:
    """What a backend needs to render one clip: serialisable, no live objects.

    `model` is the configured model's name (`[models.NAME]`); `identity` is what the clip's
    tags and signed record say made it, whichever machine renders it.
    """

    job_id: int
    model: str
    params: RenderParams
    identity: ClipIdentity


class FailureKind(enum.StrEnum):
    OUT_OF_MEMORY = "out_of_memory"
    MODEL_MISSING = "model_missing"
    TOO_BIG = "too_big"
    INTERNAL = "internal"


@dataclass(frozen=True)
class Started:
    job_id: int


@dataclass(frozen=True)
class Progress:
    job_id: int
    step: int
    total: int


@dataclass(frozen=True)
class Encoding:
    """The denoising is done; the frames are being encoded."""

    job_id: int


@dataclass(frozen=True)
class Rendered:
    """The clip is ready where the bot can read it (`clip.path`, on the bot's side)."""

    job_id: int
    clip: Clip


@dataclass(frozen=True)
class Failed:
    job_id: int
    kind: FailureKind
    detail: str = ""


@dataclass(frozen=True)
class Cancelled:
    """The backend stopped the job: because `cancel(job_id)` asked, or because it is stopping."""

    job_id: int


RenderEvent = Started | Progress | Encoding | Rendered | Failed | Cancelled
EventSink = Callable[[RenderEvent], None]


class RenderBackend(Protocol):
    """Renders jobs the core hands it and reports back through the sink given to `run`.

    A backend may run several jobs at once (a batch on one GPU, several remote workers):
    `free_slots()` says how many more it takes now, and the core hands over no more.
    """

    @property
    def problem(self) -> str | None:
        """Why nothing can render now (the model failed to load), in words for the owner."""
        ...

    @property
    def loaded(self) -> bool: ...

    def free_slots(self) -> int: ...

    async def wait_for_slot(self) -> None:
        """Return once `free_slots()` is above zero (the model is loaded and a slot is free)."""
        ...

    def submit(self, job: RenderJob) -> None: ...

    def cancel(self, job_id: int) -> None:
        """Stop `job_id` after its current step; a `Cancelled` event follows."""
        ...

    def poke(self) -> None:
        """A job is waiting: retry what failed (a model load) now rather than later."""
        ...

    async def run(self, sink: EventSink) -> None:
        """Serve until `stop()`; every event goes to `sink`, on the event loop."""
        ...

    def stop(self) -> None:
        """Stop taking jobs; running ones stop after their current step (each gets `Cancelled`)."""
        ...

    def model_state(self) -> ModelState:
        """Which models are in memory and which cannot load now: the dispatcher groups jobs by
        model instead of thrashing between loads (an empty state: plain fair order)."""
        ...

    def warmth(self) -> dict[str, dict[str, float | None]]:
        """Each loaded model's load and warm-up seconds (/healthz, the log); {} where none load here."""
        ...


@dataclass(frozen=True)
class ModelState:
    """Which models a backend holds in memory, and which cannot load now (their jobs wait)."""

    resident: frozenset[str] = frozenset()
    unavailable: frozenset[str] = frozenset()
    broken: frozenset[str] = frozenset()  # failed to load (not merely busy): their jobs wait a bounded time
