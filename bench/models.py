"""Default `/video` render time of each tiny model on one CPU thread (after a warm-up clip).

    python bench/models.py

Prints a table: model, frames × size × steps (its defaults), median seconds of 5 renders.
"""

from __future__ import annotations

import statistics
import time

import harness
import torch

from bot.core.options import VideoArgs
from bot.core.parsing import validate_video
from bot.pipelines.registry import TINY_PRESETS
from bot.render import Renderer
from bot.settings.loading import parse_config


def main() -> None:
    parser = harness.parser(__doc__)
    parser.add_argument("--reps", type=int, help="renders per model (default 5; quick 1)")
    args = harness.parse(parser, quick={"reps": (5, 1)})
    torch.set_num_threads(1)
    config = parse_config({}, "<defaults>", {})
    names = list(TINY_PRESETS)[:1] if args.quick else list(TINY_PRESETS)
    rows = []
    for name in names:
        settings = config.model_named(name)
        params = validate_video(VideoArgs("a cat surfing", seed=1), settings.limits, model=settings)
        renderer = Renderer(name, cpu_threads=1)
        renderer.render(params)  # warm-up: first-call allocations
        times = []
        for _ in range(args.reps):
            started = time.perf_counter()
            renderer.render(params)
            times.append(time.perf_counter() - started)
        shape = f"{params.frames}×{params.width}²×{params.steps} steps"
        rows.append([name, shape, statistics.median(times)])
    report = harness.Report("models", args, f"tiny models on one CPU thread, median of {args.reps}")
    report.table("Default clip per tiny model", ["model", "defaults", "median s"], rows)
    report.finish()


if __name__ == "__main__":
    main()
