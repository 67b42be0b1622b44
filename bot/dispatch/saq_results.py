"""What a worker sends back, checked before the bot believes it: the SAQ result (signed with the
workers' key), the uploaded clip (its size and SHA-256, its headers against the job), then the
Content Credentials the bot signs it with.  Everything here is untrusted input."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from saq.job import Job as SaqJob

from bot.core.extend import clip_frames
from bot.core.ports import Cancelled, Failed, FailureKind, Rendered, RenderJob
from bot.dispatch.remote import Untrusted, Uploaded, WorkerKeys, clip_key, open_result
from bot.dispatch.uploads import ClipInbox, file_digest
from bot.domain import Clip, PostKind
from bot.encode import probe_clip, read_tags
from bot.post.clip import made_of, sign_post
from bot.provenance import ContentCredentials
from bot.settings.sections import MAX_SMOOTH_FPS


@dataclass(frozen=True)
class Unusable:
    """A result, meta or upload that cannot be used: the job tries again, a bounded number of times."""

    why: str


# A finished record's verdict; None: no clip came (told it was no longer wanted), look again.
Outcome = Failed | Cancelled | Rendered | Unusable | None


def clip_misfits(clip: Clip, job: RenderJob, parent: Clip | None = None) -> str | None:
    """Why an uploaded clip cannot be this job's (checked from its headers, before anything
    decodes it): more frames, a bigger picture or a longer duration than the job makes — its
    whole output, an extension's parent and a loop's way back included (`clip_frames`).  A post
    step's clip is checked against its `parent` clip (`post_misfits`)."""
    params = job.params
    if params.post is not None:
        if parent is None:
            return "a post step's clip without its parent clip to check it against"
        return post_misfits(clip, params.post.kind, parent)
    expected = clip_frames(params)
    if clip.frames < 1 or clip.frames > expected:
        return f"{clip.frames} frames where the job makes at most {expected}"
    if clip.width > params.width + 16 or clip.height > params.height + 16:  # encoders pad to 16
        return f"{clip.width}x{clip.height} where the job asked for {params.width}x{params.height}"
    if clip.fps < 1 or clip.duration_s > expected / max(params.fps, 1) + 1:
        return f"{clip.duration_s:.1f} s long where the job makes {expected} frames at {params.fps} fps"
    return None


def post_misfits(clip: Clip, kind: PostKind, parent: Clip) -> str | None:
    """Why a clip cannot be `parent` after `kind`: 🎞 multiplies the frames and the fps by one whole
    factor (at least 2, within MAX_SMOOTH_FPS) and keeps the size; 🔍 keeps the frames and the fps
    and doubles the size (encoders pad to 16)."""
    factor, scale = (clip.fps // max(parent.fps, 1), 1) if kind == PostKind.SMOOTH else (1, 2)
    smooth = factor >= 2 and clip.fps == parent.fps * factor and clip.fps <= MAX_SMOOTH_FPS
    if kind == PostKind.SMOOTH and not smooth:
        return f"{clip.fps} fps is no smoothing of a {parent.fps} fps clip"
    if kind == PostKind.HD and clip.fps != parent.fps:
        return f"{clip.fps} fps where HD keeps the clip's {parent.fps}"
    if clip.frames != parent.frames * factor:
        return f"{clip.frames} frames where {kind} of {parent.frames} makes {parent.frames * factor}"
    if not (0 <= clip.width - parent.width * scale <= 16 and 0 <= clip.height - parent.height * scale <= 16):
        wanted = f"{parent.width * scale}x{parent.height * scale}"
        return f"{clip.width}x{clip.height} where {kind} of {parent.width}x{parent.height} makes {wanted}"
    return None


@dataclass(eq=False)
class ResultCheck:
    """Reads finished SAQ records of this run of the bot."""

    keys: WorkerKeys
    run_id: str
    clips_dir: Path
    inbox: ClipInbox
    credentials: ContentCredentials | None = None  # clips are signed here, after the upload checks out

    def names_clip(self, job_id: int, record: SaqJob) -> bool:
        """Whether a finished record carries an authentic result naming this job's clip."""
        try:
            result = open_result(self.keys, record.id, record.result)
        except Untrusted:
            return False
        uploaded = Uploaded.from_result(result)
        return uploaded is not None and uploaded.key == clip_key(job_id, self.run_id)

    async def outcome(self, job: RenderJob, record: SaqJob, *, cancelling: bool) -> Outcome:
        """What a complete record means for `job`, its clip checked and signed when it is one."""
        job_id = job.job_id
        try:
            result = open_result(self.keys, record.id, record.result)
        except Untrusted as error:
            # A second run of the job (SAQ's sweep race) can overwrite the record without the result;
            # what the inbox took from the first upload stands in for it.
            if job_id not in self.inbox.accepted:
                return Unusable(str(error))
            result = {}
        if "failed" in result:
            try:
                kind = FailureKind(result["failed"])
            except ValueError:  # a newer worker's failure kind: still this job's failure only
                kind = FailureKind.INTERNAL
            return Failed(job_id, kind, str(result.get("detail", ""))[:500])
        if result.get("cancelled") and cancelling:
            return Cancelled(job_id)
        uploaded = Uploaded.from_result(result) or self.inbox.accepted.get(job_id)
        if uploaded is None or uploaded.key != clip_key(job_id, self.run_id):
            return None
        path = self.clips_dir / uploaded.key
        held = await asyncio.to_thread(file_digest, path) if path.exists() else None
        if held is None or (held.size, held.sha256) != (uploaded.size, uploaded.sha256):
            return Unusable(f"the clip held does not match what the worker reported ({held})")
        try:
            clip = await asyncio.to_thread(probe_clip, path)
        except Exception as error:  # not an MP4 at all
            return Unusable(f"the upload is not a readable clip ({type(error).__name__})")
        post = job.params.post
        parent = await asyncio.to_thread(probe_clip, Path(post.clip_path)) if post is not None else None
        if (why := clip_misfits(clip, job, parent)) is not None:
            return Unusable(why)
        return Rendered(job_id, await asyncio.to_thread(self._signed, path, job, parent))

    def _signed(self, path: Path, job: RenderJob, parent: Clip | None) -> Clip:
        """Content Credentials go on at the bot (workers need no signing key), naming the identity
        the job carried, as the worker's tags do, and a post step's parent clip (blocking)."""
        if self.credentials is not None:
            clip = probe_clip(path)  # the record states the uploaded file's frames and fps
            post = job.params.post
            if post is not None and parent is not None:
                made = made_of(clip, read_tags(path))
                sign_post(self.credentials, made, post, job.params, job.identity, parent.frames)
            else:
                self.credentials.sign(path, self.credentials.record(job.params, job.identity).of_clip(clip))
        return probe_clip(path)


__all__ = ["Outcome", "ResultCheck", "Unusable", "clip_misfits", "post_misfits"]
