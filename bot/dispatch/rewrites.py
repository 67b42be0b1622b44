"""Prompt rewrites on the SAQ workers (`[enhance] device = "worker"`): for a bot host without a GPU.

The bot seals the person's prompt into a job on a queue of its own (`WRITER_QUEUE`: a rewrite never
waits behind a render); a worker whose own config turns `[enhance]` on runs its `PromptWriter` on
it, one at a time, and seals the draft back.  Redis sees neither text, and a draft nobody with the
worker secret sealed is not taken.  The bot's `WriterSlot` keeps its pace, backlog and time limit:
a rewrite no worker finishes in time falls back to the typed prompt, as a local one does, and is
aborted so that no worker starts it late.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from saq.job import TERMINAL_STATUSES, Status
from saq.job import Job as SaqJob

from bot.dispatch.remote import REWRITE_FUNCTION, WRITER_QUEUE, Untrusted, WorkerKeys, seal, unseal
from bot.dispatch.saq_queue import REDIS_ERRORS, VideobotQueue
from bot.enhance.writer import Draft, PromptWriter
from bot.settings.enhance import EnhanceConfig

log = logging.getLogger(__name__)

MAX_PROMPT_CHARS = 4000  # a prompt to rewrite, as a worker takes it (the bot's are far shorter)
ASKED, DRAFTED = "rewrite", "draft"  # what a sealed text is for: the prompt out, the draft back
ASKS = 3  # a rewrite SAQ's sweep took for lost is asked for again, this many times in all


class RemoteWriter:
    """The bot's side: `write(prompt, family, seed)` is the worker's `Draft`, or raises."""

    def __init__(self, redis_url: str, secret: str, timeout_s: float, *, poll_s: float = 0.1) -> None:
        self.keys = WorkerKeys.of(secret)
        self.queue = VideobotQueue.at(redis_url, WRITER_QUEUE)
        self.timeout_s = timeout_s
        self.poll_s = poll_s

    async def write(self, prompt: str, family: str, seed: int | None) -> Draft:
        for _ in range(ASKS):
            key, record = await self._ask(prompt, family, seed)
            if not self._swept(record):
                break
            log.info("a worker's rewrite was swept as lost by SAQ; asking again")
        if record is None:
            raise RuntimeError("the rewrite's record is gone from Redis")
        if record.status != Status.COMPLETE:
            raise RuntimeError(f"the worker's rewrite {record.status}: {str(record.error)[:200]}")
        result = record.result if isinstance(record.result, dict) else {}
        drafted = unseal(self.keys, DRAFTED, key, result.get("sealed"))
        text, tokens, seconds = drafted.get("text"), drafted.get("tokens"), drafted.get("seconds")
        if not isinstance(text, str) or not isinstance(tokens, int) or not isinstance(seconds, int | float):
            raise Untrusted("a draft without its text, tokens and seconds")
        return Draft(text, tokens, float(seconds))

    async def _ask(self, prompt: str, family: str, seed: int | None) -> tuple[str, SaqJob | None]:
        """One rewrite job, queued and waited for until SAQ is done with it (None: its record is gone)."""
        key = f"rewrite:{uuid.uuid4().hex}"
        sealed = seal(self.keys, ASKED, key, {"prompt": prompt, "family": family, "seed": seed})
        # SAQ's own limit on the job, past the slot's: a worker stops a rewrite nobody waits for
        job = await self.queue.enqueue(
            REWRITE_FUNCTION, key=key, sealed=sealed, timeout=int(self.timeout_s) + 5, ttl=600, retries=0
        )
        if job is None:
            raise RuntimeError("the rewrite could not be queued")
        try:
            while (
                record := await self.queue.job(key)
            ) is not None and record.status not in TERMINAL_STATUSES:
                await asyncio.sleep(self.poll_s)
        except asyncio.CancelledError:  # the slot's time limit: no worker should start it now
            with contextlib.suppress(*REDIS_ERRORS):
                await self.queue.abort(job, "the bot stopped waiting")
            raise
        return key, record

    def _swept(self, record: SaqJob | None) -> bool:
        """SAQ's sweep took the job for lost.  It can do that to a job a worker has only just
        dequeued (still "queued" in the active list): the job is asked for again, under a new key,
        within the slot's time limit."""
        return (
            record is not None
            and record.status == Status.ABORTED
            and record.error == self.queue.swept_error_message
        )


class Rewrites:
    """The worker's side: the job function around its own `[enhance]` writer, in a thread of its own."""

    def __init__(self, settings: EnhanceConfig, secret: str, writer: PromptWriter | None = None) -> None:
        self.writer = writer or PromptWriter(settings)
        self.keys = WorkerKeys.of(secret)
        self.pool = ThreadPoolExecutor(1, "writer")

    async def rewrite(self, ctx: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """SAQ's job function: the sealed prompt in, the sealed draft out (`Untrusted`: refused)."""
        key = ctx["job"].key
        asked = unseal(self.keys, ASKED, key, kwargs.get("sealed"))
        prompt, family, seed = asked.get("prompt"), asked.get("family"), asked.get("seed")
        if not isinstance(prompt, str) or not isinstance(family, str) or not isinstance(seed, int | None):
            raise Untrusted("a rewrite without its prompt, family and seed")
        cancel = threading.Event()
        write = functools.partial(
            self.writer.write, prompt[:MAX_PROMPT_CHARS], family, seed=seed, cancel=cancel
        )
        try:
            draft = await asyncio.get_running_loop().run_in_executor(self.pool, write)
        except asyncio.CancelledError:  # aborted, or past SAQ's timeout: stop at the next token
            cancel.set()
            raise
        log.info("rewrote a prompt for %s: %d tokens in %.1f s", family, draft.tokens, draft.seconds)
        payload = {"text": draft.text, "tokens": draft.tokens, "seconds": draft.seconds}
        return {"sealed": seal(self.keys, DRAFTED, key, payload)}

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
