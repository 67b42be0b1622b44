"""The plain types the core, the store and the pipelines share: who asked, where, for what, and how
it went.  A leaf: it imports nothing of the bot, so no package needs another to name them."""

from __future__ import annotations

import enum
import json
import unicodedata
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import ClassVar


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    ENCODING = "encoding"
    DELIVERING = "delivering"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED)


MAX_NAME_CHARS = 64


def display_name(value: str) -> str:
    """A name fit to show anywhere: control and format characters dropped (bidi overrides,
    zero-width joiners), whitespace collapsed, at most `MAX_NAME_CHARS`."""
    kept = "".join(
        " " if ch.isspace() else ch for ch in value if ch.isspace() or unicodedata.category(ch)[0] != "C"
    )
    return " ".join(kept.split())[:MAX_NAME_CHARS]


@dataclass(frozen=True)
class UserRef:
    """A person on one platform; `key` ("telegram:42") names them everywhere."""

    platform: str
    id: str
    name: str = ""
    locale: str = "en"

    def __post_init__(self) -> None:
        # Display names come from the platforms as people typed them: no bidi overrides or other
        # control and format characters (U+202E reached the public challenge page), and short.
        object.__setattr__(self, "name", display_name(self.name))

    @property
    def key(self) -> str:
        return f"{self.platform}:{self.id}"


@dataclass(frozen=True)
class ChatRef:
    """Where messages go: a Telegram chat, a Discord channel or thread, the console.

    `server` is the Discord server (guild) a channel belongs to: its admins, bans and
    settings cover every channel and thread in it (`scope_key`).
    """

    platform: str
    id: str
    is_group: bool = False
    server: str = ""

    @property
    def key(self) -> str:
        return f"{self.platform}:{self.id}"

    @property
    def scope_key(self) -> str:
        """Where admins' settings and bans for this chat live: its server, or the chat itself."""
        return f"{self.platform}:server:{self.server}" if self.server else self.key


