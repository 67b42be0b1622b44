"""Default `/video` render time of each tiny model on one CPU thread (after a warm-up clip).

    python bench/models.py

Prints a table: model, frames × size × steps (its defaults), median seconds of 5 renders.
"""

from __future__ import annotations

import statistics
import time

import torch

from bot.config import parse_config
from bot.core.parsing import VideoArgs, validate_video
from bot.pipelines.registry import TINY_PRESETS
from bot.render import Renderer


def main() -> None:
    torch.set_num_threads(1)
    config = parse_config({}, "<defaults>", {})
    print(f"{'model':<16} {'defaults':<22} {'median s':>9}")
    for name in TINY_PRESETS:
        settings = config.model_named(name)
        params = validate_video(VideoArgs("a cat surfing", seed=1), settings.limits, model=settings)
        renderer = Renderer(name, cpu_threads=1)
        renderer.render(params)  # warm-up: first-call allocations
        times = []
        for _ in range(5):
            started = time.perf_counter()
            renderer.render(params)
            times.append(time.perf_counter() - started)
        shape = f"{params.frames}×{params.width}²×{params.steps} steps"
        print(f"{name:<16} {shape:<22} {statistics.median(times):>9.3f}")


if __name__ == "__main__":
    main()
