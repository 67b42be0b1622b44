"""Progress on a job's status message: rendering bars, "encoding", "sending".

Edits at most once per interval per job (longer in groups, whose Telegram budget is about
20 calls a minute), never the same text twice, and never two at once for one job.  The last
step is the exception to the interval: a bar left at "46/50" above "Done" looks broken, so it
is drawn as soon as the edit before it has landed.
"""

from __future__ import annotations

import time

from bot.core import messages
from bot.core.boards import GroupBoards
from bot.core.endings import RunningJobs
from bot.core.notify import Notifier
from bot.core.ports import Encoding, Progress, RenderEvent
from bot.core.tasks import Tasks
from bot.domain import Job
from bot.settings.sections import QueueConfig


class ProgressBoard:
    def __init__(
        self, config: QueueConfig, notifier: Notifier, running: RunningJobs, tasks: Tasks, boards: GroupBoards
    ) -> None:
        self.boards = boards
        self.config = config
        self.notifier = notifier
        self.running = running
        self.tasks = tasks
        self.last_sent: dict[int, tuple[float, str]] = {}
        self.in_flight: set[int] = set()
        self.last_step: dict[int, str] = {}  # a last step that waits for the edit in flight

    def on_event(self, event: RenderEvent) -> None:
        running = self.running.get(event.job_id)
        if running is None:
            return
        if isinstance(event, Progress):
            self.rendering(running.job, event.step, event.total)
        elif isinstance(event, Encoding) and self.boards.quiet_here(running.job):
            self.tasks.spawn(self.stage(running.job, "encoding"))
            self.tasks.spawn(self.notifier.show_activity(running.job))

    def interval(self, job: Job) -> float:
        q = self.config
        return q.group_progress_interval_s if job.chat.is_group else q.progress_interval_s

    def rendering(self, job: Job, step: int, total: int) -> None:
        text = messages.text(
            "rendering", job.user.locale, bar=messages.progress_bar(step, total), step=step, total=total
        )
        final = step >= total
        if self._due(job, text, ignore_interval=final):
            self._claim(job, text)
            self.tasks.spawn(self._send(job, text))
        elif final and job.id in self.in_flight:
            self.last_step[job.id] = text

    async def stage(self, job: Job, stage: str) -> None:
        text = messages.text(stage, job.user.locale)
        if self._due(job, text):
            self._claim(job, text)
            await self._send(job, text)

    def _due(self, job: Job, text: str, *, ignore_interval: bool = False) -> bool:
        if (
            job.id in self.in_flight
            or not self.boards.quiet_here(job)
            or not self.notifier.status_message_of(job)
        ):
            return False
        when, last_text = self.last_sent.get(job.id, (float("-inf"), ""))
        return text != last_text and (ignore_interval or time.monotonic() - when >= self.interval(job))

    def _claim(self, job: Job, text: str) -> None:
        """Take the interval's slot before any await: a burst of steps must not spawn an edit each."""
        self.in_flight.add(job.id)
        self.last_sent[job.id] = (time.monotonic(), text)

    async def _send(self, job: Job, text: str) -> None:
        try:
            await self.notifier.edit_status(job, text)
        finally:
            self.in_flight.discard(job.id)
        last = self.last_step.pop(job.id, None)
        if last is not None and job.id in self.last_sent and self._due(job, last, ignore_interval=True):
            self._claim(job, last)
            await self._send(job, last)

    def forget(self, job_id: int) -> None:
        self.last_sent.pop(job_id, None)
        self.last_step.pop(job_id, None)
