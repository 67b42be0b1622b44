"""Extending a clip and closing a loop, over the modes a family declares (#25).

An extension renders a new segment conditioned on the end of its parent clip and returns ONE
clip: the parent followed by the segment.  The family's continuation mode says how many of the
parent's last frames condition it (LTX: 8k+1 through `LTXConditionPipeline`; a picture path:
one); the frames the segment re-renders overlap the parent's and are cross-faded into them.

A loop conditions both ends (the family's loop mode): with a picture, on the picture; without
one, the clip is rendered first and a bridge is rendered from its last frames back to its first.
The frame that would repeat the first is dropped and the last few frames ease into the first, so
the clip plays round without a jump.  Never a ping-pong: nothing is played backwards.

The renderer hands in `call`, its one pipeline call for one clip in a given mode; nothing here
reaches into the renderer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

from bot.domain import TEXT_ONLY, ConditioningKind, Continuation, Loop, Picture, RenderParams
from bot.pipelines.clip import RenderedClip
from bot.pipelines.frames import read_clip
from bot.pipelines.image import load_picture
from bot.pipelines.spec import Mode, Modes

SEAM_FRAMES = 4  # a loop's last frames ease into its first over this many frames (at most a quarter)

# One clip of `params` in `mode` (None: text), conditioned on start frames and an end frame.
ModeCall = Callable[
    [RenderParams, Mode | None, Sequence[Image.Image], Image.Image | None], RenderedClip | None
]


class CannotRender(Exception):
    """The model does not take this conditioning (its family's file does not declare the mode)."""


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


def _pictures(frames: np.ndarray) -> list[Image.Image]:
    return [Image.fromarray(frame) for frame in frames]


def _needed(modes: Modes, kind: ConditioningKind) -> Mode:
    mode = modes.mode(kind)
    if mode is None:
        raise CannotRender(f"this model takes no {kind} conditioning")
    return mode


def render_continued(params: RenderParams, modes: Modes, call: ModeCall) -> RenderedClip | None:
    """An extension (the joined clip) or a loop, each pipeline call made by `call`; None when
    cancelled."""
    plain = replace(params, conditioning=TEXT_ONLY)
    match params.conditioning:
        case Continuation(parent=extension, loop=True):  # an extension of a loop loops too
            mode = _needed(modes, ConditioningKind.LOOP)
            parent = read_frames(extension.clip_path)
            overlap = min(mode.overlap(params.frames), len(parent))
            end = Image.fromarray(parent[0])  # the new end leads back into the first frame
            looped = call(plain, mode, _pictures(parent[-overlap:]), end)
            return None if looped is None else _with(looped, close_loop(join(parent, looped.frames, overlap)))
        case Continuation(parent=extension):
            mode = _needed(modes, ConditioningKind.CONTINUATION)
            parent = read_frames(extension.clip_path)
            overlap = min(mode.overlap(params.frames), len(parent))
            segment = call(plain, mode, _pictures(parent[-overlap:]), None)
            return None if segment is None else _with(segment, join(parent, segment.frames, overlap))
        case Loop(picture=Picture() as on):
            mode = _needed(modes, ConditioningKind.LOOP)
            picture = load_picture(on.path, params.width, params.height)
            clip = call(plain, mode, [picture], picture)
            return None if clip is None else _with(clip, close_loop(clip.frames))
        case Loop():
            mode = _needed(modes, ConditioningKind.LOOP)
            first = call(plain, None, [], None)
            if first is None:
                return None
            overlap = mode.overlap(params.frames)
            end = Image.fromarray(first.frames[0])
            bridge = call(plain, mode, _pictures(first.frames[-overlap:]), end)
            return (
                None
                if bridge is None
                else _with(first, close_loop(join(first.frames, bridge.frames, overlap)))
            )
    raise CannotRender(f"{params.conditioning.kind} is neither a continuation nor a loop")


def _with(clip: RenderedClip, frames: np.ndarray) -> RenderedClip:
    """`clip`'s rate with new frames (a joined or looped clip's soundtrack would not fit them)."""
    return RenderedClip(frames, clip.fps)
