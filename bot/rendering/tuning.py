"""`[render]` tuning applied to a loaded pipeline: memory modes, step caching, compiling; and
how an out-of-memory error is recognised and what to lower after it."""

from __future__ import annotations

import gc
import logging
import os
import weakref
from collections.abc import Callable
from typing import Any

from bot.domain import RenderParams
from bot.pipelines.registry import FAMILIES
from bot.rendering.errors import _first_line
from bot.settings.sections import MEMORY_MODES, RenderConfig

log = logging.getLogger(__name__)

# How an allocation failure reads when it is not the caching allocator's own OutOfMemoryError:
# cuBLAS and cuDNN allocate their workspaces themselves and fail with their status names.
OUT_OF_MEMORY_SIGNS = (
    "out of memory",
    "cublas_status_alloc_failed",
    "cudnn_status_alloc_failed",
    "cudnn_status_not_enough_workspace",
    "cufft_alloc_failed",
)


def lower_memory_mode(mode: str) -> str | None:
    """The next mode that saves memory, or None from the lowest."""
    index = MEMORY_MODES.index(mode)
    return MEMORY_MODES[index + 1] if index + 1 < len(MEMORY_MODES) else None


def is_out_of_memory(error: BaseException) -> bool:
    """CUDA's allocator error, the host's MemoryError, or a RuntimeError that reports an allocation
    failure (a backend's "out of memory", cuBLAS's or cuDNN's failed workspace allocation)."""
    import torch

    if isinstance(error, torch.OutOfMemoryError | MemoryError):
        return True
    words = str(error).lower()
    return isinstance(error, RuntimeError) and any(sign in words for sign in OUT_OF_MEMORY_SIGNS)


def out_of_memory_advice(mode: str, params: RenderParams) -> str:
    """For the owner's log (the user's message is messages.py's): what to lower, in order."""
    return (
        f"out of memory for {params.frames} frames at {params.width}x{params.height} even in memory "
        f'mode {mode!r}: try fewer frames or a smaller size, or set [render] memory = "low" '
        "and a smaller [render] max_batch"
    )


DENOISERS = ("transformer", "transformer_2", "unet")  # transformer_2: Wan 2.2 A14B's low-noise expert


def denoisers(pipe: Any) -> list[Any]:
    """Every denoiser a pipeline has: tuning (FP8 storage, step caches, compiling) reaches each."""
    return [module for name in DENOISERS if (module := getattr(pipe, name, None)) is not None]


def apply_memory_mode(
    pipe: Any, mode: str, device: str, *, offloaded: bool = False, tiling: bool = False
) -> None:
    """fast: as loaded (the preset's half dtypes on a GPU, PyTorch SDPA attention, diffusers' default);
    balanced: + VAE slicing and tiling (decode one clip, one tile at a time); low: + FP8 storage of
    the denoiser's weights (computed in its own dtype) and, on a GPU, model CPU offload onto
    `device` (only the component at work is on the GPU).  The text encoder keeps its dtype: the
    pipelines take their latents' or embeddings' dtype from it.
    On the CPU, slicing and tiling apply as on a GPU, FP8 storage too; offload is moot there.
    `tiling`: the checkpoint decodes in tiles in every mode (LTX 0.9.7/0.9.8 distilled)."""
    import torch

    if mode not in MEMORY_MODES:
        raise ValueError(f"unknown memory mode {mode!r}")
    vae = getattr(pipe, "vae", None)
    if tiling and vae is not None and hasattr(vae, "enable_tiling"):
        vae.enable_tiling()
    if mode == "fast":
        return
    for switch in ("enable_slicing", "enable_tiling"):
        if vae is not None and hasattr(vae, switch):
            getattr(vae, switch)()
    if mode != "low":
        return
    fp8 = getattr(torch, "float8_e4m3fn", None)
    if fp8 is not None:
        for denoiser in denoisers(pipe):
            _store_in_fp8(denoiser, fp8)
    if device.startswith("cuda") and not offloaded:
        pipe.enable_model_cpu_offload(device=device)


def _store_in_fp8(module: Any, fp8: Any) -> None:
    """Keep a diffusers model's weights in FP8, cast up layer by layer as it runs (it knows which
    layers to skip: norms, embeddings, its float32 ones)."""
    if module is None or not hasattr(module, "enable_layerwise_casting"):
        return
    try:
        module.enable_layerwise_casting(storage_dtype=fp8, compute_dtype=module.dtype)
    except Exception as error:  # an unusual layer type: keep its weights as they are
        log.warning("FP8 weight storage does not apply here: %s", _first_line(error))


