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
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from bot.core import menu, messages
from bot.core.credentials import Upload
from bot.core.parsing import CommandError
from bot.core.service import VideoService
from bot.domain import Button, ChatRef, Delivery, Request, UserRef
from bot.settings.root import Config

PLATFORM = "console"
CHAT = ChatRef(PLATFORM, "terminal")
# With `console --web` the terminal is a group whose owner turned the gallery on, so its clips
# reach the web side's public pages (a private chat never does).
WEB_CHAT = ChatRef(PLATFORM, "terminal", is_group=True)
PROMPT_HINT = (
    "Type /video <prompt> (or "
    + ", ".join(f"/{c.name}" for c in menu.COMMANDS if c.name != "video")
    + ", /quit)."
)


class ConsoleOutbox:
    """Prints what a chat would show.  Message refs are just counters.

    On a terminal an edit redraws its line (the progress bar stays one line); in a pipe or a
    file each edit is a line of its own."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self._ids = itertools.count(1)
        self._redraw = out.isatty()
        self._on_edit_line = False  # the cursor sits at the end of a line an edit may redraw
        self._said: set[str] = set()  # done lines printed with their clip, not again after it
        # (kind, text) last shown: a chat edits the status message AND answers with the same words
        # (/cancel), which a terminal would print twice
        self._last: tuple[str, str] = ("", "")

    def _print(self, text: str) -> None:
        if self._on_edit_line:
            self.out.write("\n")
            self._on_edit_line = False
        print(text, file=self.out, flush=True)

    def _repeats(self, kind: str, text: str) -> bool:
        """Whether `text` was just shown by the other kind of call (an edit, then a reply)."""
        last_kind, last_text = self._last
        self._last = (kind, text)
        return text == last_text and kind != last_kind

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
        if not self._repeats("send", text):
            self._print(text)
        return str(next(self._ids))

    async def edit_text(self, chat: ChatRef, message: str, text: str) -> None:
        if text in self._said:
            self._said.discard(text)
            return
        if self._repeats("edit", text):
            return
        if not self._redraw:
            self._print(f"  {text}")
            return
        self.out.write(f"\r\033[K  {text}")  # back to the line's start, clear it, redraw
        self.out.flush()
        self._on_edit_line = True

    async def send_video(self, delivery: Delivery) -> str:
        # Chats edit "done" into the status message above the clip; a terminal reads top to
        # bottom, so it says so before the clip, and skips that edit when it comes.
        done = messages.text("done_status", delivery.job.user.locale, job=delivery.job.id)
        self._said.add(done)
        self._print(f"{done}\n🎞 clip ready: {delivery.clip.path}\n{delivery.caption}")
        return str(next(self._ids))

    async def delete(self, chat: ChatRef, message: str) -> None:
        self._print("  (deleted)")

    async def show_activity(self, chat: ChatRef) -> None:
        return None

    async def edit_buttons(self, chat: ChatRef, message: str, buttons: Sequence[Button]) -> None:
        self._print("  " + " ".join(f"[{b.label}]" for b in buttons))

    async def open_thread(self, chat: ChatRef, message: str, name: str) -> ChatRef | None:
        return None


def console_config(config: Config, *, web: bool = False) -> Config:
    """The settings the console runs with: its only user is one of the bot's owners (the README
    calls them the admin), and no chat rate limit stops them; the queue caps still hold.
    `web`: the web side is served too."""
    user = console_user()
    owners = config.admin.owners if user.key in config.admin.owners else (*config.admin.owners, user.key)
    quota = replace(
        config.quota, per_minute=max(config.quota.per_minute, 1_000.0), burst=max(config.quota.burst, 1_000)
    )
    config = replace(config, admin=replace(config.admin, owners=owners), quota=quota)
    return replace(config, web=replace(config.web, enabled=True)) if web else config


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
    path = Path(found.group(1).strip("'\"")).expanduser()
    if not path.is_file():  # one sentence, before anything is charged or read
        raise CommandError("picture_no_file", path=messages.echo(str(path)))
    rest = " ".join((argument[: found.start()] + " " + argument[found.end() :]).split())

    async def fetch() -> bytes:
        return await asyncio.to_thread(path.read_bytes)

    return rest, Upload(path.stat().st_size, fetch)


async def dispatch(service: VideoService, req: Request, line: str) -> bool:
    """Run one typed command; False when the user asked to quit."""
    command, _, argument = line.strip().partition(" ")
    command = command.lower()
    argument = argument.strip()
    if command in ("/quit", "/exit"):
        return False
    if command == "/video":
        try:
            argument, picture = take_image(argument)
        except CommandError as error:
            await service.reply(req, messages.text(error.key, req.user.locale, **error.values))
        else:
            await service.video_text(req, argument, picture=picture)
    elif command in ("/render", "/mine", "/again"):  # the buttons under a rewrite (docs/enhance.md)
        await service.draft_button(req, command.lstrip("/"), argument or None)
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
    elif command == "/verify":
        try:
            upload = _file_upload(argument)
        except CommandError as error:
            await service.reply(req, messages.text(error.key, req.user.locale, **error.values))
        else:
            await service.verify(req, upload)
    elif command == "/models":
        await service.list_models(req)
    elif command in ("/help", "/start"):
        await service.help(req)
    elif command == "/challenge":
        await service.challenge(req, argument)
    elif command == "/leaderboard":
        await service.challenge.leaderboard(req)
    elif command == "/admin":
        await service.admin(req, argument)
    elif command:
        await service.reply(req, messages.text("unknown_command", req.user.locale))
    return True


def _file_upload(argument: str) -> Upload:
    """`/verify clip.mp4`: the file as an upload; a path that is no file is one sentence."""
    if not argument:
        raise CommandError("verify_how_console")
    path = Path(argument.strip().strip("'\"")).expanduser()
    if not path.is_file():
        raise CommandError("verify_no_file", path=messages.echo(str(path)))
    size = path.stat().st_size

    async def fetch() -> bytes:
        return await asyncio.to_thread(path.read_bytes)

    return Upload(size, fetch)


def _has_unfinished_jobs(service: VideoService, user: UserRef) -> bool:
    return any(not job.status.finished for job in service.recent_jobs(user, 50))


async def run_console(
    service: VideoService, outbox: ConsoleOutbox, stdin: TextIO | None = None, *, web: bool = False
) -> None:
    """Read commands until /quit; at end of input, wait for this user's jobs, then return."""
    await service.platform_ready(PLATFORM)
    user = console_user()
    chat = CHAT
    if web:
        chat = WEB_CHAT
        settings = service.store.chats.get(chat.scope_key)
        service.store.chats.save(chat.scope_key, replace(settings, gallery=True))
    print(PROMPT_HINT, file=outbox.out, flush=True)
    lines = await _read_lines(stdin or sys.stdin)
    while True:
        line = await lines.get()
        if line is None:
            break
        if not await dispatch(service, Request(user, chat, is_admin=True), line):
            return
    while _has_unfinished_jobs(service, user):
        await service.job_finished.wait()
        service.job_finished.clear()
