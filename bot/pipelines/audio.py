"""A clip's soundtrack, as the renderer hands it to the encoder.

Families that make sound (LTX-2) return a waveform beside the frames; the renderer hands it on
in the `RenderedClip` (`bot.pipelines.clip`) beside the frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

AUDIO_CODEC = "aac"
AUDIO_BITRATE = 128_000  # bits per second for the first encode; fitting to a size may lower it
MIN_AUDIO_BITRATE = 32_000


@dataclass(frozen=True, eq=False)
class Soundtrack:
    """`samples` shaped (channels, n), float32 in [-1, 1], at `rate` samples a second."""

    samples: np.ndarray
    rate: int

    @property
    def channels(self) -> int:
        return int(self.samples.shape[0])

    @property
    def seconds(self) -> float:
        return self.samples.shape[1] / self.rate


def soundtracks_from(output: Any, pipe: Any, count: int) -> Sequence[Soundtrack | None]:
    """The waveforms of a pipeline call's `count` clips (diffusers' `output.audio`, a tensor
    (batch, channels, samples)), at the vocoder's rate; all None for a silent pipeline."""
    audio = getattr(output, "audio", None)
    vocoder = getattr(pipe, "vocoder", None)
    if audio is None or vocoder is None:
        return [None] * count
    rate = int(vocoder.config.output_sampling_rate)
    waves = audio.float().cpu().numpy() if hasattr(audio, "cpu") else np.asarray(audio, dtype=np.float32)
    if waves.ndim == 2:  # one clip without its batch axis
        waves = waves[None]
    return [Soundtrack(np.clip(waves[i], -1.0, 1.0).astype(np.float32), rate) for i in range(count)]
