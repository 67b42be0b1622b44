"""The writer's own slot: one thread, a bounded backlog, a time limit, a pace per person.

A rewrite never waits behind a render and a render never waits behind a rewrite (separate
pools); the chats never wait at all.  Whatever happens, the caller gets a `Rewrite`: the model's
cleaned paragraph, or the person's own prompt with the reason it was kept.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from bot.enhance.sanitise import Refusal, clean
from bot.enhance.writer import Draft, PromptWriter, WriterMissing

log = logging.getLogger(__name__)
MAX_PEOPLE_REMEMBERED = 10_000
# A writer elsewhere (a SAQ worker, `bot.dispatch.rewrites`): (prompt, family, seed) → its draft
RemoteWrite = Callable[[str, str, int | None], Awaitable[Draft]]


class Kept(enum.StrEnum):
    """Why the person's own prompt is used instead of a rewrite."""

    GARBAGE = "garbage"  # the writer wrote nothing readable in English
    UNSAFE = "unsafe"  # the writer wrote a link, a command or a mention
    TIMEOUT = "timeout"  # it took longer than [enhance] timeout_s
    ERROR = "error"  # it failed (weights missing, out of memory …)
    BUSY = "busy"  # the slot and its backlog were full
    PACED = "paced"  # this person asked less than [enhance] every_s ago


@dataclass(frozen=True)
class Rewrite:
    """One prompt through the writer: `text` is what the video model will see."""

    original: str  # what the person typed
    text: str  # the rewrite, or `original` when it was kept
    writer: str  # the model that wrote `text`; "" when the original was kept
    kept: Kept | None = None  # why the original was kept; None: `text` is the writer's
    why: str = ""  # for the log and the owner: the check or error behind `kept`
    wait_s: float = 0.0  # PACED: when this person may ask again
    tokens: int = 0
    seconds: float = 0.0  # the writer's generation time

    @property
    def rewritten(self) -> bool:
        return self.kept is None and self.text != self.original


class WriterSlot:
    """Runs `PromptWriter.write` in a pool of one thread (module docstring), or awaits `remote`, a
    writer on another machine, with the same pace, backlog and time limit (`writer` then only
    names the model and holds the settings)."""

    def __init__(
        self,
        writer: PromptWriter,
        clock: Callable[[], float] = time.monotonic,
        *,
        remote: RemoteWrite | None = None,
    ) -> None:
        settings = writer.settings
        self.writer = writer
        self.remote = remote
        self.pool = ThreadPoolExecutor(1, "writer")
        self.limit = 1 + settings.backlog
        self.every_s = settings.every_s
        self.timeout_s = settings.timeout_s
        self.max_chars = settings.max_chars
        self.clock = clock
        self.in_flight = 0
        self._last: dict[str, float] = {}

    async def rewrite(
        self, who: str, prompt: str, family: str, *, seed: int | None = None, paced: bool = True
    ) -> Rewrite:
        """`prompt` rewritten for `family` on behalf of `who`; never raises.  `paced`: at most one
        per person every `[enhance] every_s` (a rewrite on its way into a `/video` is paced by the
        `/video` rate limit instead)."""
        now = self.clock()
        last = self._last.get(who)
        if paced and last is not None and now - last < self.every_s:
            return Rewrite(prompt, prompt, "", Kept.PACED, wait_s=self.every_s - (now - last))
        if self.in_flight >= self.limit:
            return Rewrite(prompt, prompt, "", Kept.BUSY)
        if len(self._last) > MAX_PEOPLE_REMEMBERED:
            self._last = {k: v for k, v in self._last.items() if now - v < self.every_s}
        self._last[who] = now
        loop = asyncio.get_running_loop()
        cancel, started = threading.Event(), asyncio.Event()
        self.in_flight += 1
        future: asyncio.Future[Draft]
        if self.remote is not None:  # its time runs from the asking: the wait for a worker counts
            future = asyncio.ensure_future(self.remote(prompt, family, seed))
            started.set()
        else:
            write = functools.partial(
                self.writer.write, prompt, family, seed=seed, cancel=cancel,
                on_start=lambda: loop.call_soon_threadsafe(started.set),
            )  # fmt: skip
            future = loop.run_in_executor(self.pool, write)
        future.add_done_callback(self._done)
        try:
            # the time limit is the writer's own: waiting for the slot and loading the model do not count
            start = asyncio.ensure_future(started.wait())
            await asyncio.wait((future, start), return_when=asyncio.FIRST_COMPLETED)
            start.cancel()
            draft = await asyncio.wait_for(asyncio.shield(future), self.timeout_s)
        except TimeoutError:
            cancel.set()  # the thread stops at the next token and frees the slot
            if self.remote is not None:
                future.cancel()  # aborted on its queue (a thread's future stays: it counts till it stops)
            return Rewrite(prompt, prompt, "", Kept.TIMEOUT, f"over {self.timeout_s:g} s")
        except WriterMissing as error:
            log.warning("%s", error)
            return Rewrite(prompt, prompt, "", Kept.ERROR, str(error))
        except Exception as error:  # the model's own failure: the person's prompt goes on
            log.exception("the prompt writer failed")
            return Rewrite(prompt, prompt, "", Kept.ERROR, f"{type(error).__name__}: {error}")
        return self._cleaned(prompt, draft)

    async def warm(self) -> None:
        """Load the writer in its own thread at start-up, so the first person does not wait for it."""
        if self.remote is not None:
            return  # the workers load theirs
        try:
            await asyncio.get_running_loop().run_in_executor(self.pool, self.writer.load)
        except WriterMissing as error:
            log.warning("%s", error)
        except Exception:  # it is tried again at the first rewrite, which then falls back and says so
            log.exception("the prompt writer did not load")

    def _cleaned(self, prompt: str, draft: Draft) -> Rewrite:
        cleaned = clean(draft.text, self.max_chars)
        if cleaned.text is None:
            kept = Kept.UNSAFE if cleaned.refusal is Refusal.UNSAFE else Kept.GARBAGE
            log.info("prompt rewrite not used (%s: %s)", kept, cleaned.why)
            return Rewrite(prompt, prompt, "", kept, cleaned.why, tokens=draft.tokens, seconds=draft.seconds)
        return Rewrite(prompt, cleaned.text, self.writer.name, tokens=draft.tokens, seconds=draft.seconds)

    def _done(self, _: object) -> None:
        self.in_flight -= 1

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
