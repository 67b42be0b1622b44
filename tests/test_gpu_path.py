"""The GPU path's review bugs (issue #22), each pinned on the CPU with the tiny pipelines: memory
freed before an out-of-memory retry, hook state reset after an aborted call, the settings that
cannot work together refused at start-up, the load-time fallback, the offload device, PAB refused
for Wan, first-block caching per clip, and the warm-up at the owner's shape."""

from __future__ import annotations

import weakref
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch

from bot.core.endings import RunningJob
from bot.core.ports import Encoding, Progress, Started
from bot.domain import RenderParams
from bot.pipelines.registry import TINY_PRESETS
from bot.pipelines.tiny import build_tiny
from bot.render import OutOfMemory, RenderCancelled, Renderer
from bot.rendering.tuning import is_out_of_memory
from bot.settings.bounds import ConfigError
from bot.settings.loading import parse_config
from bot.settings.sections import RenderConfig
from tests.harness.config import SMALL
from tests.harness.core import MakeBot

pytestmark = pytest.mark.usefixtures("renders")  # every test here renders with diffusers


def params(name: str, seed: int, *, frames: int = 0, steps: int = 4, prompt: str = "a cat") -> RenderParams:
    preset = TINY_PRESETS[name]
    return RenderParams(
        prompt, "", seed, frames or preset.frames, steps, preset.guidance, SMALL, SMALL, preset.fps
    )


def denoiser(renderer: Renderer) -> torch.nn.Module:
    module = getattr(renderer.pipe, "transformer", None) or renderer.pipe.unet
    assert isinstance(module, torch.nn.Module)
    return module


def sample_of(args: tuple[Any, ...], kwargs: dict[str, Any]) -> torch.Tensor:
    sample = args[0] if args else kwargs.get("hidden_states", kwargs.get("sample"))
    assert isinstance(sample, torch.Tensor)
    return sample


class TwoBlockRenderer(Renderer):
    """The tiny DiT with two transformer blocks: first-block caching needs a block to skip."""

    def _build(self, device: str) -> Any:
        return build_tiny(self.source, layers=2)


# The tiny presets have 4 steps, where `[render] cache` is off (the few-step rule): the model's own
# `cache` forces it on, so these tests run with the cache on (`cache_is_on` proves it).
CACHED = RenderConfig(cache_threshold=0.5, warmup_steps=0)


def first_block_cached() -> TwoBlockRenderer:
    return TwoBlockRenderer("tiny-wan", tuning=CACHED, model_cache="first-block")


def cache_is_on(renderer: Renderer) -> bool:
    """The transformer carries diffusers' first-block cache (its head block's hook)."""
    transformer: Any = denoiser(renderer)
    registry = getattr(transformer.blocks[0], "_diffusers_hook", None)
    return bool(transformer.is_cache_enabled) and registry is not None and bool(registry.hooks)


# 1: an out-of-memory retry starts with the failed attempt's memory freed -------------------------


