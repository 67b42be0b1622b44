"""How a render reports each finished denoising step and stops: through the pipeline's step hook.

ModelScope's deprecated `TextToVideoSDPipeline` only has the legacy
`callback(step, timestep, latents)`; Wan, LTX and CogVideoX have `callback_on_step_end`, whose
`interrupt` flag would still run the VAE decode, so we raise from the hook instead.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from bot.pipelines.spec import StepHook
from bot.rendering.errors import RenderCancelled

StepCallback = Callable[[int, int], None]
BatchStep = Callable[[int, int, int], None]  # (index in the batch, step, total)


def step_hooks(
    pipe: Any, hook: StepHook, steps: int, report: StepCallback, stop: Callable[[], bool]
) -> dict[str, Any]:
    """The family's hook; raising from it stops at once (no VAE decode of a cancelled clip)."""
    parameters = inspect.signature(pipe.__call__).parameters
    wants_new = hook == StepHook.ON_STEP_END or "callback" not in parameters
    if wants_new and "callback_on_step_end" in parameters:

        def on_step_end(pipe: Any, step: int, timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
            report(step + 1, steps)
            if stop():
                raise RenderCancelled()
            return {}

        return {"callback_on_step_end": on_step_end}

    def legacy_callback(step: int, timestep: Any, latents: Any) -> None:
        report(step + 1, steps)
        if stop():
            raise RenderCancelled()

    return {"callback": legacy_callback, "callback_steps": 1}


def _report_as(report: BatchStep, index: int, _: int, step: int, total: int) -> None:
    """A one-clip call's progress, reported as clip `index` of the batch it came from."""
    report(index, step, total)
