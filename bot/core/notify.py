"""Saying things: replies to a request, and news about a job told to its owner.

The one holder of the platforms' outboxes.  Telling never raises: a platform that is
down or refuses is logged, and the caller goes on.
"""

from __future__ import annotations

import logging

from bot.core.ports import Outbox
from bot.domain import Job, Request
from bot.store import Store

log = logging.getLogger(__name__)


class Notifier:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.outboxes: dict[str, Outbox] = {}

    def add(self, platform: str, outbox: Outbox) -> None:
        self.outboxes[platform] = outbox

    def outbox(self, platform: str) -> Outbox | None:
        return self.outboxes.get(platform)

    async def reply(self, req: Request, text: str, *, private: bool = False) -> str | None:
        """Answer the person who sent `req`, where they sent it."""
        return await self.outboxes[req.chat.platform].send_text(
            req.chat, text, reply_to=req.reply_to, private=private, user=req.user
        )

    def status_message_of(self, job: Job) -> str | None:
        """The job's status message; the worker may claim a job before its ack is stored."""
        if job.status_message is None:
            stored = self.store.jobs.get(job.id)
            job.status_message = stored.status_message if stored else None
        return job.status_message

    async def edit_status(self, job: Job, text: str) -> None:
        """Show `text` on the job's status message, if it has one that can still be edited."""
        outbox = self.outbox(job.chat.platform)
        status_message = self.status_message_of(job)
        if outbox is None or status_message is None:
            return
        try:
            await outbox.edit_text(job.chat, status_message, text)
        except Exception:
            log.info("could not edit status message of job %d", job.id, exc_info=True)

    async def tell(self, job: Job, text: str) -> None:
        """Tell a job's owner something, in the chat it came from, whatever happens."""
        outbox = self.outbox(job.chat.platform)
        if outbox is None:
            return
        status_message = self.status_message_of(job)
        try:
            if (
                status_message is not None
                and await outbox.edit_text(job.chat, status_message, text) is not False
            ):
                return
        except Exception:
            log.info("could not edit the status of job %d; sending a message instead", job.id, exc_info=True)
        try:
            await outbox.send_text(job.chat, text, reply_to=job.reply_to, user=job.user)
        except Exception:
            log.warning("could not tell the owner of job %d", job.id, exc_info=True)

    async def show_activity(self, job: Job) -> None:
        outbox = self.outbox(job.chat.platform)
        if outbox is not None:
            try:
                await outbox.show_activity(job.chat)
            except Exception:
                log.debug("activity indicator failed", exc_info=True)
