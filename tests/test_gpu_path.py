"""The GPU path's review bugs (issue #22), each pinned on the CPU with the tiny pipelines: memory
freed before an out-of-memory retry, hook state reset after an aborted call, the settings that
cannot work together refused at start-up, the load-time fallback, the offload device, PAB refused
for Wan, first-block caching per clip, and the warm-up at the owner's shape."""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np
import pytest
import torch

from bot.config import ConfigError, RenderConfig, parse_config
from bot.core.types import RenderParams
from bot.pipelines.registry import TINY_PRESETS
from bot.pipelines.tiny import build_tiny
from bot.render import OutOfMemory, RenderCancelled, Renderer
from bot.rendering.tuning import is_out_of_memory


def params(name: str, seed: int, *, frames: int = 0, steps: int = 4, prompt: str = "a cat") -> RenderParams:
    preset = TINY_PRESETS[name]
    return RenderParams(
        prompt, "", seed, frames or preset.frames, steps, preset.guidance, 64, 64, preset.fps
    )


def denoiser(renderer: Renderer) -> torch.nn.Module:
    module = getattr(renderer.pipe, "transformer", None) or renderer.pipe.unet
    assert isinstance(module, torch.nn.Module)
    return module


def sample_of(args: tuple[Any, ...], kwargs: dict[str, Any]) -> torch.Tensor:
    return args[0] if args else kwargs.get("hidden_states", kwargs.get("sample"))  # type: ignore[no-any-return]


class TwoBlockRenderer(Renderer):
    """The tiny DiT with two transformer blocks: first-block caching needs a block to skip."""

    def _build(self, device: str) -> Any:
        return build_tiny(self.source, layers=2)


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
    tuning = RenderConfig(cache="first-block", cache_threshold=0.5, warmup_steps=0)
    renderer = TwoBlockRenderer("tiny-wan", tuning=tuning)
    steps_seen: list[int] = []

    def stop_after_two() -> bool:
        return len(steps_seen) >= 2

    with pytest.raises(RenderCancelled):
        renderer.render(params("tiny-wan", 1), lambda step, total: steps_seen.append(step), stop_after_two)
    other = params("tiny-wan", 2, frames=TINY_PRESETS["tiny-wan"].frames + 4)
    clip = renderer.render(other)  # without the reset: a tensor-size error from the stale cache
    fresh = TwoBlockRenderer("tiny-wan", tuning=tuning).render(other)
    assert np.array_equal(clip, fresh), "the cancelled call's cached residual leaked into this one"


def test_an_out_of_memory_abort_resets_the_cache_hooks_too() -> None:
    tuning = RenderConfig(cache="first-block", cache_threshold=0.5, warmup_steps=0)
    renderer = TwoBlockRenderer("tiny-wan", tuning=tuning)
    renderer.load()
    calls = [0]

    def fail_on_the_third_call(module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        calls[0] += 1
        if calls[0] == 3:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 1.00 GiB")

    handle = denoiser(renderer).register_forward_pre_hook(fail_on_the_third_call, with_kwargs=True)
    renderer.memory = "low"  # the lowest mode: no retry, the error reaches the caller
    with pytest.raises(OutOfMemory):
        renderer.render(params("tiny-wan", 1))
    handle.remove()
    other = params("tiny-wan", 2, frames=TINY_PRESETS["tiny-wan"].frames + 4)
    assert renderer.render(other).shape[0] == other.frames
