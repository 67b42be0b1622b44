"""Render speed on the tiny pipelines: batches equal solo renders per seed, cancel inside a batch,
out-of-memory splitting and the memory-mode fallback (a real allocator error raised from inside
the real pipeline), step caching for the DiT families, and the warm-up after loading."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from bot.app import build_service
from bot.core.ports import Cancelled, Failed, FailureKind, Progress, Rendered, RenderEvent, RenderJob
from bot.dispatch.local import LocalBackend
from bot.domain import JobStatus, RenderParams, UserRef
from bot.pipelines.registry import TINY_PRESETS
from bot.pipelines.tiny import build_tiny
from bot.render import OutOfMemory, Renderer, apply_step_cache
from bot.settings.bounds import ConfigError
from bot.settings.loading import parse_config
from bot.settings.sections import RenderConfig, VideoConfig
from tests.harness.config import SMALL, MakeConfig
from tests.harness.core import ALICE, BOB, CAROL, PLATFORM, MakeBot
from tests.harness.media import decode
from tests.harness.polling import eventually

TEXT_MODELS = [name for name, preset in TINY_PRESETS.items() if preset.modes.text]  # picture-only: elsewhere

pytestmark = pytest.mark.usefixtures("renders")  # every test here renders with diffusers

FP_TOLERANCE = 2  # uint8 levels: a batched matmul may round differently from a lone one


def params(name: str, prompt: str, seed: int, negative: str = "", steps: int = 3) -> RenderParams:
    preset = TINY_PRESETS[name]
    return RenderParams(
        prompt, negative, seed, preset.frames, steps, preset.guidance, SMALL, SMALL, preset.fps
    )


def tiny_job(job_id: int, job_params: RenderParams) -> RenderJob:
    """A job for the tiny model, as the core hands it over: its name and its clips' identity."""
    return RenderJob(job_id, "tiny", job_params, TINY_PRESETS["tiny"].identity("tiny", "tiny"))


def denoiser(renderer: Renderer) -> torch.nn.Module:
    pipe = renderer.pipe
    module = getattr(pipe, "transformer", None) or pipe.unet
    assert isinstance(module, torch.nn.Module)
    return module


