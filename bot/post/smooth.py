"""🎞 Smooth: a clip interpolated to a whole multiple of its frame rate (at least ×2).

RIFE (the project's IFNet, `bot.post.ifnet`) when its weights are on disk, else FFmpeg's
motion-compensated `minterpolate` from PyAV's bundled FFmpeg, which needs no weights; the result
says which ran.  A clip of T frames at f fps becomes T·k frames at k·f fps, so it lasts as long:
after the last frame the final k−1 are that frame held; for a loop they are interpolated towards
frame 0 (frame 0 appended before, dropped after), so the seam moves like every other step.
Whole clips only: an extension is one clip here, never smoothed per segment.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING

import numpy as np

from bot.settings.sections import MAX_SMOOTH_FPS

if TYPE_CHECKING:
    from bot.post.ifnet import IFNet

RIFE = "rife"
MINTERPOLATE = "minterpolate"
MINTERPOLATE_MODEL = "FFmpeg minterpolate (mci)"
TAIL_FRAMES = 4  # frames fed past the end so minterpolate lets go of the last ones

Progress = Callable[[int, int], None]  # (frames made, frames in all)


class AlreadySmooth(Exception):
    """The clip's frame rate is already at the ceiling; one sentence for the person asking."""


@dataclass(frozen=True)
class Smoothed:
    frames: np.ndarray  # uint8 (frames, height, width, 3)
    fps: float
    method: str  # RIFE or MINTERPOLATE
    model: str  # what did it: the weights' name, or MINTERPOLATE_MODEL


def smooth_factor(fps: float, target_fps: float) -> int:
    """The whole multiple of `fps` reaching `target_fps`, at least 2, within MAX_SMOOTH_FPS."""
    factor = max(2, math.ceil(target_fps / fps - 1e-9))
    while factor > 2 and fps * factor > MAX_SMOOTH_FPS:
        factor -= 1
    if fps * factor > MAX_SMOOTH_FPS:
        raise AlreadySmooth(f"this clip already plays at {fps:g} fps; smoothing stops at {MAX_SMOOTH_FPS}")
    return factor


def _check(frames: np.ndarray) -> None:
    if frames.ndim != 4 or frames.shape[3] != 3 or frames.dtype != np.uint8 or len(frames) < 2:
        raise ValueError(f"expected at least 2 uint8 RGB frames, got {frames.dtype} {frames.shape}")


def smooth_frames(
    frames: np.ndarray,
    fps: float,
    target_fps: float,
    *,
    loop: bool = False,
    rife: IFNet | None = None,
    rife_name: str = RIFE,
    progress: Progress | None = None,
) -> Smoothed:
    """`frames` at `fps` → the smoothed clip, with RIFE when `rife` is given, else minterpolate."""
    _check(frames)
    factor = smooth_factor(fps, target_fps)
    if rife is not None:
        out = _with_rife(rife, frames, factor, loop=loop, progress=progress)
        return Smoothed(out, fps * factor, RIFE, rife_name)
    out = _with_minterpolate(frames, fps, factor, loop=loop, progress=progress)
    return Smoothed(out, fps * factor, MINTERPOLATE, MINTERPOLATE_MODEL)


def _pairs(frames: np.ndarray, loop: bool) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    ends = len(frames) if loop else len(frames) - 1
    for index in range(ends):
        yield frames[index], frames[(index + 1) % len(frames)]


def _with_rife(
    net: IFNet, frames: np.ndarray, factor: int, *, loop: bool, progress: Progress | None
) -> np.ndarray:
    import torch
    import torch.nn.functional as F

    count, height, width, _ = frames.shape
    out = np.empty((count * factor, height, width, 3), dtype=np.uint8)
    param = next(net.parameters())
    pad_h, pad_w = -height % net.multiple, -width % net.multiple

    def tensor(frame: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(frame).to(param.device).permute(2, 0, 1)[None].to(param.dtype) / 255.0
        return F.pad(x, (0, pad_w, 0, pad_h))

    with torch.inference_mode():
        for index, (first, second) in enumerate(_pairs(frames, loop)):
            out[index * factor] = first
            img0, img1 = tensor(first), tensor(second)
            for step in range(1, factor):
                middle = net(img0, img1, step / factor)[0, :, :height, :width]
                pixels = (middle.clamp(0, 1) * 255.0).round().to(torch.uint8).permute(1, 2, 0)
                out[index * factor + step] = pixels.cpu().numpy()
            if progress is not None:
                progress((index + 1) * factor, len(out))
    if not loop:
        out[(count - 1) * factor :] = frames[-1]
    return out


def _with_minterpolate(
    frames: np.ndarray, fps: float, factor: int, *, loop: bool, progress: Progress | None
) -> np.ndarray:
    """PyAV filter graph: buffer → minterpolate (motion-compensated) → buffersink."""
    import av
    import av.filter

    count, height, width, _ = frames.shape
    rate = Fraction(fps).limit_denominator(1001)
    graph = av.filter.Graph()
    source = graph.add_buffer(
        width=width, height=height, format=av.VideoFormat("yuv420p"), time_base=1 / rate
    )
    interpolate = graph.add("minterpolate", f"fps={rate * factor}:mi_mode=mci:mc_mode=aobmc:me_mode=bidir")
    sink = graph.add("buffersink")
    source.link_to(interpolate)
    interpolate.link_to(sink)
    graph.configure()
    wanted = count * factor
    made: list[np.ndarray] = []

    def drain() -> None:
        while len(made) < wanted:
            try:
                frame = graph.pull()
            except (av.error.BlockingIOError, av.error.EOFError):
                return
            assert isinstance(frame, av.VideoFrame)
            made.append(frame.to_ndarray(format="rgb24"))
            if progress is not None:
                progress(len(made), wanted)

    # minterpolate keeps a few frames back at the end of a stream: feed past the end (the loop
    # goes on round; a plain clip holds its last frame) and keep the first `wanted`
    tail = [frames[i % count] for i in range(TAIL_FRAMES)] if loop else [frames[-1]] * TAIL_FRAMES
    inputs = [*frames, *tail]
    for pts, pixels in enumerate(inputs):
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")
        frame = frame.reformat(format="yuv420p")
        frame.pts, frame.time_base = pts, 1 / rate
        graph.push(frame)
        drain()
    graph.push(None)
    drain()
    if len(made) < wanted:
        raise RuntimeError(f"minterpolate made {len(made)} frames of {wanted}")
    return np.stack(made[:wanted])
