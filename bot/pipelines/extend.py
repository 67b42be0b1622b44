"""Extending a clip and closing a loop, on the picture path (#25).

An extension renders a new segment conditioned on the end of its parent clip and returns ONE
clip: the parent followed by the segment.  LTX conditions on the parent's last frames
(`LTXConditionPipeline` over the loaded modules, `video=` at `frame_index=0`); every other
family that takes pictures gets the parent's last frame through `bot.pipelines.image`.  The
frames the segment re-renders overlap the parent's and are cross-faded into them, not repeated.

A loop conditions both ends: with a picture, on the picture (LTX: conditions at frame 0 and the
last frame; Wan 2.1 I2V: `last_image`); without one, the clip is rendered first and a bridge
is rendered from its last frame back to its first.  The frame that would repeat the first is
dropped and the last few frames ease into the first, so the clip plays round without a jump.
Never a ping-pong: nothing is played backwards.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from bot.domain import RenderParams
from bot.pipelines.frames import read_clip
from bot.pipelines.image import image_pipeline, load_picture

SEAM_FRAMES = 4  # a loop's last frames ease into its first over this many frames (at most a quarter)
LTX_CLASSES = frozenset({"LTXPipeline", "LTXImageToVideoPipeline", "LTXConditionPipeline"})


class CannotLoop(Exception):
    """This pipeline conditions frame 0 only (Wan 2.2 TI2V's `expand_timesteps` ignores `last_image`)."""


def continue_pipeline(pipe: Any) -> Any:
    """The pipeline that conditions on frames, sharing every module with `pipe` (no second copy)."""
    name = type(pipe).__name__
    if name == "LTXConditionPipeline":
        return pipe
    if name in LTX_CLASSES:
        from diffusers import LTXConditionPipeline

        made = LTXConditionPipeline.from_pipe(pipe)
        made.set_progress_bar_config(disable=True)
        return made
    return image_pipeline(pipe)


def overlap_frames(pipe: Any, frames: int) -> int:
    """How many of the parent's last frames condition the segment (and overlap it): LTX takes a
    video of 8k+1 frames, at most half the segment; a picture path takes one frame."""
    if type(pipe).__name__ != "LTXConditionPipeline":
        return 1
    return max(1, ((frames // 2 - 1) // 8) * 8 + 1)


def start_conditions(pipe: Any, tail: list[Image.Image]) -> dict[str, Any]:
    """Call arguments conditioning the first frames on `tail` (the parent's last frames)."""
    if type(pipe).__name__ == "LTXConditionPipeline":
        from diffusers.pipelines.ltx.pipeline_ltx_condition import LTXVideoCondition

        first = LTXVideoCondition(image=tail[0]) if len(tail) == 1 else LTXVideoCondition(video=tail)
        return {"conditions": [replace(first, frame_index=0)]}
    return {"image": tail[-1]}


def both_ends(pipe: Any, start: list[Image.Image], end: Image.Image, frames: int) -> dict[str, Any]:
    """Call arguments conditioning the first frames on `start` and the last frame on `end`."""
    name = type(pipe).__name__
    if name == "LTXConditionPipeline":
        from diffusers.pipelines.ltx.pipeline_ltx_condition import LTXVideoCondition

        conditions = start_conditions(pipe, start)["conditions"]
        return {"conditions": [*conditions, LTXVideoCondition(image=end, frame_index=frames - 1)]}
    if name == "WanImageToVideoPipeline" and not getattr(pipe.config, "expand_timesteps", False):
        return {"image": start[-1], "last_image": end}
    raise CannotLoop(f"{name} conditions the first frame only")


def join(parent: np.ndarray, segment: np.ndarray, overlap: int) -> np.ndarray:
    """The parent, then the segment, its first `overlap` frames cross-faded into the parent's
    last ones (they show the same moment): `len(parent) + len(segment) - overlap` frames."""
    head, shared = parent[: len(parent) - overlap], parent[len(parent) - overlap :]
    weights = (np.arange(overlap, dtype=np.float32) / overlap)[:, None, None, None]
    faded = (shared * (1 - weights) + segment[:overlap] * weights).round().astype(np.uint8)
    return np.concatenate([head, faded, segment[overlap:]])


def close_loop(frames: np.ndarray) -> np.ndarray:
    """Drop the last frame (it repeats the first) and ease the last few into the first."""
    frames = frames[:-1].copy()
    seam = min(SEAM_FRAMES, len(frames) // 4)
    first = frames[0].astype(np.float32)
    for index in range(seam):
        weight = (index + 1) / (seam + 1)
        at = len(frames) - seam + index
        frames[at] = (frames[at] * (1 - weight) + first * weight).round().astype(np.uint8)
    return frames


def read_frames(path: str) -> np.ndarray:
    return read_clip(Path(path))[0]


def render_continued(
    renderer: Any, params: RenderParams, report: Callable[[int, int], None], stop: Callable[[], bool]
) -> np.ndarray | None:
    """An extension (the joined clip) or a loop, rendered with `renderer`'s loaded model; None
    when cancelled."""
    with renderer._lock:
        if renderer._continue_pipe is None:
            renderer._continue_pipe = continue_pipeline(renderer.pipe)
        pipe = renderer._continue_pipe
    plain = replace(params, extends=None, loop=False)

    def call(one: RenderParams, conditions: dict[str, Any] | None) -> np.ndarray | None:
        use = None if conditions is None else (pipe, conditions)
        return renderer._call([one], lambda _, step, total: report(step, total), [stop], use)[0]

    def pictures(frames: np.ndarray) -> list[Image.Image]:
        return [Image.fromarray(frame) for frame in frames]

    if params.extends is not None:
        parent = read_frames(params.extends.clip_path)
        overlap = overlap_frames(pipe, params.frames)
        if params.loop:  # an extension of a loop loops too: the new end leads back into the first frame
            start = Image.fromarray(parent[0])
            looped = call(plain, both_ends(pipe, pictures(parent[-overlap:]), start, params.frames))
            return None if looped is None else close_loop(join(parent, looped, overlap))
        segment = call(plain, start_conditions(pipe, pictures(parent[-overlap:])))
        return None if segment is None else join(parent, segment, overlap)
    if params.picture is not None:
        picture = load_picture(params.picture.path, params.width, params.height)
        clip = call(replace(plain, picture=None), both_ends(pipe, [picture], picture, params.frames))
        return None if clip is None else close_loop(clip)
    first = call(plain, None)
    if first is None:
        return None
    overlap = overlap_frames(pipe, params.frames)
    end = Image.fromarray(first[0])
    bridge = call(plain, both_ends(pipe, pictures(first[-overlap:]), end, params.frames))
    return None if bridge is None else close_loop(join(first, bridge, overlap))