def batch_sizes(renderer: Renderer) -> list[int]:
    """The batch axis of every denoiser call from now on (classifier-free guidance doubles it)."""
    sizes: list[int] = []

    def record(module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        sample = (
            args[0] if args else kwargs["hidden_states"] if "hidden_states" in kwargs else kwargs["sample"]
        )
        sizes.append(int(sample.shape[0]))

    denoiser(renderer).register_forward_pre_hook(record, with_kwargs=True)
    return sizes


def run_out_of_memory_above(renderer: Renderer, clips: int) -> None:
    """The allocator fails (as CUDA's does) once the denoiser is called for more than `clips`."""

    def check(module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        sample = (
            args[0] if args else kwargs["hidden_states"] if "hidden_states" in kwargs else kwargs["sample"]
        )
        if sample.shape[0] > 2 * clips:  # classifier-free guidance: two rows a clip
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    denoiser(renderer).register_forward_pre_hook(check, with_kwargs=True)


@pytest.mark.parametrize("name", TEXT_MODELS)
def test_each_clip_of_a_batch_equals_its_solo_render_for_its_seed(name: str) -> None:
    renderer = Renderer(name, tuning=RenderConfig(warmup_steps=0))
    batch = [params(name, "a cat", 1, "blurry"), params(name, "a dog", 2), params(name, "a cat", 3)]
    alone = [renderer.render(p).frames for p in batch]
    sizes = batch_sizes(renderer)
    together = [None if c is None else c.frames for c in renderer.render_batch(batch)]
    assert set(sizes) == {6} or set(sizes) == {3}, f"one call for all three clips, saw {sizes}"
    for solo, batched in zip(alone, together, strict=True):
        assert batched is not None and batched.shape == solo.shape
        assert np.abs(batched.astype(int) - solo).max() <= FP_TOLERANCE
    assert np.abs(alone[0].astype(int) - alone[2]).max() > FP_TOLERANCE, "seeds must matter"


def test_a_batch_of_mixed_shapes_is_refused() -> None:
    renderer = Renderer("tiny", tuning=RenderConfig(warmup_steps=0))
    with pytest.raises(ValueError, match="one shape"):
        renderer.render_batch([params("tiny", "a", 1), params("tiny", "b", 2, steps=4)])


def test_an_out_of_memory_batch_is_split_and_each_clip_still_equals_its_solo_render() -> None:
    renderer = Renderer("tiny", tuning=RenderConfig(warmup_steps=0))
    batch = [params("tiny", f"clip {i}", i) for i in range(3)]
    alone = [renderer.render(p).frames for p in batch]
    run_out_of_memory_above(renderer, 1)
    sizes = batch_sizes(renderer)
    clips = [None if c is None else c.frames for c in renderer.render_batch(batch)]
    assert sizes[0] == 2, "each lone clip's call after the batch of 3, then of 2, ran out"
    for solo, clip in zip(alone, clips, strict=True):
        assert clip is not None and np.abs(clip.astype(int) - solo).max() <= FP_TOLERANCE
    assert renderer.memory == "fast", "splitting was enough: the memory mode stays"


def test_out_of_memory_alone_retries_once_in_the_next_lower_memory_mode() -> None:
    renderer = Renderer("tiny", tuning=RenderConfig(warmup_steps=0))
    renderer.load()
    vae = renderer.pipe.vae

    def fails_unless_sliced(module: Any, args: tuple[Any, ...]) -> None:
        if not vae.use_slicing:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 1.00 GiB")

    denoiser(renderer).register_forward_pre_hook(fails_unless_sliced)
    clip = renderer.render(params("tiny", "a cat", 1)).frames
    assert clip.shape == (8, SMALL, SMALL, 3)
    assert renderer.memory == "balanced" and vae.use_slicing and vae.use_tiling


def test_out_of_memory_in_the_lowest_mode_tells_which_setting_to_lower() -> None:
    renderer = Renderer("tiny", tuning=RenderConfig(memory="balanced", warmup_steps=0))
    renderer.load()
    run_out_of_memory_above(renderer, 0)
    with pytest.raises(OutOfMemory, match="fewer frames"):
        renderer.render(params("tiny", "a cat", 1))
    assert renderer.memory == "low", "it was retried once in the next mode"


@pytest.mark.parametrize("mode", ["balanced", "low"])
def test_the_lower_memory_modes_render_on_the_cpu(mode: str) -> None:
    fast = Renderer("tiny-wan", tuning=RenderConfig(warmup_steps=0)).render(params("tiny-wan", "a", 4)).frames
    lower = Renderer("tiny-wan", tuning=RenderConfig(memory=mode, warmup_steps=0))
    clip = lower.render(params("tiny-wan", "a", 4)).frames
    assert clip.shape == fast.shape and lower.pipe.vae.use_slicing
    if mode == "low":  # FP8 weight storage: close to full precision, not equal
        assert lower.pipe.transformer.blocks[0].attn1.to_q.weight.dtype == torch.float8_e4m3fn


@pytest.mark.parametrize(
    ("name", "cache"),
    [(name, cache) for name in ("tiny-wan", "tiny-ltx", "tiny-cogvideox") for cache in ("first-block", "pab")
     if (name, cache) != ("tiny-wan", "pab")],  # PAB is refused for Wan (tests/test_gpu_path.py)
)  # fmt: skip
def test_step_caching_skips_transformer_work_and_a_seed_still_reproduces(name: str, cache: str) -> None:
    tuning = RenderConfig(cache=cache, cache_threshold=0.5, warmup_steps=0)
    family = TINY_PRESETS[name].family.name
    counts: dict[str, int] = {}
    for mode in ("off", cache):
        renderer = Renderer(name, tuning=RenderConfig(warmup_steps=0))
        renderer.load()
        renderer.pipe = build_tiny(name, layers=2)  # first-block caching needs two blocks
        renderer.pipe.set_progress_bar_config(disable=True)
        if mode != "off":
            apply_step_cache(renderer.pipe, family, tuning)
        blocks = (
            getattr(renderer.pipe.transformer, "transformer_blocks", None) or renderer.pipe.transformer.blocks
        )
        counts[mode] = 0

        def count(*_: Any) -> None:
            counts[mode] += 1  # noqa: B023 (read right after this render)

        blocks[-1].attn1.to_q.register_forward_pre_hook(count)
        first = renderer.render(params(name, "a cat", 7, steps=8)).frames
        again = renderer.render(params(name, "a cat", 7, steps=8)).frames
        assert np.array_equal(first, again), "cache state must not leak between renders"
    assert counts[cache] < counts["off"], counts


def test_cache_set_for_modelscope_renders_uncached() -> None:
    clip = (
        Renderer("tiny", tuning=RenderConfig(cache="first-block", warmup_steps=0))
        .render(params("tiny", "a", 1))
        .frames
    )
    assert clip.shape == (8, SMALL, SMALL, 3)


def test_loading_warms_the_model_and_says_how_long_it_took() -> None:
    renderer = Renderer("tiny-ltx", tuning=RenderConfig(warmup_steps=2))
    renderer.load()
    assert renderer.load_s is not None and renderer.load_s > 0
    assert renderer.warmup_s is not None and renderer.warmup_s > 0
    cold = Renderer("tiny-ltx", tuning=RenderConfig(warmup_steps=0))
    cold.load()
    assert cold.warmup_s is None


class WatchedRenderer(Renderer):
    """Records the denoiser's batch sizes from the moment the pipeline is built (the warm-up too)."""

    sizes: list[int]

    def _build(self, device: str) -> Any:
        pipe = super()._build(device)
        self.sizes = []
        pipe.transformer.register_forward_pre_hook(
            lambda module, args, kwargs: self.sizes.append(int(kwargs["hidden_states"].shape[0])),
            with_kwargs=True,
        )
        return pipe


def test_the_warm_up_renders_a_lone_clip_and_a_full_batch() -> None:
    renderer = WatchedRenderer("tiny-ltx", tuning=RenderConfig(max_batch=3, warmup_steps=2))
    renderer.load()
    assert renderer.sizes == [2, 2, 6, 6], "two steps alone, two steps of three clips (guidance doubles)"


# through the local backend ----------------------------------------------------------------------


class Run:
    """A LocalBackend serving in the background, its events recorded."""

    def __init__(self, renderer: Renderer, clips: Path) -> None:
        self.backend = LocalBackend(renderer, clips, VideoConfig(), model_retry_s=5)
        self.events: list[RenderEvent] = []
        self.on_event: list[Any] = []
        self.task: asyncio.Task[None] | None = None

    def sink(self, event: RenderEvent) -> None:
        self.events.append(event)
        for hook in self.on_event:
            hook(event)

    async def __aenter__(self) -> Run:
        self.task = asyncio.create_task(self.backend.run(self.sink))
        await eventually(lambda: self.backend.loaded, what="the model loaded")
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.backend.stop()
        assert self.task is not None
        await asyncio.wait_for(self.task, 30)

    def ended(self, job_id: int) -> RenderEvent | None:
        return next(
            (e for e in self.events if isinstance(e, Rendered | Cancelled | Failed) and e.job_id == job_id),
            None,
        )

    def steps(self, job_id: int) -> list[int]:
        return [e.step for e in self.events if isinstance(e, Progress) and e.job_id == job_id]


@pytest.mark.asyncio
async def test_jobs_handed_over_together_render_in_one_call_each_with_progress_and_its_clip(
    tmp_path: Path,
) -> None:
    renderer = Renderer("tiny", tuning=RenderConfig(max_batch=3, batch_wait_ms=5000, warmup_steps=1))
    async with Run(renderer, tmp_path) as run:
        assert run.backend.free_slots() == 3
        sizes = batch_sizes(renderer)
        for job_id in (1, 2, 3):
            run.backend.submit(tiny_job(job_id, params("tiny", f"clip {job_id}", job_id)))
        await eventually(lambda: all(run.ended(j) for j in (1, 2, 3)), what="all three ended")
        ends = [run.ended(j) for j in (1, 2, 3)]
        assert all(isinstance(end, Rendered) for end in ends), ends
        assert sizes == [6, 6, 6], "three clips, one call a step"
        for job_id, end in zip((1, 2, 3), ends, strict=True):
            assert run.steps(job_id) == [1, 2, 3]
            assert isinstance(end, Rendered)
            assert decode(Path(end.clip.path).read_bytes()).frames == 8
        assert "tiny" in run.backend.warmth() and run.backend.warmth()["tiny"]["warmup_s"]


@pytest.mark.asyncio
async def test_a_lone_job_renders_alone_and_another_shape_waits_for_its_own_call(tmp_path: Path) -> None:
    renderer = Renderer("tiny", tuning=RenderConfig(max_batch=4, batch_wait_ms=50, warmup_steps=0))
    async with Run(renderer, tmp_path) as run:
        sizes = batch_sizes(renderer)
        run.backend.submit(tiny_job(1, params("tiny", "lone", 1)))
        await eventually(lambda: run.ended(1), what="the lone job rendered")
        run.backend.submit(tiny_job(2, params("tiny", "three steps", 2)))
        run.backend.submit(tiny_job(3, params("tiny", "two steps", 3, steps=2)))
        await eventually(lambda: run.ended(2) and run.ended(3), what="both rendered")
        assert all(isinstance(run.ended(j), Rendered) for j in (1, 2, 3))
        assert sizes == [2] * 3 + [2] * 3 + [2] * 2, "no batch across shapes"


@pytest.mark.asyncio
async def test_cancelling_one_job_of_a_batch_drops_its_clip_and_the_rest_go_on(tmp_path: Path) -> None:
    renderer = Renderer("tiny", tuning=RenderConfig(max_batch=2, batch_wait_ms=5000, warmup_steps=0))
    async with Run(renderer, tmp_path) as run:
        run.on_event.append(
            lambda e: (
                run.backend.cancel(1) if isinstance(e, Progress) and (e.job_id, e.step) == (1, 1) else None
            )
        )
        run.backend.submit(tiny_job(1, params("tiny", "cancelled", 1, steps=5)))
        run.backend.submit(tiny_job(2, params("tiny", "kept", 2, steps=5)))
        await eventually(lambda: run.ended(1) and run.ended(2), what="both ended")
        assert isinstance(run.ended(1), Cancelled)
        kept = run.ended(2)
        assert isinstance(kept, Rendered) and run.steps(2) == [1, 2, 3, 4, 5]
        assert not (tmp_path / "1.mp4").exists()


@pytest.mark.asyncio
async def test_a_batch_out_of_memory_even_alone_fails_each_job_as_out_of_memory(tmp_path: Path) -> None:
    renderer = Renderer("tiny", tuning=RenderConfig(max_batch=2, batch_wait_ms=5000, warmup_steps=0))
    async with Run(renderer, tmp_path) as run:
        run_out_of_memory_above(renderer, 0)
        run.backend.submit(tiny_job(1, params("tiny", "a", 1)))
        run.backend.submit(tiny_job(2, params("tiny", "b", 2)))
        await eventually(lambda: run.ended(1) and run.ended(2), what="both ended")
        for job_id in (1, 2):
            end = run.ended(job_id)
            assert isinstance(end, Failed) and end.kind is FailureKind.OUT_OF_MEMORY
            assert "fewer frames" in end.detail and "Traceback" not in end.detail


# ETA per shape (model, size, frames, batch) ------------------------------------------------------


@pytest.mark.asyncio
async def test_a_batch_through_the_bot_is_timed_under_its_batch_size_and_both_clips_are_done(
    make_bot: MakeBot,
) -> None:
    renderer = Renderer("tiny", tuning=RenderConfig(max_batch=2, batch_wait_ms=5000, warmup_steps=0))
    renderer.load()
    bot = await make_bot(renderer=renderer)
    sizes = batch_sizes(renderer)
    first = await bot.video("a cat --steps 3")
    second = await bot.video("a dog --steps 3", user=BOB)
    await bot.until_status(first.id, JobStatus.DONE)
    await bot.until_status(second.id, JobStatus.DONE)
    assert sizes == [4, 4, 4], "the two users' clips shared each step's call"
    assert bot.store.timings.get("tiny:64x64:8f:b2") is not None
    assert bot.store.timings.get("tiny:64x64:8f:b1") is None


@pytest.mark.asyncio
async def test_waiting_jobs_are_costed_at_the_batch_size_timed_for_their_shape(make_bot: MakeBot) -> None:
    bot = await make_bot(worker=False)
    bot.store.timings.record("tiny:64x64:8f:b1", 3.0)  # one clip of 8 frames: 3 s a step
    bot.store.timings.record("tiny:64x64:8f:b4", 4.0)  # four together: 4 s a step, 1 s a clip
    bot.store.timings.record("tiny:64x64", 1.0)  # per step·frame, for frame counts not timed
    jobs = [
        await bot.video(f"clip {i} --frames 8 --steps 3", user=user)
        for i, user in enumerate((ALICE, BOB, CAROL))
    ]
    assert bot.service.rooms.eta.estimate(jobs[0].id) == (1, 9.0), "alone: 3 steps at 3 s"
    assert bot.service.rooms.eta.estimate(jobs[2].id) == (3, 27.0), (
        "three wait: no batch of three timed, b1 it is"
    )
    fourth = await bot.video("clip 3 --frames 8 --steps 3", user=UserRef(PLATFORM, "4"))
    assert bot.service.rooms.eta.estimate(fourth.id) == (4, 12.0), "four: one batch of 4, 3 steps at 4 s"
    longer = await bot.video("clip 4 --frames 16 --steps 2", user=UserRef(PLATFORM, "5"))
    assert bot.service.rooms.eta.estimate(longer.id) == (5, 12.0 + 32.0), (
        "16 frames untimed: 2 steps × 16 × 1 s"
    )


@pytest.mark.parametrize(
    ("render", "message"),
    [
        ({"memory": "tiny"}, "[render] memory must be one of fast, balanced, low"),
        ({"cache": "on"}, "[render] cache must be one of off, first-block, pab"),
        ({"max_batch": 99}, "[render] max_batch must be 0 (auto) to 32"),
        ({"cache_threshold": 0}, "[render] cache_threshold must be between 0 and 1"),
    ],
)
def test_render_settings_out_of_range_are_named_in_one_line(render: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config({"model": {"id": "tiny"}, "render": render}, "config.toml", {})
    assert str(error.value) == f"config.toml: {message}"


def test_the_configured_render_settings_reach_every_models_renderer(make_config: MakeConfig) -> None:
    config = make_config(render={"max_batch": 3, "memory": "balanced", "cache": "pab", "warmup_steps": 0})
    service = build_service(config)
    renderer = service.backend.renderer  # type: ignore[attr-defined]
    assert renderer.batch_limit() == 3 and renderer.memory == "balanced" and renderer.tuning.cache == "pab"
    service.store.close()


@pytest.mark.parametrize("name", ["tiny", "tiny-wan", "tiny-cogvideox"])
def test_compile_wraps_the_repeated_blocks_of_a_dit_and_the_whole_denoiser_otherwise(name: str) -> None:
    renderer = Renderer(name, tuning=RenderConfig(compile=True, warmup_steps=0))  # no render: no compiling
    renderer.load()
    module = denoiser(renderer)
    blocks = getattr(module, "blocks", None) if name == "tiny-wan" else None
    if blocks is not None:  # Wan names its repeated block: each is compiled, the model itself is not
        assert all(block._compiled_call_impl is not None for block in blocks)
        assert module._compiled_call_impl is None
    else:
        assert module._compiled_call_impl is not None
