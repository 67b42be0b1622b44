"""Reading a clip back to frames: what extending and looping continue from (and tests check).
Here rather than in `bot.encode`, which builds on the pipelines, so neither imports the other."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np


def read_clip(path: Path) -> tuple[np.ndarray, int, dict[str, str]]:
    """Decode an MP4 back to frames, fps and container metadata."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        fps = round(float(stream.average_rate or 0)) or 1
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
        return np.stack(frames), fps, dict(container.metadata)
