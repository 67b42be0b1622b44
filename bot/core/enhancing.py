"""The prompt writer as the core sees it (docs/enhance.md): a port, and what `[enhance] mode`
does to a prompt on its way into the queue.

`translate` and `always` put the writer's paragraph in place of the typed prompt before the job
is stored, keeping what the person typed beside it; the prompt policy then checks the rewrite as
it checked the typed words.  A reroll or variation carries the chosen prompt over as it is: it
is never rewritten again.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Protocol

from bot.core.parsing import VideoArgs
from bot.core.types import RenderParams
from bot.enhance.modes import Plan, plan
from bot.enhance.slot import Rewrite

log = logging.getLogger(__name__)


class PromptRewriter(Protocol):
    """`bot.enhance.WriterSlot`: always answers, with the typed prompt when it could not rewrite."""

    async def rewrite(self, who: str, prompt: str, family: str, *, seed: int | None = None) -> Rewrite: ...


def carried(args: VideoArgs, params: RenderParams) -> RenderParams:
    """A reroll's or variation's chosen prompt: validated as typed, rendered as chosen."""
    if not args.prompt_writer:
        return params
    return replace(
        params, prompt=args.prompt, prompt_original=params.prompt, prompt_writer=args.prompt_writer
    )


def typed_args(args: VideoArgs) -> VideoArgs:
    """The arguments as the person typed them (what the limits are checked on)."""
    return replace(args, prompt=args.prompt_original) if args.prompt_writer else args


async def rewritten(
    writer: PromptRewriter | None, mode: str, who: str, params: RenderParams, family: str
) -> RenderParams:
    """`params` with the writer's paragraph when the mode rewrites this prompt directly."""
    if writer is None or params.prompt_writer or plan(mode, params.prompt, asked=False) is not Plan.DIRECT:
        return params
    rewrite = await writer.rewrite(who, params.prompt, family)
    if not rewrite.rewritten:
        log.info("prompt kept as typed (%s: %s)", rewrite.kept, rewrite.why)
        return params
    return replace(params, prompt=rewrite.text, prompt_original=params.prompt, prompt_writer=rewrite.writer)
