"""What the bot and its remote workers agree on: queue names, the job's fields in Redis,
and how jobs, results and clip uploads are authenticated.  Both `saq_backend.py` and
`worker.py` import it; it imports neither SAQ nor aiohttp.

Redis is not trusted.  Everything that crosses it is bound to the shared secret
`VIDEOBOT_WORKER_SECRET` through keys stretched from it with scrypt (so a value seen in
Redis does not let anyone test guesses of the secret cheaply):

- a job travels sealed (AES-GCM): a Redis reader sees no prompt, a Redis writer cannot make
  a job a worker will render;
- a worker's result carries a MAC over the run, the SAQ key and the result;
- a prompt rewrite travels sealed both ways (`seal`/`unseal`): the prompt and the rewrite are
  not readable in Redis, and a rewrite nobody with the secret wrote is not taken;
- a clip upload carries a one-use credential for one run, job and attempt, bound to the
  body's SHA-256 and an expiry; the worker sends it only to the URL in its own config, or to
  the one the bot registered in Redis under a MAC.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bot.core.ports import RenderJob
from bot.domain import RenderParams
from bot.pipelines.spec import ClipIdentity
from bot.settings.sections import VideoConfig

RENDER_FUNCTION = "render"
REWRITE_FUNCTION = "rewrite"
# Prompt rewrites have a queue of their own: they never wait behind a render (issue #36)
WRITER_QUEUE = "videobot:writer"
MAX_SEALED_BYTES = 64 * 1024  # a rewrite job or result larger than this is not opened
SIGNATURE_HEADER = "X-Videobot-Signature"  # holds an `UploadGrant` token
# The bot's registration in Redis: its run, its upload URL and a MAC over both, so a worker
# started with another secret finds out at once, and nobody without the secret can redirect uploads.
BOT_KEY = "videobot:bot"
# SAQ's abort reason for a /cancel (its sweep aborts with "swept"): the worker stops its render
# when it sees it, even if a progress write of its own raced the abort off the job's record.
CANCEL_REASON = "cancelled"
MAX_JOB_ID_DIGITS = 18  # a job id longer than this is refused before it becomes an int
_SALT = b"videobot-worker-keys-v1"


class Untrusted(ValueError):
    """Something read from Redis or the upload port did not authenticate or parse."""


@dataclass(frozen=True)
class WorkerKeys:
    """Keys stretched from the worker secret: one seals jobs, one makes MACs."""

    seal: bytes
    mac: bytes

    @classmethod
    @functools.lru_cache(maxsize=4)
    def of(cls, secret: str) -> WorkerKeys:
        # scrypt (~0.1 s, 32 MiB) once per process: each offline guess costs the same.
        stretched = hashlib.scrypt(
            secret.encode(), salt=_SALT, n=2**15, r=8, p=1, maxmem=64 * 1024 * 1024, dklen=64
        )
        return cls(stretched[:32], stretched[32:])

    def sign(self, *parts: object) -> str:
        message = "\x1f".join(str(part) for part in parts).encode()
        return hmac.new(self.mac, message, hashlib.sha256).hexdigest()

    def signed(self, signature: str, *parts: object) -> bool:
        return hmac.compare_digest(self.sign(*parts), signature)


def queue_name(model: str) -> str:
    """One SAQ queue per model: a worker listens only on the queues of models it has."""
    return f"videobot:{model}"


def job_key(job_id: int, run: str) -> str:
    """The SAQ job key: the bot's job id and the bot's run (ids restart with a fresh database,
    and a job a crashed run left in Redis must not be taken for this run's)."""
    return f"job-{job_id}-{run}"


def clip_key(job_id: int, run: str) -> str:
    """Where an upload lands in the bot's clips folder: the job id *and* the bot's run, since
    job ids restart with a fresh database and a kept clips folder must never answer for them."""
    return f"{job_id}-{run}.mp4"


def parse_job_id(raw: str) -> int | None:
    """A job id typed or sent by someone: digits only and short (Python refuses > 4,300 digits)."""
    raw = raw.strip().lstrip("#")
    if not (raw.isascii() and raw.isdigit()) or len(raw) > MAX_JOB_ID_DIGITS:
        return None
    return int(raw)


def registration(keys: WorkerKeys, run: str, upload_url: str) -> dict[str, str]:
    """What the bot writes under `BOT_KEY`."""
    return {"run": run, "upload_url": upload_url, "mac": keys.sign("bot", run, upload_url)}


def registered_url(keys: WorkerKeys, fields: dict[str, str]) -> str:
    """The upload URL the bot registered, if its MAC holds; `Untrusted` otherwise."""
    run, url, mac = fields.get("run", ""), fields.get("upload_url", ""), fields.get("mac", "")
    if not (run and url and keys.signed(mac, "bot", run, url)):
        raise Untrusted("the bot's registration in Redis does not carry this secret's MAC")
    return url


@dataclass(frozen=True)
class UploadGrant:
    """A worker's credential for one upload: one run, job and attempt, one body, until `expires`."""

    run: str
    job_id: int
    attempt: int
    sha256: str
    expires: int  # Unix time
    nonce: str = dataclasses.field(default_factory=lambda: os.urandom(8).hex())  # every grant is new

    def token(self, keys: WorkerKeys) -> str:
        fields = (self.run, self.job_id, self.attempt, self.sha256, self.expires, self.nonce)
        return ":".join(str(f) for f in fields) + ":" + keys.sign("upload", *fields)

    @classmethod
    def parse(cls, keys: WorkerKeys, token: str) -> UploadGrant | None:
        """The grant in a header, or None if it is malformed or its MAC does not hold."""
        parts = token.split(":")
        if len(parts) != 7 or len(token) > 300:
            return None
        run, job, attempt, sha256, expires, nonce, mac = parts
        if not all(
            p.isascii() and p.isdigit() and len(p) <= MAX_JOB_ID_DIGITS for p in (job, attempt, expires)
        ):
            return None
        if not keys.signed(mac, "upload", run, job, attempt, sha256, expires, nonce):
            return None
        return cls(run, int(job), int(attempt), sha256, int(expires), nonce)


def seal_result(keys: WorkerKeys, saq_key: str, result: dict[str, Any]) -> dict[str, Any]:
    """The worker's SAQ result with a MAC over the job's key and the result."""
    body = json.dumps(result, sort_keys=True, separators=(",", ":"))
    return {**result, "mac": keys.sign("result", saq_key, body)}


def open_result(keys: WorkerKeys, saq_key: str, result: Any) -> dict[str, Any]:
    """A result a worker holding the secret wrote for this job; `Untrusted` otherwise."""
    if not isinstance(result, dict) or not isinstance(result.get("mac"), str):
        raise Untrusted(f"a result without a MAC: {str(result)[:80]!r}")
    rest = {k: v for k, v in result.items() if k != "mac"}
    body = json.dumps(rest, sort_keys=True, separators=(",", ":"))
    if not keys.signed(result["mac"], "result", saq_key, body):
        raise Untrusted("a result whose MAC does not hold")
    return rest


def seal(keys: WorkerKeys, purpose: str, saq_key: str, payload: dict[str, Any]) -> str:
    """`payload` encrypted and bound to what it is for (`purpose`) and to its SAQ job's key."""
    nonce = os.urandom(12)
    aad = f"{purpose}:{saq_key}".encode()
    return base64.b64encode(
        nonce + AESGCM(keys.seal).encrypt(nonce, json.dumps(payload).encode(), aad)
    ).decode()


def unseal(keys: WorkerKeys, purpose: str, saq_key: str, sealed: Any) -> dict[str, Any]:
    """What `seal` sealed for this purpose and job; `Untrusted` for anything else."""
    if not isinstance(sealed, str) or len(sealed) > MAX_SEALED_BYTES:
        raise Untrusted(f"a {purpose} that is not a sealed text of at most {MAX_SEALED_BYTES} bytes")
    try:
        blob = base64.b64decode(sealed, validate=True)
        opened = AESGCM(keys.seal).decrypt(blob[:12], blob[12:], f"{purpose}:{saq_key}".encode())
        payload = json.loads(opened)
    except (InvalidTag, TypeError, ValueError) as error:
        raise Untrusted(f"a {purpose} the other side did not seal ({type(error).__name__})") from error
    if not isinstance(payload, dict):
        raise Untrusted(f"a {purpose} that is not a record")
    return payload


@dataclass(frozen=True)
class RemoteJob:
    """A render job as it travels through Redis (the SAQ job's kwargs), sealed.

    The bot's `[video]` settings go with it (quality, watermark, prompt hashing), and the job's
    model identity, so a clip looks and reads the same whichever machine made it; the worker's
    own `[video]` and model settings do not matter to its tags.
    No upload URL travels with it: a worker sends clips only where its own config says.
    """

    job: RenderJob
    run: str  # the bot's run: part of the SAQ key, the clip's name and the upload grant
    video: VideoConfig
    parent_sha256: str = ""  # a post step's parent clip as the bot holds it: the worker reads only that

    def to_kwargs(self, keys: WorkerKeys, saq_key: str) -> dict[str, Any]:
        payload = {
            "run": self.run,
            "job_id": self.job.job_id,
            "model": self.job.model,
            "params": self.job.params.to_data(),
            "identity": self.job.identity.as_data(),
            "video": dataclasses.asdict(self.video),
            "parent_sha256": self.parent_sha256,
        }
        nonce = os.urandom(12)
        sealed = AESGCM(keys.seal).encrypt(nonce, json.dumps(payload).encode(), saq_key.encode())
        # only the job id is readable in Redis (for logs); the prompt is not
        return {"job_id": self.job.job_id, "sealed": base64.b64encode(nonce + sealed).decode()}

    @classmethod
    def from_kwargs(cls, keys: WorkerKeys, saq_key: str, kwargs: dict[str, Any]) -> RemoteJob:
        """The job the bot sealed under this SAQ key; `Untrusted` for anything else."""
        try:
            blob = base64.b64decode(str(kwargs["sealed"]), validate=True)
            opened = AESGCM(keys.seal).decrypt(blob[:12], blob[12:], saq_key.encode())
            payload = json.loads(opened)
            # a picture travels as its record; the worker reads it from `path` (a shared [storage] dir),
            # and the parent clip of an extension likewise
            params = RenderParams.from_data(payload["params"])
            identity = ClipIdentity.from_data(payload["identity"])
            job = RenderJob(int(payload["job_id"]), str(payload["model"]), params, identity)
            known = {f.name for f in dataclasses.fields(VideoConfig)}  # a newer bot may send more
            video = VideoConfig(**{k: v for k, v in payload.get("video", {}).items() if k in known})
            return cls(job, str(payload["run"]), video, str(payload.get("parent_sha256", "")))
        except (InvalidTag, KeyError, TypeError, ValueError) as error:
            raise Untrusted(f"a job the bot did not seal ({type(error).__name__})") from error


@dataclass(frozen=True)
class Uploaded:
    """The SAQ job's result: which clip the bot holds, and its size and hash to check it by."""

    key: str
    size: int
    sha256: str

    def to_result(self) -> dict[str, Any]:
        return {"key": self.key, "size": self.size, "sha256": self.sha256}

    @classmethod
    def from_result(cls, result: Any) -> Uploaded | None:
        """The clip a result names, or None if it names none (or nothing sensible)."""
        if not isinstance(result, dict) or not {"key", "size", "sha256"} <= result.keys():
            return None
        size = result["size"]
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            return None
        return cls(str(result["key"]), size, str(result["sha256"]))
