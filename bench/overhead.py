"""What the bot costs on top of the model: bare `pipe(...)` + `encode_mp4` versus the same
clip through the whole bot (VideoService, SQLite, fair queue, worker thread, progress
callbacks, encode, delivery to an in-memory outbox).

    .venv/bin/python bench/overhead.py            # defaults: ~1 s renders on a CPU
    .venv/bin/python bench/overhead.py --reps 9 --threads 2

Both paths use one pipeline object, the same prompt, seed, size, frames, steps, guidance,
the same torch thread count and the same encoder settings.  Runs alternate (bare, bot,
bot, bare, …) so a noisy neighbour slows both alike; the table shows medians.
Target: bot / bare ≤ 1.05.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import harness

from bot.app import build_service
from bot.domain import Button, ChatRef, Clip, Delivery, RenderParams, Request, UserRef
from bot.encode import clip_tags, encode_mp4
from bot.pipelines.clip import RenderedClip
from bot.pipelines.registry import TINY_PRESETS
from bot.render import Renderer
from bot.settings.loading import parse_config

PROMPT = "a cat surfing a wave at sunset"
USER = UserRef("bench", "1", "bench")
CHAT = ChatRef("bench", "chat")


class MemoryOutbox:
    """The cheapest possible platform: remembers the refs, sets an event per delivered clip."""

    def __init__(self) -> None:
        self.delivered: asyncio.Queue[Clip] = asyncio.Queue()
        self._n = 0
        self.edits = 0
        self.last_text = ""

    def upload_limit(self, chat: ChatRef) -> int:
        return 2**40

    async def send_text(
        self,
        chat: ChatRef,
        text: str,
        *,
        reply_to: str | None = None,
        private: bool = False,
        user: UserRef | None = None,
    ) -> str | None:
        self._n += 1
        self.last_text = text
        return f"m{self._n}"

    async def edit_text(self, chat: ChatRef, message: str, text: str) -> None:
        self.edits += 1

    async def send_video(self, delivery: Delivery) -> str:
        self._n += 1
        self.delivered.put_nowait(delivery.clip)
        return f"v{self._n}"

    async def delete(self, chat: ChatRef, message: str) -> None:
        return None

    async def show_activity(self, chat: ChatRef) -> None:
        return None

    async def edit_buttons(self, chat: ChatRef, message: str, buttons: Sequence[Button]) -> None:
        return None

    async def open_thread(self, chat: ChatRef, message: str, name: str) -> ChatRef | None:
        return None


def parse_args() -> argparse.Namespace:
    parser = harness.parser(__doc__)
    parser.add_argument(
        "--reps", type=int, help="measured runs per path, median reported (default 7; quick 1)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads for both paths (1 is steadiest on a shared CPU)",
    )
    parser.add_argument("--unet-width", type=int, default=16, help="tiny UNet channel width")
    parser.add_argument("--size", type=int, help="width = height in pixels (default 128; quick 64)")
    parser.add_argument("--frames", type=int, help="default 8; quick 4")
    parser.add_argument("--steps", type=int, help="default 8; quick 2")
    parser.add_argument("--guidance", type=float, default=9.0)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument(
        "--progress-interval",
        type=float,
        default=3.0,
        help="the bot's progress-edit interval (config default 3.0 s)",
    )
    quick = {"reps": (7, 1), "size": (128, 64), "frames": (8, 4), "steps": (8, 2)}
    return harness.parse(parser, quick)


def main() -> None:
    args = parse_args()
    import numpy as np
    import torch

    from bot.pipelines.tiny import build_tiny_pipeline
    from bot.rendering.loading import _silence_diffusers

    torch.set_num_threads(args.threads)
    _silence_diffusers()
    pipe: Any = build_tiny_pipeline(width=args.unet_width)  # diffusers types its pipelines loosely
    pipe.set_progress_bar_config(disable=True)
    pipe.to("cpu")

    data = Path(tempfile.mkdtemp(prefix="videobot-bench-"))
    settings = harness.bot_settings(
        data,
        frames=args.frames,
        steps=args.steps,
        size=args.size,
        queue={"progress_interval_s": args.progress_interval},
    )
    config = parse_config(settings, "<bench>", {})
    crf = config.video.crf

    def bare(run: int) -> float:
        """The model and the encoder, nothing else."""
        started = time.perf_counter()
        output = pipe(
            prompt=PROMPT,
            negative_prompt=None,
            num_frames=args.frames,
            num_inference_steps=args.steps,
            guidance_scale=args.guidance,
            height=args.size,
            width=args.size,
            generator=torch.Generator(device="cpu").manual_seed(args.seed),
            output_type="np",
        )
        frames = np.asarray(output.frames)
        frames = frames[0] if frames.ndim == 5 else frames
        frames = (np.clip(frames, 0.0, 1.0) * 255).round().astype(np.uint8)
        params = RenderParams(
            PROMPT, "", args.seed, args.frames, args.steps, args.guidance, args.size, args.size, 8
        )
        metadata = clip_tags(params, TINY_PRESETS["tiny"].identity("tiny", "tiny"), RenderedClip(frames, 8))
        encode_mp4(frames, data / f"bare-{run}.mp4", fps=8, metadata=metadata, crf=crf)
        return time.perf_counter() - started

    async def through_the_bot() -> tuple[list[float], list[float], dict[str, Any]]:
        renderer = Renderer("tiny")
        renderer.pipe = pipe  # the very same pipeline object
        service = build_service(config, renderer=renderer)
        outbox = MemoryOutbox()
        service.add_outbox(CHAT.platform, outbox)
        await service.recover()
        worker = asyncio.create_task(service.run_worker())
        worker_threads = await asyncio.to_thread(torch.get_num_threads)
        command = (
            f"{PROMPT} --seed {args.seed} --frames {args.frames} --steps {args.steps} "
            f"--guidance {args.guidance}"
        )

        async def bot(run: int) -> float:
            started = time.perf_counter()
            job = await service.video_text(Request(USER, CHAT), command)
            assert job is not None, f"the bot refused the bench job: {outbox.last_text}"
            await outbox.delivered.get()
            return time.perf_counter() - started

        bare(-1)  # warm-up, not measured
        await bot(-1)
        bare_times: list[float] = []
        bot_times: list[float] = []
        for run in range(args.reps):
            # alternate the order so drift and neighbours hit both paths alike
            if run % 2 == 0:
                bare_times.append(bare(run))
                bot_times.append(await bot(run))
            else:
                bot_times.append(await bot(run))
                bare_times.append(bare(run))
        service.stop()
        await asyncio.wait_for(worker, 60)
        await service.drain()
        service.store.close()
        return bare_times, bot_times, {"worker_threads": worker_threads, "edits": outbox.edits}

    bare_times, bot_times, seen = asyncio.run(through_the_bot())
    bare_median, bot_median = statistics.median(bare_times), statistics.median(bot_times)
    ratio = bot_median / bare_median
    report = harness.Report(
        "overhead",
        args,
        f"tiny ModelScope pipeline (UNet width {args.unet_width}), {args.size}x{args.size}, "
        f"{args.frames} frames, {args.steps} steps, guidance {args.guidance}, seed {args.seed}; "
        f"torch threads: main {torch.get_num_threads()}, bot worker {seen['worker_threads']}; "
        f"{os.cpu_count()} CPUs; {args.reps} runs per path after one warm-up each; "
        f"bot progress interval {args.progress_interval} s ({seen['edits']} edits in all)",
    )
    report.table(
        "The bot's cost on top of the model (s)",
        ["path", "median s", "min s", "max s"],
        [
            ["bare `pipe(...)` + `encode_mp4`", bare_median, min(bare_times), max(bare_times)],
            ["whole bot (`video_text` → delivered)", bot_median, min(bot_times), max(bot_times)],
            ["**ratio bot / bare**", ratio, None, None],
        ],
        [f"target ≤ 1.05: {harness.verdict(ratio <= 1.05)}"],
    )
    report.finish()


if __name__ == "__main__":
    main()
