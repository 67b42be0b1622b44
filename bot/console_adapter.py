"""The terminal as a chat: type `/video a cat surfing`, watch progress, get the MP4 path.

It needs no tokens, so a new user can try the whole bot in a minute, and it keeps the
core honest: a third platform with no Discord or Telegram in sight.
"""

from __future__ import annotations

import asyncio
import getpass
import itertools
import os
import re
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from bot.core import menu, messages
from bot.core.credentials import Upload
from bot.core.service import VideoService
from bot.core.types import Button, ChatRef, Delivery, Request, UserRef

PLATFORM = "console"
CHAT = ChatRef(PLATFORM, "terminal")
PROMPT_HINT = (
    "Type /video <prompt> (or "
    + ", ".join(f"/{c.name}" for c in menu.COMMANDS if c.name != "video")
    + ", /quit)."
)


class ConsoleOutbox:
    """Prints what a chat would show.  Message refs are just counters."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self._ids = itertools.count(1)

    def _print(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def upload_limit(self, chat: ChatRef) -> int:
        return 2**40

    async def send_text(
        self,
        chat: ChatRef,
        text: str,
        *,
        reply_to: str | None = None,
        private: bool = False,
        user: UserRef | None = None,
    ) -> str | None:
        self._print(text)
        return str(next(self._ids))

    async def edit_text(self, chat: ChatRef, message: str, text: str) -> None:
        self._print(f"  {text}")

    async def send_video(self, delivery: Delivery) -> str:
        self._print(f"🎞 clip ready: {delivery.clip.path}\n{delivery.caption}")
        return str(next(self._ids))

    async def delete(self, chat: ChatRef, message: str) -> None:
        self._print("  (deleted)")

    async def show_activity(self, chat: ChatRef) -> None:
        return None

    async def edit_buttons(self, chat: ChatRef, message: str, buttons: Sequence[Button]) -> None:
        self._print("  " + " ".join(f"[{b.label}]" for b in buttons))

    async def open_thread(self, chat: ChatRef, message: str, name: str) -> ChatRef | None:
        return None


def console_user() -> UserRef:
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = "you"
    return UserRef(PLATFORM, name, name, messages.normalise_locale(os.environ.get("LANG")))


async def _read_lines(stream: TextIO) -> asyncio.Queue[str | None]:
    """Lines from `stream` on an asyncio queue; None at end of input.  Works for pipes, ptys, files."""
    lines: asyncio.Queue[str | None] = asyncio.Queue()
    loop = asyncio.get_running_loop()

    def pump() -> None:
        for line in stream:
            loop.call_soon_threadsafe(lines.put_nowait, line)
        loop.call_soon_threadsafe(lines.put_nowait, None)

    threading.Thread(target=pump, name="console-input", daemon=True).start()
    return lines


IMAGE_OPTION = re.compile(r"(?:^|\s)--image(?:=|\s+)(\S+)")


def take_image(argument: str) -> tuple[str, Upload | None]:
    """`/video steam rises --image photo.jpg --seed 5`: the picture is a file on this machine."""
    found = IMAGE_OPTION.search(argument)
    if found is None:
        return argument, None
    path = Path(found.group(1)).expanduser()
    rest = " ".join((argument[: found.start()] + " " + argument[found.end() :]).split())

    async def fetch() -> bytes:
        return await asyncio.to_thread(path.read_bytes)

    size = path.stat().st_size if path.is_file() else 0
    return rest, Upload(size, fetch)


async def dispatch(service: VideoService, req: Request, line: str) -> bool:
    """Run one typed command; False when the user asked to quit."""
    command, _, argument = line.strip().partition(" ")
    command = command.lower()
    argument = argument.strip()
    if command in ("/quit", "/exit"):
        return False
    if command == "/video":
        argument, picture = take_image(argument)
        await service.video_text(req, argument, picture=picture)
    elif command == "/extend":
        await service.extend_text(req, argument)
    elif command == "/cancel":
        await service.cancel(req, argument or None)
    elif command == "/queue":
        await service.queue_status(req)
    elif command == "/quota":
        await service.quota(req)
    elif command == "/info":
        await service.info(req, argument or None)
    elif command == "/models":
        await service.list_models(req)
    elif command in ("/help", "/start"):
        await service.help(req)
    elif command == "/challenge":
        await service.challenge(req, argument)
    elif command == "/leaderboard":
        await service.leaderboard(req)
    elif command == "/admin":
        await service.admin(req, argument)
    elif command:
        await service.reply(req, messages.text("unknown_command", req.user.locale))
    return True


def _has_unfinished_jobs(service: VideoService, user: UserRef) -> bool:
    return any(not job.status.finished for job in service.recent_jobs(user, 50))


async def run_console(service: VideoService, outbox: ConsoleOutbox, stdin: TextIO | None = None) -> None:
    """Read commands until /quit; at end of input, wait for this user's jobs, then return."""
    await service.platform_ready(PLATFORM)
    user = console_user()
    print(PROMPT_HINT, file=outbox.out, flush=True)
    lines = await _read_lines(stdin or sys.stdin)
    while True:
        line = await lines.get()
        if line is None:
            break
        if not await dispatch(service, Request(user, CHAT, is_admin=True), line):
            return
    while _has_unfinished_jobs(service, user):
        await service.job_finished.wait()
        service.job_finished.clear()
