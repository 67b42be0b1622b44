"""What 🎞 Smooth and 🔍 HD cost: frames out per second for each method, and how still a still
scene stays after HD.

    .venv/bin/python bench/post.py                 # a 2 s 256×256 8 fps clip, on the CPU
    .venv/bin/python bench/post.py --device cuda   # the same on a GPU

Models are full-size with random weights (the work per frame is the architecture's, whatever the
weights): Practical-RIFE 4.25's IFNet, Real-ESRGAN's SRVGGNetCompact (`realesr-general-x4v3`'s
shape) and RRDBNet ×2 (`RealESRGAN_x2plus`'s), each saved and loaded through the bot's own loaders.
The clip is a moving gradient; the still clip is one frame with ±2 of noise per frame, as a
diffusion model's still scenes shimmer.  Bound (issue #35): smoothing the 2 s clip to 24 fps with
minterpolate takes under 10 s on 2 CPU cores.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import harness
import numpy as np
import torch
from safetensors.torch import save_file

from bot.post import load_upscaler, mean_frame_difference, smooth_frames, upscale_frames
from bot.post.hd import import_spandrel
from bot.post.ifnet import IFNet, load_ifnet

MINTERPOLATE_BOUND_S = 10.0


def moving(count: int, side: int) -> np.ndarray:
    y, x = np.mgrid[0:side, 0:side]
    clip = np.empty((count, side, side, 3), dtype=np.uint8)
    for i in range(count):
        clip[i, ..., 0] = (x + i * 6) % 256
        clip[i, ..., 1] = (y + i * 3) % 256
        clip[i, ..., 2] = 128
    return clip


def still(count: int, side: int) -> np.ndarray:
    base = moving(1, side)[0].astype(np.int16)
    noise = np.random.default_rng(0).integers(-2, 3, (count, side, side, 3))
    return np.clip(base[None] + noise, 0, 255).astype(np.uint8)


def upscalers(folder: Path, quick: bool) -> list[tuple[str, Path]]:
    import_spandrel()
    from spandrel.architectures.Compact import Compact
    from spandrel.architectures.ESRGAN import ESRGAN

    torch.manual_seed(0)
    made = [("spandrel Compact ×4 (general-x4v3)", Compact(num_feat=64, num_conv=32, upscale=4))]
    if not quick:
        made.append(("spandrel RRDB ×2 (x2plus)", ESRGAN(in_nc=12, out_nc=3, scale=4, shuffle_factor=2)))
    files: list[tuple[str, Path]] = []
    for name, model in made:
        path = folder / f"{len(files)}.safetensors"
        save_file(model.state_dict(), str(path))
        files.append((name, path))
    return files


def timed(work: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    result = work()
    return result, time.perf_counter() - started


def row(method: str, frames: int, seconds: float) -> list[Any]:
    return [method, frames, seconds, frames / seconds]


def main() -> None:
    parser = harness.parser(__doc__)
    parser.add_argument("--frames", type=int, help="frames in the clip (default 16 = 2 s at 8 fps; quick 4)")
    parser.add_argument("--side", type=int, help="clip side in pixels (default 256; quick 32)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    args = harness.parse(parser, quick={"frames": (16, 4), "side": (256, 32)})
    clip, side = moving(args.frames, args.side), args.side
    report = harness.Report("post", args, f"{args.frames} frames {side}×{side} at 8 fps, {args.device}")
    rows: list[list[Any]] = []
    with harness.data_dir("videobot-bench-post-") as folder:
        smoothed, seconds = timed(lambda: smooth_frames(clip, 8, 24))
        rows.append(row("smooth: minterpolate (mci)", len(smoothed.frames), seconds))
        bound_ok = seconds < MINTERPOLATE_BOUND_S

        torch.manual_seed(0)
        save_file(IFNet().state_dict(), str(folder / "rife.safetensors"))
        net = load_ifnet(folder / "rife.safetensors").to(args.device)
        smoothed, seconds = timed(lambda: smooth_frames(clip, 8, 24, rife=net))
        rows.append(row("smooth: RIFE 4.25 IFNet", len(smoothed.frames), seconds))

        stability: list[list[Any]] = []
        calm = still(max(4, args.frames // 2), side)
        for name, path in upscalers(folder, args.quick):
            upscaler = load_upscaler(path, args.device)
            result, seconds = timed(lambda u=upscaler: upscale_frames(u, clip, memory="fast"))
            rows.append(row(f"hd: {name}", len(result.frames), seconds))
            calmed = upscale_frames(upscaler, calm, memory="fast").frames
            stability.append([name, mean_frame_difference(calm), mean_frame_difference(calmed)])
    report.table(
        "Frames out per second",
        ["method", "frames out", "seconds", "frames/s"],
        rows,
        [
            f"minterpolate bound: the clip smoothed to 24 fps in under {MINTERPOLATE_BOUND_S:g} s: "
            f"{harness.verdict(bound_ok)}",
            "random weights at full size: the arithmetic of the real models, not their pictures",
        ],
    )
    report.table(
        "A still scene after HD (mean change between frames, 0–255)",
        ["method", "before", "after"],
        stability,
        ["random weights amplify noise as they like; real weights are what this measures"],
    )
    report.finish()


if __name__ == "__main__":
    main()
