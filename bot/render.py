"""The GPU side's face: what the rest of the bot imports from the `bot.rendering` package, and
the one place a configured model becomes a renderer (`model_renderer`).

`Renderer` owns one model's pipeline (load, warm, render a batch, progress, cancel, out of
memory); `ModelPool` keeps one model resident at a time (or the `[render] keep_loaded` few).
Loading is `bot.rendering.loading`; the `[render]` tuning is `bot.rendering.tuning`.
"""

from __future__ import annotations

from bot.pipelines.spec import ClipIdentity
from bot.rendering.errors import (
    ModelLoadFailed,
    ModelMissing,
    ModelUnavailable,
    OutOfMemory,
    RenderCancelled,
    UnsupportedModel,
)
from bot.rendering.loading import check_weights_on_disk, component_dtypes, load_pipeline
from bot.rendering.pool import ModelPool
from bot.rendering.renderer import BatchStep, Renderer, StepCallback, batch_shape
from bot.rendering.tuning import apply_step_cache, cpu_render_threads
from bot.settings.models import ModelSettings
from bot.settings.sections import RenderConfig

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
    "apply_step_cache",
    "batch_shape",
    "check_weights_on_disk",
    "component_dtypes",
    "cpu_render_threads",
    "load_pipeline",
    "model_renderer",
    "stand_in_identity",
]


def model_renderer(
    settings: ModelSettings, source: str, tuning: RenderConfig
) -> tuple[Renderer, ClipIdentity]:
    """The renderer for a configured model, or for `source` standing in for it (the tiny build of
    its family when its weights are absent), and what its clips say made them."""
    if source == settings.source:
        return Renderer.for_model(settings, tuning), settings.identity
    renderer = Renderer(source, device=settings.device, cpu_threads=settings.cpu_threads, tuning=tuning)
    return renderer, stand_in_identity(renderer)


def stand_in_identity(renderer: Renderer) -> ClipIdentity:
    """A stand-in names itself (`tiny`, its licence), never the model it stands in for."""
    return renderer.preset.identity(renderer.source, renderer.source)
