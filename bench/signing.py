"""What Content Credentials cost per clip: encoding alone versus encoding + C2PA signing, the
bytes the manifest adds, and how long reading it back takes.

    .venv/bin/python bench/signing.py            # 256² and 832×480, 16 frames, 5 runs each

Frames are a moving gradient (compresses like video); the signing identity is the bot's own,
made in a temporary folder.  The table shows medians.
"""

from __future__ import annotations

import statistics
import time

import harness
import numpy as np

from bot.domain import RenderParams
from bot.encode import encode_clip
from bot.pipelines.clip import RenderedClip
from bot.pipelines.registry import TINY_PRESETS
from bot.provenance import ContentCredentials, check_clip, ensure_local_identity
from bot.settings.sections import VideoConfig

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
    parser = harness.parser(__doc__)
    parser.add_argument("--reps", type=int, help="runs per size (default 5; quick 1)")
    parser.add_argument("--frames", type=int, help="frames per clip (default 16; quick 4)")
    args = harness.parse(parser, quick={"reps": (5, 1), "frames": (16, 4)})
    sizes = ((256, 256),) if args.quick else ((256, 256), (832, 480))
    report = harness.Report("signing", args, f"C2PA signing, {args.frames} frames, medians of {args.reps}")
    rows = []
    with harness.data_dir() as folder:
        credentials = ContentCredentials(ensure_local_identity(folder))
        for width, height in sizes:
            clip = RenderedClip(frames(args.frames, height, width), 8)
            params = RenderParams("a cat surfing", "", 1, args.frames, 25, 9.0, width, height, 8)
            plain, signed, checks, extra = [], [], [], []
            for rep in range(args.reps):
                started = time.perf_counter()
                bare = encode_clip(clip, folder / f"bare{rep}.mp4", params, made_by=TINY, video=VideoConfig())
                plain.append(time.perf_counter() - started)
                started = time.perf_counter()
                out = folder / f"signed{rep}.mp4"
                made = encode_clip(
                    clip, out, params, made_by=TINY, video=VideoConfig(), credentials=credentials
                )
                signed.append(time.perf_counter() - started)
                extra.append(made.size_bytes - bare.size_bytes)
                started = time.perf_counter()
                assert check_clip(out).valid
                checks.append(time.perf_counter() - started)
            encode, both, verify = (harness.ms(statistics.median(v)) for v in (plain, signed, checks))
            rows.append(
                [
                    f"{width}×{height}",
                    args.frames,
                    encode,
                    both,
                    both - encode,
                    statistics.median(extra),
                    verify,
                ]
            )
    report.table(
        "Encoding with and without signing",
        ["size", "frames", "encode ms", "encode + sign ms", "sign ms", "manifest bytes", "verify ms"],
        rows,
    )
    report.finish()


if __name__ == "__main__":
    main()
