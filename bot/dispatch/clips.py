"""Render one job and encode its MP4: the same code on the bot (`LocalBackend`) and on a
remote `videobot worker`, so a clip is made the same way wherever it renders.

Blocking: run it in a worker thread.  Progress goes to `on_step`, the end of denoising to
`on_encoding`; `should_stop` turning true stops it after the current step (`RenderCancelled`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bot.config import VideoConfig
from bot.core.ports import FailureKind, RenderJob
from bot.core.types import Clip
from bot.encode import encode_clip
from bot.provenance import ContentCredentials
from bot.render import ModelMissing, OutOfMemory, RenderCancelled, Renderer, StepCallback


def render_clip(
    renderer: Renderer,
    job: RenderJob,
    path: Path,
    *,
    video: VideoConfig,
    credentials: ContentCredentials | None,
    on_step: StepCallback,
    should_stop: Callable[[], bool],
    on_encoding: Callable[[], None],
) -> Clip:
    """Frames from `renderer`, then the MP4 at `path` as `bot.encode` makes every clip (mark,
    tags, and signed when `credentials` are given)."""
    frames = renderer.render(job.params, on_step, should_stop)
    on_encoding()
    clip = encode_clip(frames, path, job.params, model=job.model, video=video, credentials=credentials)
    if should_stop():
        raise RenderCancelled()  # cancelled while encoding: the user was told so
    return clip


def failure_kind(error: Exception) -> FailureKind:
    """What a render error means for the job's owner."""
    if isinstance(error, ModelMissing):
        return FailureKind.MODEL_MISSING
    if isinstance(error, OutOfMemory):
        return FailureKind.OUT_OF_MEMORY
    return FailureKind.INTERNAL
