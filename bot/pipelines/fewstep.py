"""Few-step models (step-distilled checkpoints, or a base model with a distilling LoRA).

They run at guidance 1: no classifier-free guidance, so no negative prompt is encoded and no
unconditional pass runs (half the work of each step); step caching is off for them unless a
model sets `cache` itself (at 8 steps or fewer it gains 1.04–1.33× and costs quality); and a
distillation names the flow-matching shift it was trained at.
"""

from __future__ import annotations

import logging
from typing import Any

from bot.pipelines.spec import FEW_STEPS, Family

log = logging.getLogger(__name__)


def guided(guidance: float) -> bool:
    """Whether a call at `guidance` runs classifier-free guidance (diffusers: scale > 1)."""
    return guidance > 1.0


def guidance_call(family: Family, guidance: float, negative: Any) -> dict[str, Any]:
    """The call's guidance arguments: at guidance 1 no negative prompt and every extra pass off.

    No negative at all leaves the pipeline's own default (None for most, "" for SANA-Video)."""
    if guided(guidance):
        return {"negative_prompt": negative} if negative else {}
    return dict(family.unguided_call)


def step_cache_mode(render_cache: str, model_cache: str, steps: int) -> str:
    """`[models.NAME] cache` when set; else `[render] cache`, but off for a few-step model."""
    if model_cache:
        return model_cache
    if steps <= FEW_STEPS and render_cache != "off":
        log.info("step caching off for a %d-step model (set [models.NAME] cache to force it)", steps)
        return "off"
    return render_cache


def apply_scheduler_shift(pipe: Any, shift: float) -> None:
    """Rebuild the scheduler with `shift` (FlowMatchEuler's `shift`, UniPC's `flow_shift`)."""
    if not shift:
        return
    scheduler = pipe.scheduler
    keys = {key: shift for key in ("shift", "flow_shift") if key in scheduler.config}
    if not keys:
        log.warning("%s has no shift to set; scheduler_shift ignored", type(scheduler).__name__)
        return
    pipe.scheduler = type(scheduler).from_config(scheduler.config, **keys)