@dataclass(frozen=True)
class Picture:
    """A picture a clip is made from, as the bot stored it (checked, never re-encoded).

    `path` is the bot's own copy (under `[storage] dir`/pictures, named by its SHA-256): it lives
    as long as a job that uses it keeps its clip.  `credentials` is "" (none), "videobot" (the
    bot's own valid Content Credentials) or "other" (someone else's manifest).
    """

    sha256: str
    size_bytes: int
    format: str  # "jpeg", "png", "webp"
    width: int  # upright (EXIF orientation applied)
    height: int
    path: str = ""
    credentials: str = ""

    @property
    def mime(self) -> str:
        return f"image/{self.format}"

    def to_text(self) -> str:
        """The one codec a picture is stored and sent with (a job row, a worker's job)."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_text(cls, text: str | None) -> Picture | None:
        if not text:
            return None
        data = json.loads(text)
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


@dataclass(frozen=True)
class Extension:
    """The clip an extension continues (`bot.core.extend`): its job, its file, its length.

    `frames` is the parent clip's whole length (a chain's, for an extension of an extension);
    the new segment is `RenderParams.frames` long, of which `overlap` re-render the parent's
    last frames and are not repeated: the joined clip has `frames + segment - overlap`.
    """

    parent_id: int
    clip_path: str
    frames: int
    root_id: int  # the chain's first clip

    def to_text(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_text(cls, text: str | None) -> Extension | None:
        if not text:
            return None
        data = json.loads(text)
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


class PostKind(enum.StrEnum):
    """A post step on a finished clip (docs/post.md)."""

    SMOOTH = "smooth"  # 🎞 frame interpolation
    HD = "hd"  # 🔍 ×2 upscaling


@dataclass(frozen=True)
class PostStep:
    """The clip a post step works on (`bot.post`): which step, the clip's job and file.  The new
    clip is made from that file alone: no render, the parent's prompt and seed stay its facts."""

    kind: PostKind
    parent_id: int
    clip_path: str
    loop: bool = False  # the parent loops: smoothing crosses its seam

    def to_text(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_text(cls, text: str | None) -> PostStep | None:
        if not text:
            return None
        data = json.loads(text)
        values = {f.name: data[f.name] for f in fields(cls) if f.name in data}
        return cls(**{**values, "kind": PostKind(values["kind"])})


class ConditioningKind(enum.StrEnum):
    """The kinds of conditioning a family's file declares a mode for (`bot.pipelines.spec.Modes`)."""

    NONE = "none"  # text only
    PICTURE = "picture"  # a picture at frame 0
    CONTINUATION = "continuation"  # the parent clip's last frame(s) at the start
    LOOP = "loop"  # both ends on one frame: the picture's, or the clip's own first


@dataclass(frozen=True)
class TextOnly:
    """Nothing but the prompt."""

    kind: ClassVar[ConditioningKind] = ConditioningKind.NONE


@dataclass(frozen=True)
class FromPicture:
    """Image-to-video: `picture` is the first frame to animate."""

    picture: Picture
    kind: ClassVar[ConditioningKind] = ConditioningKind.PICTURE


@dataclass(frozen=True)
class Continuation:
    """A new segment conditioned on the end of `parent`, delivered joined to it (⏩ Extend).  When
    the chain loops, the segment also ends on the chain's first frame so the joined clip loops."""

    parent: Extension
    loop: bool = False
    kind: ClassVar[ConditioningKind] = ConditioningKind.CONTINUATION


@dataclass(frozen=True)
class Loop:
    """`--loop`: both ends on `picture`, or (None) on the clip's own first frame."""

    picture: Picture | None = None
    kind: ClassVar[ConditioningKind] = ConditioningKind.LOOP


# What a render is conditioned on besides its prompt: one value, whichever it is.
Conditioning = TextOnly | FromPicture | Continuation | Loop
TEXT_ONLY = TextOnly()


def conditioning(
    picture: Picture | None = None, extends: Extension | None = None, loop: bool = False
) -> Conditioning:
    """The one conditioning of a clip from its picture, the clip it continues and `--loop` (the
    jobs table's three columns; an extension's picture is its parent's last frame, so none)."""
    if extends is not None:
        if picture is not None:
            raise ValueError("an extension is conditioned on its parent clip, not a picture")
        return Continuation(extends, loop)
    if loop:
        return Loop(picture)
    return TEXT_ONLY if picture is None else FromPicture(picture)


# `conditioning` as the jobs table and a worker's job hold it (`RenderParams.to_data`).
CONDITIONING_COLUMNS: dict[str, type] = {"picture": str, "extends": str, "loop": bool}


@dataclass(frozen=True)
class RenderParams:
    prompt: str
    negative: str
    seed: int
    frames: int
    steps: int
    guidance: float
    width: int
    height: int
    fps: int
    conditioning: Conditioning = TEXT_ONLY  # a picture, a continuation or a loop (`--loop`)
    silent: bool = False  # deliver without the soundtrack a family with sound makes (--silent)
    post: PostStep | None = None  # 🎞/🔍: a post step on that clip instead of a render
    then_post: str = ""  # post steps queued once this clip is delivered ("smooth,hd"; --smooth/--hd)
    # a prompt writer's rewrite (docs/enhance.md): `prompt` is what the model saw, `prompt_original`
    # what the person typed ("" when they are the same), `prompt_writer` the model that rewrote it
    prompt_original: str = ""
    prompt_writer: str = ""
    aspect: str = ""  # `--aspect 9:16` as asked ("": the model's own size); width × height is its size

    @property
    def picture(self) -> Picture | None:
        """The picture this render animates (its first frame, or a loop's both ends), if any."""
        return self.conditioning.picture if isinstance(self.conditioning, FromPicture | Loop) else None

    @property
    def extends(self) -> Extension | None:
        """The clip this render continues, if any."""
        return self.conditioning.parent if isinstance(self.conditioning, Continuation) else None

    @property
    def loop(self) -> bool:
        """It loops: `--loop`, or the continuation of a clip that loops."""
        return isinstance(self.conditioning, Loop) or (
            isinstance(self.conditioning, Continuation) and self.conditioning.loop
        )

    @property
    def rewritten(self) -> bool:
        return bool(self.prompt_original) and self.prompt_original != self.prompt

    @classmethod
    def data_names(cls) -> tuple[str, ...]:
        """The keys of `to_data`: the plain fields, then the conditioning's columns."""
        return tuple(f.name for f in fields(cls) if f.name != "conditioning") + tuple(CONDITIONING_COLUMNS)

    def to_data(self) -> dict[str, object]:
        """The one codec of a clip's settings: plain values, a job row's columns and a worker's job
        alike (the conditioning as its three columns, the picture, the parent clip and the post
        step as their JSON text)."""
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "conditioning"}
        data["post"] = self.post.to_text() if self.post else None
        data["picture"] = self.picture.to_text() if self.picture else None
        data["extends"] = self.extends.to_text() if self.extends else None
        data["loop"] = self.loop
        return data

    @classmethod
    def from_data(cls, data: Mapping[str, object]) -> RenderParams:
        """`to_data` read back; a row from before a column was added gets its default.  Raises
        KeyError, TypeError or ValueError for anything else (Redis data is untrusted)."""
        known = {f.name: data[f.name] for f in fields(cls) if data.get(f.name) is not None}
        known["silent"] = bool(known.get("silent", False))
        known["negative"] = known.get("negative") or ""
        known["post"] = PostStep.from_text(_text(known.get("post")))
        known["conditioning"] = conditioning(
            Picture.from_text(_text(data.get("picture"))),
            Extension.from_text(_text(data.get("extends"))),
            bool(data.get("loop", False)),
        )
        return cls(**known)  # type: ignore[arg-type]


