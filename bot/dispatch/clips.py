"""Render one job and encode its MP4: the same code on the bot (`LocalBackend`) and on a
remote `videobot worker`, so a clip is made the same way wherever it renders.

Blocking: run it in a worker thread.  Progress goes to `on_step`, the end of denoising to
`on_encoding`; `should_stop` turning true stops it after the current step (`RenderCancelled`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bot.core.ports import FailureKind, RenderJob
from bot.core.types import Clip
from bot.encode import encode_mp4, provenance_for
from bot.render import ModelMissing, OutOfMemory, RenderCancelled, Renderer, StepCallback


def render_clip(
    renderer: Renderer,
    job: RenderJob,
    path: Path,
    *,
    crf: int,
    hash_prompt: bool,
    on_step: StepCallback,
    should_stop: Callable[[], bool],
    on_encoding: Callable[[], None],
) -> Clip:
    """Frames from `renderer`, then the MP4 at `path` with its provenance metadata."""
    p = job.params
    frames = renderer.render(p, on_step, should_stop)
    on_encoding()
    metadata = provenance_for(p, job.model, prompt_hash_only=hash_prompt)
    clip = encode_mp4(frames, path, fps=p.fps, metadata=metadata, crf=crf)
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