def apply_step_cache(pipe: Any, family: str, tuning: RenderConfig) -> None:
    """`[render] cache`: reuse a step's transformer output while it barely changes (DiT families);
    each expert of a two-transformer model gets its own cache."""
    if tuning.cache == "off":
        return
    for transformer in [getattr(pipe, name, None) for name in ("transformer", "transformer_2")]:
        if transformer is not None:
            _cache_transformer(pipe, transformer, family, tuning)


def _cache_transformer(pipe: Any, transformer: Any, family: str, tuning: RenderConfig) -> None:
    facts = FAMILIES.get(family)
    if facts is None or not facts.step_caches or not hasattr(transformer, "enable_cache"):
        log.warning("[render] cache = %r applies to Wan, LTX and CogVideoX only; %s renders uncached",
                    tuning.cache, family)  # fmt: skip
        return
    if tuning.cache == "pab" and facts.guidance_pass_apart:  # start-up refuses it; a folder found so here
        log.warning("[render] cache = 'pab' does not work for Wan (two transformer calls a step); uncached")
        return
    from diffusers import FirstBlockCacheConfig, PyramidAttentionBroadcastConfig

    config: Any
    blocks = getattr(transformer, "transformer_blocks", None) or getattr(transformer, "blocks", None) or ()
    if tuning.cache == "first-block" and len(blocks) < 2:
        log.warning("first-block cache needs a transformer of two blocks or more; rendering uncached")
        return
    if tuning.cache == "first-block":
        config = FirstBlockCacheConfig(threshold=tuning.cache_threshold)
    else:
        config = PyramidAttentionBroadcastConfig(
            spatial_attention_block_skip_range=2,
            spatial_attention_timestep_skip_range=(100, 800),
            current_timestep_callback=lambda: pipe.current_timestep,
        )
    transformer.enable_cache(config)


def compile_denoiser(pipe: Any, **options: Any) -> None:
    """`[render] compile`: torch.compile the denoiser, its repeated blocks alone where the model
    names them (Wan, LTX: compiled once, reused by every block); compiling happens at the warm-up.
    `options` go to torch.compile (the benchmark's CPU dry run uses the `eager` backend)."""
    for denoiser in denoisers(pipe):
        if getattr(denoiser, "_repeated_blocks", None):
            denoiser.compile_repeated_blocks(fullgraph=True, **options)
        else:
            denoiser.compile(**options)


def cpu_render_threads(configured: int = 0) -> int:
    """Torch threads for CPU renders: as configured, else every core but one.

    The spare core is the event loop's: with all cores spinning in OpenMP, chats are
    answered seconds late and Discord's gateway falls behind.
    """
    if configured > 0:
        return configured
    return max(1, (os.cpu_count() or 1) - 1)


# What else in this process holds memory it can give back when a video model runs out (the prompt
# writer, on the same kind of device): asked first, before a render or a load settles for less.
# Weak references: a giver that is gone is dropped, never kept alive by this list.
_GIVERS: list[weakref.WeakMethod[Callable[[str], bool]]] = []


def gives_way_under_memory_pressure(give: Callable[[str], bool]) -> None:
    """Register `give(device_kind)` ("cuda" or "cpu"): free what you hold there; True if you did."""
    _GIVERS[:] = [ref for ref in _GIVERS if ref() is not None]
    _GIVERS.append(weakref.WeakMethod(give))


def make_room(device_kind: str) -> bool:
    """Ask every registered giver to free its memory on `device_kind`; True if one did (then the
    memory is handed back, and the caller may try again as it was)."""
    gave = False
    for ref in list(_GIVERS):
        give = ref()
        if give is not None and give(device_kind):
            gave = True
    if gave:
        release_memory()
    return gave


def release_memory() -> None:
    """Collect what a failed call left (its tensors sit in reference cycles) and hand the allocator's
    cached blocks back, so a retry starts from the resident weights alone."""
    gc.collect()
    _free_gpu()


def reset_after_abort(pipe: Any) -> None:
    """What diffusers does only at the end of a call that finishes (`maybe_free_model_hooks`): reset
    the cache hooks' state (a cached residual of the aborted shape) and put offloaded models back
    on the CPU.  Called after a cancel or an out-of-memory."""
    try:
        pipe.maybe_free_model_hooks()
    except Exception as error:  # never hide the abort's own error behind this one
        log.warning("could not reset the pipeline's hooks after an aborted call: %s", _first_line(error))


def _free_gpu() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