def _text(value: object) -> str | None:
    """A nested record as JSON text (an older worker's job sent it as a mapping)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dict):
        return json.dumps(value)
    raise TypeError(f"a nested record must be text, not {type(value).__name__}")


@dataclass(frozen=True)
class Request:
    """One command as the core sees it; `reply_to` is the adapter's opaque message ref."""

    user: UserRef
    chat: ChatRef
    reply_to: str | None = None
    is_admin: bool = False
    roles: tuple[str, ...] = ()


@dataclass
class Job:
    id: int
    user: UserRef
    chat: ChatRef
    params: RenderParams
    model: str
    status: JobStatus = JobStatus.QUEUED
    attempts: int = 0
    created_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    reply_to: str | None = None
    status_message: str | None = None
    result_message: str | None = None
    clip_path: str | None = None
    error: str | None = None
    parent_id: int | None = None
    priority: int = 0
    challenge_id: int | None = None
    notice: str | None = None  # a message key still to tell the owner (their platform was not connected)
    delivery_rounds: int = 0  # sending rounds that failed for a passing reason
    next_delivery_at: float | None = None  # when the next round may try
    clip_frames: int | None = None  # the delivered file's own frames and fps (an extension or a loop
    clip_fps: int | None = None  # is not the length it asked for); None until it is rendered


class Undeliverable(Exception):
    """The platform says this chat can never receive the message (bot removed, chat gone)."""


class ClipTooLarge(Exception):
    """No re-encode makes the clip fit the platform's upload limit."""


class ButtonAction(enum.StrEnum):
    """What a button under a clip does; adapters put the value in their callback data."""

    REROLL = "reroll"
    VARIATION = "variation"
    INFO = "info"
    DELETE = "delete"
    VOTE = "vote"
    EXTEND = "extend"
    SMOOTH = "smooth"
    HD = "hd"
    # under a rewritten prompt (docs/enhance.md); the id they carry is the draft's, not a job's
    RENDER = "render"
    MINE = "mine"
    AGAIN = "again"


RESULT_ACTIONS = (ButtonAction.REROLL, ButtonAction.VARIATION, ButtonAction.INFO, ButtonAction.DELETE)
DRAFT_ACTIONS = (ButtonAction.RENDER, ButtonAction.MINE, ButtonAction.AGAIN)


