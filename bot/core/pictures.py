"""Pictures to animate, as the core sees them: the checks' verdict (a port), the face policy,
and where the bot keeps a picture while a job uses it.

The checking itself (Pillow, the face detector, c2pa) lives outside the core, in
`bot.pictures`; the core gets it as a `PictureInspector` and runs it off the event loop in the
pool for files people send (`UntrustedChecks`, with `/verify`): a bounded backlog, a pace per
person and a time limit, so a hostile file never holds up chats, renders or anyone else's check.
"""

from __future__ import annotations

import enum
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from bot.core.parsing import CommandError
from bot.domain import Picture

OWN_CREDENTIALS = "videobot"  # Picture.credentials of a still the bot itself signed (and still valid)
Size = tuple[int, int]  # width, height of the picture a model receives


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


# Checks untrusted bytes (format, size, dimensions, credentials) and counts the faces in what
# each model would be given (the crop at each size, turned every way); raises CommandError naming
# a `picture_*` message for anything it refuses.  Blocking: run it through `UntrustedChecks`.
PictureInspector = Callable[[bytes, Sequence[Size]], PictureFacts]


@dataclass(frozen=True)
class Kept:
    """A picture on disk for a job; `new` when this job's admission wrote it (and so may undo it)."""

    picture: Picture
    new: bool

    def undo(self) -> None:
        if self.new and self.picture.path:
            Path(self.picture.path).unlink(missing_ok=True)


REMEMBERED = 4096  # verdicts kept (a few hundred bytes each): the pictures of every job waiting


class PictureGate:
    """The picture checks, and where accepted pictures are kept.

    What the checks found is remembered by the picture's SHA-256 and the model sizes looked at
    (the same bytes give the same faces), so a kept picture used again — a reroll, or its job
    starting to render — costs a hash of the file, not the detector's dozens of looks; the face
    policy is applied to the remembered count as the policy stands at that moment."""

    def __init__(self, inspect: PictureInspector, folder: Path) -> None:
        self.inspect = inspect
        self.folder = folder
        self._seen: OrderedDict[tuple[str, tuple[Size, ...]], PictureFacts] = OrderedDict()
        self._lock = threading.Lock()

    def check(self, data: bytes, sizes: Sequence[Size]) -> PictureFacts:
        """Check untrusted bytes (blocking), and remember what was found."""
        facts = self.inspect(data, sizes)
        with self._lock:
            self._seen[(facts.picture.sha256, tuple(sizes))] = facts
            while len(self._seen) > REMEMBERED:
                self._seen.popitem(last=False)
        return facts

    def remembered(self, picture: Picture, sizes: Sequence[Size]) -> PictureFacts | None:
        """What an earlier check found in the file kept for `picture`, if that file is unchanged
        (its SHA-256, read now) and was looked at for these sizes (blocking: reads the file)."""
        return self._lookup(self._read(picture), sizes)

    def inspect_stored(self, picture: Picture, sizes: Sequence[Size]) -> PictureFacts:
        """A kept picture checked again, for a new use of it (blocking); remembered if unchanged."""
        data = self._read(picture)
        return self._lookup(data, sizes) or self.check(data, sizes)

    def _lookup(self, data: bytes, sizes: Sequence[Size]) -> PictureFacts | None:
        key = (hashlib.sha256(data).hexdigest(), tuple(sizes))
        with self._lock:
            facts = self._seen.get(key)
            if facts is not None:
                self._seen.move_to_end(key)
        return facts

    @staticmethod
    def _read(picture: Picture) -> bytes:
        try:
            data = Path(picture.path).read_bytes() if picture.path else b""
        except OSError:
            data = b""
        if not data:
            raise CommandError("picture_gone")
        return data

    def keep(self, data: bytes, facts: PictureFacts) -> Kept:
        """Store the picture (named by its hash: one copy however many jobs use it)."""
        picture = facts.picture
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{picture.sha256}.{picture.format}"
        new = not path.exists()
        if new:
            partial = path.with_name(path.name + ".part")
            partial.write_bytes(data)
            partial.replace(path)
        return Kept(replace(picture, path=str(path)), new)


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


def check_faces(facts: PictureFacts, policy: FacePolicy, is_owner: bool) -> bool:
    """Refuse a picture of a real person's face unless the policy lets this person do it; True
    when a real face is let through (the caller audits it).

    The bot's own credentialed stills pass whatever they show: they are not photographs."""
    if facts.faces == 0 or facts.picture.credentials == OWN_CREDENTIALS:
        return False
    if policy == FacePolicy.ALLOW or (policy == FacePolicy.OWNERS and is_owner):
        return True
    raise CommandError("picture_face")
