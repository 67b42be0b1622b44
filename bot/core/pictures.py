"""Pictures to animate, as the core sees them: the checks' verdict (a port), the face policy,
and where the bot keeps a picture while a job uses it.

The checking itself (Pillow, the face detector, c2pa) lives outside the core, in
`bot.pictures`; the core gets it as a `PictureInspector` and runs it off the event loop, in
a small executor of its own, so a hostile file never holds up chats or renders.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from bot.core.parsing import CommandError
from bot.core.types import Picture

OWN_CREDENTIALS = "videobot"  # Picture.credentials of a still the bot itself signed (and still valid)
PICTURE_CHECK_THREADS = 2  # picture checks at once; more wait their turn, renders never do


class FacePolicy(enum.StrEnum):
    """`[policy] faces`: what the bot does with a picture showing a real person's face."""

    REFUSE = "refuse"
    OWNERS = "owners"  # only the bot's owners may animate them
    ALLOW = "allow"

    @property
    def strictness(self) -> int:
        return {FacePolicy.ALLOW: 0, FacePolicy.OWNERS: 1, FacePolicy.REFUSE: 2}[self]

    def tightened(self, chat: str | None) -> FacePolicy:
        """A chat's admins may only make it stricter than the config's."""
        if not chat:
            return self
        theirs = FacePolicy(chat)
        return theirs if theirs.strictness > self.strictness else self


@dataclass(frozen=True)
class PictureFacts:
    """What the checks found in a picture that passed them (`picture.path` not yet set)."""

    picture: Picture
    faces: int  # faces the detector saw


# Checks untrusted bytes (format, size, dimensions, faces, credentials); raises CommandError
# naming a `picture_*` message for anything it refuses.  Blocking: run it in `PictureGate`.
PictureInspector = Callable[[bytes], PictureFacts]


class PictureGate:
    """Runs picture checks in their own bounded pool and keeps accepted pictures on disk."""

    def __init__(self, inspect: PictureInspector, folder: Path, threads: int = PICTURE_CHECK_THREADS) -> None:
        self.inspect_bytes = inspect
        self.folder = folder
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="picture-check")

    async def inspect(self, data: bytes) -> PictureFacts:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self.inspect_bytes, data)

    def keep(self, data: bytes, facts: PictureFacts) -> Picture:
        """Store the picture (named by its hash: one copy however many jobs use it)."""
        picture = facts.picture
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{picture.sha256}.{picture.format}"
        if not path.exists():
            partial = path.with_name(path.name + ".part")
            partial.write_bytes(data)
            partial.replace(path)
        return replace(picture, path=str(path))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def forget_picture(picture: Picture, still_used: bool) -> None:
    """Delete the bot's copy once no job that keeps its clip uses it."""
    if picture.path and not still_used:
        Path(picture.path).unlink(missing_ok=True)


def forget_unused_pictures(folder: Path, in_use: Callable[[str], bool], older_than: float) -> None:
    """Delete kept pictures no job needs any more (named `<sha256>.<format>`); a fresh one is
    spared, since its job may be a moment from being stored."""
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        try:
            if path.stat().st_mtime < older_than and not in_use(path.name.split(".", 1)[0]):
                path.unlink(missing_ok=True)
        except OSError:
            continue


def check_faces(facts: PictureFacts, policy: FacePolicy, is_owner: bool) -> None:
    """Refuse a picture of a real person's face unless the policy lets this person do it.

    The bot's own credentialed stills pass whatever they show: they are not photographs."""
    if facts.faces == 0 or facts.picture.credentials == OWN_CREDENTIALS:
        return
    if policy == FacePolicy.ALLOW or (policy == FacePolicy.OWNERS and is_owner):
        return
    raise CommandError("picture_face")