@dataclass
class Draft:
    """A rewritten prompt shown before its render (`/video … --enhance`): nothing is queued or
    charged until ▶ Render or ✏️ Use mine; a row, so its buttons work after a restart."""

    id: int
    user: UserRef
    chat: ChatRef
    args: str  # what the person typed, as `VideoArgs` JSON (`bot.core.enhancing` reads it)
    rewrite: str  # the writer's paragraph; the typed prompt when the writer could not write one
    writer: str  # the model that wrote it; "" when it could not
    created_at: float
    reply_to: str | None = None
    message: str | None = None  # the message with the buttons
    attempts: int = 1  # 🔁 Again samples the writer anew
    used: bool = False  # rendered (either text): its buttons are gone


@dataclass(frozen=True)
class Button:
    """A button under a result; adapters encode (action, job_id) in callback data."""

    action: ButtonAction
    job_id: int
    label: str


@dataclass(frozen=True)
class Clip:
    """An encoded MP4 on disk and the facts platforms want with an upload."""

    path: str
    size_bytes: int
    width: int
    height: int
    frames: int
    fps: int

    @property
    def duration_s(self) -> float:
        return self.frames / self.fps


@dataclass(frozen=True)
class Delivery:
    """Everything an adapter needs to post one finished clip, in one value."""

    job: Job
    clip: Clip
    caption: str
    buttons: tuple[Button, ...]
    model: str = ""  # the model as users see it ("wan (Wan-AI/…)"); the job's name when empty

    @property
    def chat(self) -> ChatRef:
        return self.job.chat

    @property
    def user(self) -> UserRef:
        return self.job.user

    @property
    def reply_to(self) -> str | None:
        return self.job.reply_to

    @property
    def status_message(self) -> str | None:
        return self.job.status_message

    @property
    def is_challenge_entry(self) -> bool:
        return self.job.challenge_id is not None


class ChallengeStatus(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Challenge:
    """A prompt challenge in one chat: a theme, entries rendered by the bot, votes."""

    id: int
    chat: ChatRef
    theme: str
    created_by: str
    started_at: float
    deadline: float
    max_entries_per_user: int
    required_words: tuple[str, ...]
    free_entries: bool
    status: ChallengeStatus = ChallengeStatus.OPEN
    announcement: str | None = None
    entries_chat: ChatRef | None = None

    @property
    def where_entries_go(self) -> ChatRef:
        return self.entries_chat or self.chat


@dataclass(frozen=True)
class Standing:
    """One entry's place in a challenge."""

    job_id: int
    user: UserRef
    votes: int
    result_message: str | None
    chat: ChatRef


@dataclass(frozen=True)
class LeaderboardRow:
    user_key: str
    name: str
    wins: int
    votes: int


class QuotaExceeded(Exception):
    """The user hit a limit: "rate", "daily", "queued" or "full" (everyone's); `retry_after` for "rate"."""

    def __init__(self, limit: str, used: int, allowed: int, retry_after: float = 0.0) -> None:
        super().__init__(limit)
        self.limit = limit
        self.used = used
        self.allowed = allowed
        self.retry_after = retry_after


@dataclass(frozen=True)
class QuotaCharge:
    """What admitting one job costs a user, and where, so a refund undoes exactly that.

    The rate limit is GCRA: one request every `60 / per_minute` seconds on average,
    with up to `burst` at once.  Its whole state is one "theoretical arrival time".
    """

    user_key: str
    day: str
    daily_limit: int
    max_queued: int
    per_minute: float = 60.0
    burst: int = 1_000_000
    now: float = 0.0
    max_total: int = 1_000_000  # everyone's waiting jobs together
    counts_daily: bool = True  # False for a free challenge entry: every other limit still holds


@dataclass(frozen=True)
class ChatSettings:
    """Per-chat limits admins set; None means "the config's value"."""

    max_frames: int | None = None
    max_steps: int | None = None
    daily: int | None = None
    challenges: bool = True
    enabled: bool = True
    gallery: bool = False  # shown on the web side's public pages (groups only; off unless admins say)
    models: tuple[str, ...] = ()  # models `--model` may pick here; () means every configured one
    faces: str | None = None  # admins' tighter `[policy] faces` here ("refuse", "owners"); None: the config's


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: float
    chat: str
    actor: str
    action: str
    target: str
    detail: str
