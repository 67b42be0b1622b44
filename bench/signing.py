"""What Content Credentials cost per clip: encoding alone versus encoding + C2PA signing, the
bytes the manifest adds, and how long reading it back takes.

    .venv/bin/python bench/signing.py            # 256² and 832×480, 16 frames, 5 runs each

Frames are a moving gradient (compresses like video); the signing identity is the bot's own,
made in a temporary folder.  The table shows medians.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.config import VideoConfig
from bot.core.types import RenderParams
from bot.encode import encode_clip
from bot.pipelines.registry import TINY_PRESETS
from bot.provenance import ContentCredentials, check_clip, ensure_local_identity

TINY = TINY_PRESETS["tiny"].identity("tiny", "tiny")


def frames(n: int, height: int, width: int) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    clip = np.empty((n, height, width, 3), dtype=np.uint8)
    for i in range(n):
        clip[i, ..., 0] = (x + i * 8) % 256
        clip[i, ..., 1] = y % 256
        clip[i, ..., 2] = 128
    return clip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--frames", type=int, default=16)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp())
    credentials = ContentCredentials(ensure_local_identity(folder))
    print("| size | frames | encode ms | encode + sign ms | sign ms | manifest bytes | verify ms |")
    print("|---|---|---|---|---|---|---|")
    for width, height in ((256, 256), (832, 480)):
        clip = frames(args.frames, height, width)
        params = RenderParams("a cat surfing", "", 1, args.frames, 25, 9.0, width, height, 8)
        plain, signed, checks, extra = [], [], [], []
        for rep in range(args.reps):
            started = time.perf_counter()
            bare = encode_clip(clip, folder / f"bare{rep}.mp4", params, made_by=TINY, video=VideoConfig())
            plain.append(time.perf_counter() - started)
            started = time.perf_counter()
            out = folder / f"signed{rep}.mp4"
            made = encode_clip(clip, out, params, made_by=TINY, video=VideoConfig(), credentials=credentials)
            signed.append(time.perf_counter() - started)
            extra.append(made.size_bytes - bare.size_bytes)
            started = time.perf_counter()
            assert check_clip(out).valid
            checks.append(time.perf_counter() - started)
        ms = [statistics.median(values) * 1000 for values in (plain, signed, checks)]
        print(
            f"| {width}×{height} | {args.frames} | {ms[0]:.0f} | {ms[1]:.0f} | {ms[1] - ms[0]:.0f} | "
            f"{statistics.median(extra):.0f} | {ms[2]:.1f} |"
        )


if __name__ == "__main__":
    main()
