"""What an MP4 the bot sent holds, decoded with PyAV as a player would."""

from __future__ import annotations

import io
from typing import NamedTuple

import av


class Decoded(NamedTuple):
    frames: int
    width: int
    height: int
    metadata: dict[str, str]


def decode(data: bytes) -> Decoded:
    with av.open(io.BytesIO(data), mode="r") as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        return Decoded(frames, stream.width, stream.height, dict(container.metadata))
