"""The GPU side's face: what the rest of the bot imports from the `bot.rendering` package.

`Renderer` owns one model's pipeline (load, warm, render a batch, progress, cancel, out of
memory); `ModelPool` keeps one model resident at a time (or the `[render] keep_loaded` few).
Loading is `bot.rendering.loading`; the `[render]` tuning is `bot.rendering.tuning`.
"""

from __future__ import annotations

from bot.rendering.errors import (
    ModelLoadFailed,
    ModelMissing,
    ModelUnavailable,
    OutOfMemory,
    RenderCancelled,
    UnsupportedModel,
)
from bot.rendering.loading import _silence_diffusers, check_weights_on_disk, component_dtypes, load_pipeline
from bot.rendering.pool import ModelPool
from bot.rendering.renderer import BatchStep, Renderer, StepCallback, batch_shape
from bot.rendering.tuning import apply_step_cache, cpu_render_threads

__all__ = [
    "BatchStep",
    "ModelLoadFailed",
    "ModelMissing",
    "ModelPool",
    "ModelUnavailable",
    "OutOfMemory",
    "RenderCancelled",
    "Renderer",
    "StepCallback",
    "UnsupportedModel",
    "_silence_diffusers",
    "apply_step_cache",
    "batch_shape",
    "check_weights_on_disk",
    "component_dtypes",
    "cpu_render_threads",
    "load_pipeline",
]
