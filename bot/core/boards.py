"""Busy groups: one shared board message instead of a message and edits per job.

A Telegram group allows about 20 bot calls a minute in all.  Per-job acks, progress edits
and "uploading video…" actions cost ~6 calls a clip, so a busy group would wait on its own
chatter whatever the GPU does.  Once a group has `[queue] busy_group_jobs` unfinished jobs,
new jobs there get no ack of their own: one board message lists everyone's place and
progress, edited at most every `[queue] board_interval_s` (and only when it changed), and
each clip then costs its upload and a share of the board's edits.  Quiet groups and private
chats keep a message per job.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from bot.core import messages
from bot.core.endings import RunningJobs
from bot.core.notify import Notifier
from bot.core.queue import JobQueue
from bot.core.tasks import Tasks
from bot.domain import ChatRef, Job, JobStatus
from bot.settings.sections import QueueConfig
from bot.store import Store

log = logging.getLogger(__name__)

BOARD_LINES = 12


@dataclass
class Board:
    chat: ChatRef
    message: str | None = None
    last_text: str = ""
    seen: int = 0  # videos it has shown


@dataclass(eq=False)
class GroupBoards:
    config: QueueConfig
    store: Store
    notifier: Notifier
    queue: JobQueue
    running: RunningJobs
    tasks: Tasks

    def __post_init__(self) -> None:
        self.boards: dict[str, Board] = {}
        self._keepers: set[asyncio.Task[None]] = set()

    def stop(self) -> None:
        """Shutting down: boards stop being edited (they are made afresh after a restart)."""
        for keeper in self._keepers:
            keeper.cancel()

    def is_busy(self, chat: ChatRef) -> bool:
        """A group with a board, or with enough unfinished jobs to need one."""
        if not chat.is_group:
            return False
        return (
            chat.key in self.boards
            or self.store.jobs.unfinished_count(chat.key) >= self.config.busy_group_jobs
        )

    def quiet_here(self, job: Job) -> bool:
        """Per-job chatter (progress edits, "uploading…" actions) only where no board speaks for all."""
        return job.chat.key not in self.boards

    def add(self, job: Job) -> None:
        """Show `job` on its group's board (made now if the group has none)."""
        board = self.boards.get(job.chat.key)
        if board is None:
            board = self.boards[job.chat.key] = Board(
                job.chat, seen=self.store.jobs.unfinished_count(job.chat.key)
            )
            keeper = asyncio.ensure_future(self._keep(board))  # not in `tasks`: `drain` must not wait on it
            self._keepers.add(keeper)
            keeper.add_done_callback(self._keepers.discard)
        else:
            board.seen += 1

    async def _keep(self, board: Board) -> None:
        """Edit the board while its group is busy: at most every interval, only when it changed."""
        try:
            while True:
                text, active = self._text(board)
                if text != board.last_text:
                    await self._show(board, text)
                if not active:
                    return
                await asyncio.sleep(self.config.board_interval_s)
        except Exception:
            log.warning("the board of %s stopped", board.chat.key, exc_info=True)
        finally:
            self.boards.pop(board.chat.key, None)

    async def _show(self, board: Board, text: str) -> None:
        outbox = self.notifier.outbox(board.chat.platform)
        if outbox is None:
            return
        if board.message is None or await outbox.edit_text(board.chat, board.message, text) is False:
            board.message = await outbox.send_text(board.chat, text)
        board.last_text = text

    def _text(self, board: Board) -> tuple[str, bool]:
        """The board's lines (the oldest unfinished jobs first), and whether any is unfinished."""
        count = self.store.jobs.unfinished_count(board.chat.key)
        shown = self.store.jobs.unfinished_in(board.chat.key, limit=BOARD_LINES)
        locale = shown[0].user.locale if shown else messages.DEFAULT_LOCALE
        if not count:
            return messages.text("board_all_done", locale, count=board.seen), False
        lines = [self._line(job, locale) for job in shown]
        title = messages.text("board_title", locale, count=count)
        return title + "\n" + messages.fit_lines(lines, total=count), True

    def _line(self, job: Job, locale: str) -> str:
        name = job.user.name or job.user.key
        running = self.running.get(job.id)
        if running is not None:
            percent = round(100 * running.step / max(job.params.steps, 1))
            state = messages.text("board_rendering", locale, percent=percent)
        elif job.status == JobStatus.QUEUED:
            state = messages.text("board_waiting", locale, position=self.queue.position(job.id) or "?")
        else:
            state = messages.text("board_sending", locale)
        return f"#{job.id} {name}: {state}"