def test_the_failed_attempts_tensors_are_gone_when_the_retry_starts() -> None:
    renderer = Renderer("tiny", tuning=RenderConfig(warmup_steps=0))
    renderer.load()
    failed: list[weakref.ref[torch.Tensor]] = []
    alive_at_retry: list[bool] = []

    def allocate_then_fail(module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        if sample_of(args, kwargs).shape[0] > 2:  # a batch of two clips (guidance: two rows a clip)
            activation = torch.ones(1024, 1024)  # what a real forward holds when the allocator fails
            failed.append(weakref.ref(activation))
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        alive_at_retry.append(any(ref() is not None for ref in failed))

    denoiser(renderer).register_forward_pre_hook(allocate_then_fail, with_kwargs=True)
    clips = renderer.render_batch([params("tiny", 1), params("tiny", 2)])
    assert all(clip is not None for clip in clips) and failed and alive_at_retry
    assert not any(alive_at_retry), "the retry ran while the failed call's tensors were still held"


def test_the_lower_mode_retry_also_starts_with_the_memory_freed() -> None:
    renderer = Renderer("tiny", tuning=RenderConfig(warmup_steps=0))
    renderer.load()
    vae = renderer.pipe.vae
    failed: list[weakref.ref[torch.Tensor]] = []
    alive_at_retry: list[bool] = []

    def fail_unless_sliced(module: Any, args: tuple[Any, ...]) -> None:
        if not vae.use_slicing:
            activation = torch.ones(1024, 1024)
            failed.append(weakref.ref(activation))
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 1.00 GiB")
        alive_at_retry.append(any(ref() is not None for ref in failed))

    denoiser(renderer).register_forward_pre_hook(fail_unless_sliced)
    renderer.render(params("tiny", 1))
    assert renderer.memory == "balanced" and alive_at_retry and not any(alive_at_retry)


# 2: an aborted call leaves no hook state behind ------------------------------------------------


def test_a_cancelled_first_block_cached_batch_leaves_no_state_for_the_next_shape() -> None:
    renderer = first_block_cached()
    steps_seen: list[int] = []

    def stop_after_two() -> bool:
        return len(steps_seen) >= 2

    with pytest.raises(RenderCancelled):
        renderer.render(params("tiny-wan", 1), lambda step, total: steps_seen.append(step), stop_after_two)
    other = params("tiny-wan", 2, frames=TINY_PRESETS["tiny-wan"].frames + 4)
    assert cache_is_on(renderer)
    clip = renderer.render(other).frames  # without the reset: a tensor-size error from the stale cache
    fresh = first_block_cached().render(other).frames
    assert np.array_equal(clip, fresh), "the cancelled call's cached residual leaked into this one"


def test_an_out_of_memory_abort_resets_the_cache_hooks_too() -> None:
    renderer = first_block_cached()
    renderer.load()
    assert cache_is_on(renderer)
    calls = [0]

    def fail_from_the_third_call(module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        calls[0] += 1
        if calls[0] >= 3:  # mid-render, and again on any retry (another model may give way first)
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 1.00 GiB")

    handle = denoiser(renderer).register_forward_pre_hook(fail_from_the_third_call, with_kwargs=True)
    renderer.memory = "low"  # the lowest mode: no retry, the error reaches the caller
    with pytest.raises(OutOfMemory):
        renderer.render(params("tiny-wan", 1))
    handle.remove()
    other = params("tiny-wan", 2, frames=TINY_PRESETS["tiny-wan"].frames + 4)
    assert renderer.render(other).frames.shape[0] == other.frames


# 3: settings that cannot render together are refused; a fallback never makes a compiled model unfit


@pytest.mark.parametrize(
    ("render", "message"),
    [
        (
            {"compile": True, "cache": "first-block"},
            '[render] compile = true cannot be combined with cache = "first-block"',
        ),
        ({"compile": True, "cache": "pab"}, '[render] compile = true cannot be combined with cache = "pab"'),
        (
            {"compile": True, "memory": "low"},
            '[render] compile = true cannot be combined with memory = "low"',
        ),
    ],
)
def test_compile_with_cache_or_low_memory_is_refused_at_start_up(
    render: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config({"model": {"id": "tiny-wan"}, "render": render}, "config.toml", {})
    text = str(error.value)
    assert text.startswith(f"config.toml: {message}") and "\n" not in text
    with pytest.raises(ValueError, match="cannot be combined"):  # and by a renderer built without config
        Renderer("tiny-wan", tuning=RenderConfig(**render))


def test_a_compiled_model_never_falls_back_to_low_memory() -> None:
    renderer = Renderer("tiny-wan", tuning=RenderConfig(compile=True, memory="balanced", warmup_steps=0))
    renderer.load()

    def fail(module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 1.00 GiB")

    denoiser(renderer).register_forward_pre_hook(fail, with_kwargs=True)  # before any compiled block
    with pytest.raises(OutOfMemory, match="fewer frames"):
        renderer.render(params("tiny-wan", 1))
    assert renderer.memory == "balanced", "low's FP8 hooks would break every compiled render after it"


# 4 and 5: out of memory while loading falls back; offload goes to the configured device -----------


class PlacedRenderer(Renderer):
    """A tiny pipeline on a named device, its placement calls recorded and failing as configured:
    how loading places a model on a GPU, checked on a machine without one."""

    def __init__(self, device: str, memory: str = "fast", fits: Any = lambda mode, offload: True) -> None:
        super().__init__("placed", device=device, preset=TINY_PRESETS["tiny-wan"],
                         tuning=RenderConfig(memory=memory, warmup_steps=0))  # fmt: skip
        self.fits = fits
        self.placements: list[tuple[str, Any]] = []

    def _build(self, device: str) -> Any:
        pipe = build_tiny("tiny-wan")
        to = pipe.to

        def place(target: str, *args: Any, **kwargs: Any) -> Any:
            self.placements.append(("to", target))
            if not self.fits(self.memory, False):
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 9.00 GiB")
            return to("cpu")  # no GPU here: the tensors stay on the CPU

        def offload(gpu_id: Any = None, device: Any = None) -> None:
            self.placements.append(("offload", device))
            if not self.fits(self.memory, True):
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 11.00 GiB")

        pipe.to = place
        pipe.enable_model_cpu_offload = offload
        return pipe


def test_offload_goes_to_the_configured_gpu() -> None:
    renderer = PlacedRenderer("cuda:1", memory="low")
    renderer.load()
    assert renderer.placements == [("offload", "cuda:1")], "without a device, diffusers offloads onto GPU 0"
    assert renderer.offloaded


def test_a_model_too_big_for_the_gpu_loads_with_offload_then_in_a_lower_mode() -> None:
    renderer = PlacedRenderer("cuda:1", fits=lambda mode, offload: offload and mode != "fast")
    renderer.load()
    assert renderer.placements == [("to", "cuda:1"), ("offload", "cuda:1"), ("offload", "cuda:1")]
    assert renderer.offloaded and renderer.memory == "balanced" and renderer.pipe.vae.use_slicing


def test_a_model_too_big_for_the_cpu_loads_in_a_lower_mode() -> None:
    renderer = PlacedRenderer("cpu", fits=lambda mode, offload: mode == "low")
    renderer.load()
    assert renderer.memory == "low" and not renderer.offloaded
    assert renderer.render(params("tiny-wan", 1)).frames.shape[0] == TINY_PRESETS["tiny-wan"].frames


def test_a_model_that_fits_nowhere_says_so_in_one_line() -> None:
    from bot.render import ModelUnavailable

    renderer = PlacedRenderer("cuda:1", fits=lambda mode, offload: False)
    with pytest.raises(ModelUnavailable, match="does not fit in memory even with memory mode 'low'") as error:
        renderer.load()
    assert "\n" not in str(error.value) and renderer.pipe is None


# 6: PAB is refused for Wan ----------------------------------------------------------------------


def test_pab_is_refused_for_wan_at_start_up_and_renders_uncached_if_found_later() -> None:
    with pytest.raises(ConfigError, match=r'\[render\] cache = "pab" does not work for Wan'):
        parse_config({"model": {"id": "tiny-wan"}, "render": {"cache": "pab"}}, "config.toml", {})
    parse_config(
        {"model": {"id": "tiny-ltx"}, "render": {"cache": "pab"}}, "config.toml", {}
    )  # one call a step
    from bot.rendering.tuning import apply_step_cache

    pipe = build_tiny("tiny-wan", layers=2)
    apply_step_cache(pipe, "wan", RenderConfig(cache="pab"))
    assert not pipe.transformer.is_cache_enabled
    ltx = build_tiny("tiny-ltx", layers=2)
    apply_step_cache(ltx, "ltx", RenderConfig(cache="pab"))
    assert ltx.transformer.is_cache_enabled


# 7: first-block caching renders each clip alone -------------------------------------------------


def test_a_first_block_cached_batch_equals_each_clips_solo_render() -> None:
    renderer = first_block_cached()
    batch = [
        params("tiny-wan", seed, prompt=prompt) for seed, prompt in ((1, "a cat"), (2, "a storm at sea"))
    ]
    together = [None if c is None else c.frames for c in renderer.render_batch(batch)]
    alone = [first_block_cached().render(p).frames for p in batch]
    assert cache_is_on(renderer)
    for clip, solo in zip(together, alone, strict=True):
        assert clip is not None and np.array_equal(clip, solo)
    assert renderer.batch_limit() == 1


def test_one_rule_for_caches_and_batches_whichever_section_sets_the_cache() -> None:
    """A cache that decides per call renders one clip per call; a model whose cache is off batches."""
    many = RenderConfig(cache="first-block", max_batch=4, warmup_steps=0)
    config = parse_config({"model": {"id": "tiny-wan"}, "render": {"cache": "first-block", "max_batch": 4}},
                          "config.toml", {})  # fmt: skip
    assert config.render.max_batch == 4  # not refused: the renderer applies the one rule
    own = TwoBlockRenderer("tiny-wan", tuning=RenderConfig(max_batch=4), model_cache="first-block")
    assert own.step_cache == "first-block" and own.batch_limit() == 1  # [models.X] cache
    few_step = Renderer("tiny-wan", tuning=many)  # 4 steps: [render] cache is off for it
    assert few_step.step_cache == "off" and few_step.batch_limit() == 4
    steps = replace(TINY_PRESETS["tiny-wan"], steps=30)
    assert Renderer("tiny-wan", tuning=many, preset=steps).batch_limit() == 1  # [render] cache, on


# 8: the warm-up renders the owner's shape; allocation failures of cuBLAS/cuDNN; ETA after loading


class WatchedRenderer(Renderer):
    """Records the token count of every transformer call from the moment the pipeline is built."""

    tokens: list[int]

    def _build(self, device: str) -> Any:
        pipe = super()._build(device)
        self.tokens = []
        pipe.transformer.register_forward_pre_hook(
            lambda module, args, kwargs: self.tokens.append(int(kwargs["hidden_states"].numel())),
            with_kwargs=True,
        )
        return pipe


def test_the_warm_up_renders_the_models_configured_shape() -> None:
    config = parse_config(
        {"models": {"small": {"id": "tiny-ltx", "width": 96, "height": 64, "default_frames": 17}},
         "render": {"warmup_steps": 1}},
        "config.toml", {},
    )  # fmt: skip
    settings = config.model_settings["small"]
    renderer = WatchedRenderer.for_model(settings, config.render)
    warm = renderer.warmup_params()
    assert (warm.frames, warm.width, warm.height) == (17, 96, 64)
    renderer.load()
    at_warm_up = list(renderer.tokens)
    renderer.tokens.clear()
    renderer.render(replace_steps(warm, 1))
    assert at_warm_up == renderer.tokens, "the first real job's shape was not the warm-up's"


def replace_steps(p: RenderParams, steps: int) -> RenderParams:
    from dataclasses import replace

    return replace(p, prompt="a real job", steps=steps)


@pytest.mark.parametrize(
    "words",
    [
        "CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`",
        "cuDNN error: CUDNN_STATUS_ALLOC_FAILED",
        "CUDA out of memory. Tried to allocate 20.00 MiB",
    ],
)
def test_cublas_and_cudnn_allocation_failures_count_as_out_of_memory(words: str) -> None:
    assert is_out_of_memory(RuntimeError(words))
    assert not is_out_of_memory(RuntimeError("CUDA error: an illegal memory access was encountered"))


@pytest.mark.asyncio
async def test_eta_timing_leaves_out_the_models_load(
    make_bot: MakeBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.core.eta as eta_module

    now = [0.0]
    monkeypatch.setattr(eta_module, "time", SimpleNamespace(monotonic=lambda: now[0]))
    bot = await make_bot(worker=False)
    job = await bot.video("a cat --frames 8 --steps 3")
    eta = bot.service.rooms.eta
    eta.running.jobs[job.id] = RunningJob(job)
    eta.on_event(Started(job.id))
    now[0] += 100.0  # a model switch: loading and compiling
    for step in (1, 2, 3):
        now[0] += 1.0
        eta.on_event(Progress(job.id, step, 3))
    eta.on_event(Encoding(job.id))
    assert bot.store.timings.get("tiny:64x64:8f:b1") == pytest.approx(1.0), "1 s a step, not (100 + 3) / 3"
