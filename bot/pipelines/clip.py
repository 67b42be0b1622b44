"""What a render returns: its frames, the rate they play at and the soundtrack, if any, the way
diffusers returns a typed output (`WanPipelineOutput`, LTX-2's `audio`).  Everything downstream
(the MP4, its tags, the signed record, the chat reply) reads a clip's facts from here, never from
the request: an extension or a loop is longer or shorter than the frames it asked for."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from bot.pipelines.audio import Soundtrack


@dataclass(frozen=True, eq=False)
class RenderedClip:
    """`frames` uint8 shaped (n, height, width, 3), played at `fps`."""

    frames: np.ndarray
    fps: int
    soundtrack: Soundtrack | None = None

    def __post_init__(self) -> None:
        shape = self.frames.shape
        if self.frames.dtype != np.uint8 or len(shape) != 4 or shape[-1] != 3 or not shape[0]:
            raise ValueError(f"a clip is uint8 frames (n, h, w, 3), got {self.frames.dtype} {shape}")
        if self.fps < 1:
            raise ValueError(f"a clip plays at 1 fps or more, got {self.fps}")

    @property
    def count(self) -> int:
        return int(self.frames.shape[0])

    @property
    def width(self) -> int:
        return int(self.frames.shape[2])

    @property
    def height(self) -> int:
        return int(self.frames.shape[1])

    @property
    def duration_s(self) -> float:
        return self.count / self.fps

    def silent(self) -> RenderedClip:
        return RenderedClip(self.frames, self.fps) if self.soundtrack is not None else self


def frames_as_uint8(frames: Any, count: int) -> np.ndarray:
    """A call's frames ((batch,) frames, channels, height, width in [0, 1], on the device) as uint8
    (batch, frames, height, width, 3) on the host: cast where they are, a quarter of float32's bytes
    to copy (a 257-frame 704x480 clip: 260 MB, not 1 GB); numpy output is taken as it comes."""
    import torch

    if isinstance(frames, torch.Tensor):
        if frames.ndim == 4:  # one clip without its batch axis
            frames = frames[None]
        clips = (frames.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 1, 3, 4, 2).cpu().numpy()
    else:
        array = np.asarray(frames)
        if array.ndim == 4:
            array = array[None]
        clips = (np.clip(array, 0.0, 1.0) * 255).round().astype(np.uint8)
    if clips.shape[0] != count:
        raise ValueError(f"the pipeline returned {clips.shape[0]} clips for a batch of {count}")
    return clips
