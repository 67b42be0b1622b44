"""What the bot and its remote workers agree on: queue names, the job's fields in Redis,
and how a clip upload is signed.  Both `saq_backend.py` and `worker.py` import it; it
imports neither SAQ nor aiohttp.

A job in Redis carries only what a render needs (serialisable, no paths on the bot's disk);
the clip comes back over HTTP, signed with an HMAC of the job id under the shared secret
`VIDEOBOT_WORKER_SECRET`; the SAQ result holds only the clip's key, size and SHA-256.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from bot.config import VideoConfig
from bot.core.ports import RenderJob
from bot.core.types import Extension, Picture, RenderParams

RENDER_FUNCTION = "render"
SIGNATURE_HEADER = "X-Videobot-Signature"
# The bot writes this Redis key (a check value derived from the secret, not the secret) so a
# worker started with another secret finds out at once instead of rendering clips nobody takes.
BOT_KEY = "videobot:bot"
# SAQ's abort reason for a /cancel (its sweep aborts with "swept"): the worker stops its render
# when it sees it, even if a progress write of its own raced the abort off the job's record.
CANCEL_REASON = "cancelled"


def queue_name(model: str) -> str:
    """One SAQ queue per model: a worker listens only on the queues of models it has."""
    return f"videobot:{model}"


def job_key(job_id: int, run: str) -> str:
    """The SAQ job key: the bot's job id and the bot's run (ids restart with a fresh database,
    and a job a crashed run left in Redis must not be taken for this run's)."""
    return f"job-{job_id}-{run}"


def clip_key(job_id: int) -> str:
    """Where an upload lands in the bot's clips folder: one file per job, whoever renders it."""
    return f"{job_id}.mp4"


def _sign(secret: str, message: str) -> str:
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def upload_signature(secret: str, job_id: int) -> str:
    return _sign(secret, f"videobot-upload:{job_id}")


def signature_ok(secret: str, job_id: int, signature: str) -> bool:
    return bool(secret) and hmac.compare_digest(upload_signature(secret, job_id), signature)


def secret_check(secret: str) -> str:
    """A value both sides compute from the secret; equal values mean equal secrets."""
    return _sign(secret, "videobot-worker-hello")


@dataclass(frozen=True)
class RemoteJob:
    """A render job as it travels through Redis (the SAQ job's kwargs).

    The bot's `[video]` settings go with it (quality, watermark, prompt hashing), so a clip
    looks the same whichever machine made it; the worker's own `[video]` does not matter.
    """

    job: RenderJob
    upload_url: str  # the bot's endpoint: PUT {upload_url}/clips/{job_id}
    video: VideoConfig

    def to_kwargs(self) -> dict[str, Any]:
        return {
            "job_id": self.job.job_id,
            "model": self.job.model,
            "params": dataclasses.asdict(self.job.params),
            "upload_url": self.upload_url,
            "video": dataclasses.asdict(self.video),
        }

    @classmethod
    def from_kwargs(cls, kwargs: dict[str, Any]) -> RemoteJob:
        fields = dict(kwargs["params"])
        # a picture travels as its record; the worker reads it from `path` (a shared [storage] dir)
        picture = fields.pop("picture", None)
        extends = fields.pop("extends", None)  # the parent clip likewise, by its path
        params = RenderParams(
            **fields,
            picture=Picture(**picture) if picture else None,
            extends=Extension(**extends) if extends else None,
        )
        job = RenderJob(int(kwargs["job_id"]), str(kwargs["model"]), params)
        known = {f.name for f in dataclasses.fields(VideoConfig)}  # a newer bot may send more
        video = VideoConfig(**{k: v for k, v in kwargs.get("video", {}).items() if k in known})
        return cls(job, str(kwargs["upload_url"]), video)


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
        if not isinstance(result, dict) or not {"key", "size", "sha256"} <= result.keys():
            return None
        return cls(str(result["key"]), int(result["size"]), str(result["sha256"]))
