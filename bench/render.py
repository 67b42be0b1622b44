"""Render speed: the plain diffusers call against the bot's render path, within a time budget.

    python bench/render.py --dry-run                 # every section on the CPU, tiny models (≤ 5 min)
    python bench/render.py --device cuda             # GPU: full-size ModelScope and Wan 2.1 1.3B
    python bench/render.py --device cuda --budget-s 420 --families modelscope wan ltx --json out.json
    python bench/render.py --dry-run --families modes   # every family's every mode (issue #31)

Each family is one section in its own process with a time cap (its share of `--budget-s`); a
section that runs out of time keeps the rounds it finished, and the table is printed whatever
happens.  Inside a section the family's pipeline is built once (one set of weights shared by
every row: first-block caching depends on the weights' values) and each row switches the
bot's tuning on that pipeline (`bot.rendering.tuning`: memory mode, step cache, compile) and
renders through the bot's `Renderer`.  Rows are interleaved over rounds (plain, bot fast,
balanced, compile, caches, batches, plain, …) after one excluded warm-up call each; the
table shows each row's median seconds per clip and its spread ((max − min) / median), with
an explicit device synchronisation around every timed call.  `memory low` (FP8 weights and
model offload) changes the shared weights, so it runs last, after the interleaved rounds.

Columns: s/clip (median), spread, clips/min, activation MB (GPU: peak allocated above the
resident weights during the call; CPU: peak RSS above the call's start), effective TFLOP/s
(the uncached clip's FLOPs ÷ time: what the clip would have needed), achieved TFLOP/s (the
FLOPs really run: for step-cache rows scaled by the transformer blocks that actually ran),
× plain (plain's median ÷ the row's), Δ (largest difference in 0–255 levels: bot rows against
the plain call for the same seed, batch rows against their clips' solo renders), and notes:
compile seconds and graphs compiled during the timed rounds (recompiles), first-block skips
(how often the last block ran in a cache row's call against the uncached call), the offload
device.  After each section: whether unloading freed the weights (compiled ones included).
FLOPs are counted with `FlopCounterMode` on meta twins replaying the shapes the pipeline used.

On a GPU the full-size models are built from their published configs (below, each with its
source) with random weights, each module in the dtype diffusers loads it in (the layers a
model keeps in float32 stay float32): nothing can be downloaded here, and speed does not
depend on the weights' values.  The tokenizers are the tiny ones (tokenising is not timed).
Results go to the table and, as JSON, to `--json`.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode
from torch.utils.hooks import RemovableHandle

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # its sibling render_modes, as a script finds it

from render_modes import HEADER as MODES_HEADER
from render_modes import run_modes
from render_modes import table_line as modes_line

from bot.domain import RenderParams
from bot.pipelines.ltx import LTX_VIDEO
from bot.pipelines.modelscope import MODELSCOPE
from bot.pipelines.registry import TINY_PRESETS
from bot.pipelines.spec import Preset
from bot.pipelines.tiny import build_tiny
from bot.pipelines.wan import WAN21_1_3B
from bot.render import Renderer, cpu_render_threads
from bot.rendering.tuning import apply_memory_mode, apply_step_cache, compile_denoiser
from bot.settings.sections import RenderConfig

H200_BF16_TFLOPS = 790.0  # dense bf16 matrix product, measured on a large GEMM (issue #13)
PROMPT = "a red panda surfing a wave at sunset"
NEGATIVE = "blurry, low quality"

# full-size configs, as published ----------------------------------------------------------------

# damo-vilab/text-to-video-ms-1.7b: unet/config.json (1.411 B parameters)
MODELSCOPE_UNET: dict[str, Any] = dict(
    act_fn="silu",
    attention_head_dim=64,
    block_out_channels=[320, 640, 1280, 1280],
    cross_attention_dim=1024,
    down_block_types=["CrossAttnDownBlock3D"] * 3 + ["DownBlock3D"],
    downsample_padding=1,
    in_channels=4,
    layers_per_block=2,
    norm_eps=1e-05,
    norm_num_groups=32,
    out_channels=4,
    sample_size=32,
    up_block_types=["UpBlock3D"] + ["CrossAttnUpBlock3D"] * 3,
)
# damo-vilab/text-to-video-ms-1.7b: vae/config.json (the Stable Diffusion 1.x/2.x VAE)
MODELSCOPE_VAE: dict[str, Any] = dict(
    act_fn="silu",
    block_out_channels=[128, 256, 512, 512],
    down_block_types=["DownEncoderBlock2D"] * 4,
    in_channels=3,
    latent_channels=4,
    layers_per_block=2,
    norm_num_groups=32,
    out_channels=3,
    sample_size=512,
    up_block_types=["UpDecoderBlock2D"] * 4,
)
# damo-vilab/text-to-video-ms-1.7b: text_encoder/config.json (OpenCLIP ViT-H/14's text tower)
MODELSCOPE_TEXT: dict[str, Any] = dict(
    hidden_size=1024,
    intermediate_size=4096,
    num_attention_heads=16,
    num_hidden_layers=23,
    max_position_embeddings=77,
    vocab_size=49408,
    hidden_act="gelu",
    projection_dim=512,
)
# damo-vilab/text-to-video-ms-1.7b: scheduler/scheduler_config.json
MODELSCOPE_SCHEDULER: dict[str, Any] = dict(
    beta_start=0.00085,
    beta_end=0.012,
    beta_schedule="scaled_linear",
    clip_sample=False,
    set_alpha_to_one=False,
    steps_offset=1,
    num_train_timesteps=1000,
    prediction_type="epsilon",
)
# Wan-AI/Wan2.1-T2V-1.3B-Diffusers: transformer/config.json
WAN_TRANSFORMER: dict[str, Any] = dict(
    patch_size=(1, 2, 2),
    num_attention_heads=12,
    attention_head_dim=128,
    in_channels=16,
    out_channels=16,
    text_dim=4096,
    freq_dim=256,
    ffn_dim=8960,
    num_layers=30,
    cross_attn_norm=True,
    qk_norm="rms_norm_across_heads",
    eps=1e-06,
    rope_max_seq_len=1024,
)
# Wan-AI/Wan2.1-T2V-1.3B-Diffusers: vae/config.json (AutoencoderKLWan's defaults are that config)
WAN_VAE: dict[str, Any] = dict(base_dim=96, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=2)
# Wan-AI/Wan2.1-T2V-1.3B-Diffusers: text_encoder/config.json (umt5-xxl's encoder)
WAN_TEXT: dict[str, Any] = dict(
    d_model=4096,
    d_ff=10240,
    d_kv=64,
    num_heads=64,
    num_layers=24,
    vocab_size=256384,
    feed_forward_proj="gated-gelu",
    relative_attention_num_buckets=32,
    relative_attention_max_distance=128,
    layer_norm_epsilon=1e-06,
)
# Wan-AI/Wan2.1-T2V-1.3B-Diffusers: scheduler/scheduler_config.json
WAN_SCHEDULER: dict[str, Any] = dict(
    prediction_type="flow_prediction", use_flow_sigmas=True, num_train_timesteps=1000, flow_shift=3.0
)
# Lightricks/LTX-Video: transformer/config.json (LTXVideoTransformer3DModel's defaults are that config)
LTX_TRANSFORMER: dict[str, Any] = dict(
    in_channels=128,
    out_channels=128,
    patch_size=1,
    patch_size_t=1,
    num_attention_heads=32,
    attention_head_dim=64,
    cross_attention_dim=2048,
    num_layers=28,
    caption_channels=4096,
)
# Lightricks/LTX-Video: vae/config.json is AutoencoderKLLTXVideo's defaults (0.9.0)
LTX_VAE: dict[str, Any] = {}
# Lightricks/LTX-Video: text_encoder/config.json (google t5-v1_1-xxl's encoder)
LTX_TEXT: dict[str, Any] = dict(
    d_model=4096,
    d_ff=10240,
    d_kv=64,
    num_heads=64,
    num_layers=24,
    vocab_size=32128,
    feed_forward_proj="gated-gelu",
)
# Lightricks/LTX-Video: scheduler/scheduler_config.json
LTX_SCHEDULER: dict[str, Any] = dict(
    use_dynamic_shifting=True,
    base_shift=0.95,
    max_shift=2.05,
    base_image_seq_len=1024,
    max_image_seq_len=4096,
)


def build_full(family: str, device: str, dtype: torch.dtype) -> Any:
    """A full-size pipeline with random weights, built on `device` (`meta`: shapes only)."""
    import diffusers
    import transformers

    from bot.pipelines.tiny import _byte_level_tokenizer, t5_tokenizer

    with torch.device(device):
        if family == "modelscope":
            unet = diffusers.UNet3DConditionModel(**MODELSCOPE_UNET)
            vae = diffusers.AutoencoderKL(**MODELSCOPE_VAE)
            text = transformers.CLIPTextModel(transformers.CLIPTextConfig(**MODELSCOPE_TEXT))
            parts: dict[str, Any] = dict(unet=unet, vae=vae, text_encoder=text)
        elif family == "wan":
            parts = dict(
                transformer=diffusers.WanTransformer3DModel(**WAN_TRANSFORMER),
                vae=diffusers.AutoencoderKLWan(**WAN_VAE),
                text_encoder=transformers.UMT5EncoderModel(transformers.UMT5Config(**WAN_TEXT)),
            )
        elif family == "ltx":
            parts = dict(
                transformer=diffusers.LTXVideoTransformer3DModel(**LTX_TRANSFORMER),
                vae=diffusers.AutoencoderKLLTXVideo(**LTX_VAE),
                text_encoder=transformers.T5EncoderModel(transformers.T5Config(**LTX_TEXT)),
            )
        else:
            raise ValueError(family)
    keep_fp32 = {"vae"} if family == "wan" else set()  # Wan's VAE runs in float32 (its preset)
    for name, module in parts.items():
        module.to(dtype=torch.float32 if name in keep_fp32 else dtype).eval()
        _keep_fp32_modules(module)
    if device == "meta":
        return parts
    # schedulers and tokenizers hold no weights: made outside the device context
    pipe: Any
    if family == "modelscope":
        scheduler: Any = diffusers.DDIMScheduler(**MODELSCOPE_SCHEDULER)
        pipe = diffusers.TextToVideoSDPipeline(
            tokenizer=_byte_level_tokenizer(), scheduler=scheduler, **parts
        )
    elif family == "wan":
        scheduler = diffusers.UniPCMultistepScheduler(**WAN_SCHEDULER)
        pipe = diffusers.WanPipeline(tokenizer=t5_tokenizer(), scheduler=scheduler, **parts)
    else:
        scheduler = diffusers.FlowMatchEulerDiscreteScheduler(**LTX_SCHEDULER)
        pipe = diffusers.LTXPipeline(tokenizer=t5_tokenizer(), scheduler=scheduler, **parts)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _keep_fp32_modules(module: torch.nn.Module) -> None:
    """What `from_pretrained` does and a wholesale `.to(dtype)` undoes: the layers a model names in
    `_keep_in_fp32_modules` (Wan's norms and time embedding, T5's `wo`) back in float32."""
    keep = getattr(module, "_keep_in_fp32_modules", None) or ()
    for name, param in module.named_parameters():
        if any(part in name.split(".") for part in keep):
            param.data = param.data.to(torch.float32)


# what is measured -------------------------------------------------------------------------------

# "modes": every family's every mode, plain beside the bot (bench/render_modes.py, issue #31)
FAMILIES = ("modelscope", "wan", "ltx", "cogvideox", "modes")
GPU_FAMILIES = ("modelscope", "wan", "modes")  # the default GPU sections; LTX when asked for
SHARE = {"modelscope": 1.0, "wan": 2.0, "ltx": 2.0, "cogvideox": 1.0, "modes": 2.0}  # of the budget


@dataclass(frozen=True)
class Case:
    family: str  # modelscope, wan, ltx, cogvideox
    model: str  # the tiny name on the CPU; the preset's hub id on a GPU
    preset: Preset
    params: RenderParams  # one clip's shape; each clip of a batch gets its own seed
    batches: tuple[int, ...]


@dataclass(frozen=True)
class Variant:
    """One row: plain diffusers, or the bot with `tuning` at `batch` clips a call."""

    label: str
    batch: int
    tuning: RenderConfig | None = None  # None: the plain call
    last: bool = False  # changes the shared weights: runs after the interleaved rounds


@dataclass
class Row:
    family: str
    label: str
    batch: int
    times: list[float] = field(default_factory=list)  # seconds a clip, one per round
    act_mb: list[float] = field(default_factory=list)
    s_clip: float | None = None  # the median
    spread: float | None = None  # (max - min) / median
    eff_tflops: float | None = None
    ach_tflops: float | None = None
    ratio: float | None = None  # plain's median / this row's
    delta: int | None = None  # largest level difference against its reference
    delta_vs: str = ""
    notes: list[str] = field(default_factory=list)


def case_for(family: str, device: str, dry: bool) -> Case:
    """The family's shape: the issue's on a GPU (ModelScope 16×256²×25 steps, Wan 33×480×832);
    the tiny presets' on the CPU, with a few steps."""
    if device == "cpu":
        name = {"modelscope": "tiny", "wan": "tiny-wan", "ltx": "tiny-ltx", "cogvideox": "tiny-cogvideox"}
        preset = TINY_PRESETS[name[family]]
        steps = 3 if dry else 10
        return Case(
            family, preset.id, preset, _params(preset, preset.frames, steps, 64, 64), (2,) if dry else (2, 4)
        )
    if family == "modelscope":
        return Case(family, MODELSCOPE.id, MODELSCOPE, _params(MODELSCOPE, 16, 25, 256, 256), (2, 4, 8))
    if family == "wan":
        return Case(family, WAN21_1_3B.id, WAN21_1_3B, _params(WAN21_1_3B, 33, 10, 832, 480), (2, 4))
    if family == "ltx":
        return Case(family, LTX_VIDEO.id, LTX_VIDEO, _params(LTX_VIDEO, 33, 10, 704, 480), (2, 4))
    raise ValueError(f"no full-size {family} here")


def _params(preset: Preset, frames: int, steps: int, width: int, height: int) -> RenderParams:
    return RenderParams(PROMPT, NEGATIVE, 1, frames, steps, preset.guidance, width, height, preset.fps)


def batch_of(params: RenderParams, size: int) -> list[RenderParams]:
    return [replace(params, seed=params.seed + i) for i in range(size)]


def variants(case: Case, compile_rows: bool) -> list[Variant]:
    base = RenderConfig(max_batch=max(case.batches), batch_wait_ms=0, warmup_steps=0)
    rows = [
        Variant("plain diffusers call", 1),
        Variant("bot: memory fast", 1, base),
        Variant("bot: memory balanced", 1, replace(base, memory="balanced")),
    ]
    if compile_rows:
        rows.append(Variant("bot: fast + compile", 1, replace(base, compile=True)))
    if case.family != "modelscope":
        rows.append(Variant("bot: cache first-block 0.1", 1, replace(base, cache="first-block", max_batch=0)))
        if case.family != "wan":  # refused for Wan: two transformer calls a step
            rows.append(Variant("bot: cache pab", 1, replace(base, cache="pab")))
    rows += [Variant(f"bot: fast, batch {b}", b, base) for b in case.batches]
    rows.append(Variant("bot: memory low (last)", 1, replace(base, memory="low"), last=True))
    return rows


# memory and time --------------------------------------------------------------------------------


def _status_kb(name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return int(line.split()[1])
    return 0


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def measured(device: str, call: Callable[[], Any]) -> tuple[Any, float, float]:
    """`call()` timed between two synchronisations; its activation memory in MB: on a GPU the peak
    allocated above what was resident before it, on the CPU the peak RSS above its start."""
    gc.collect()
    sync(device)
    if device.startswith("cuda"):
        resident = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
    else:
        with contextlib.suppress(OSError):  # Linux: "5" resets the peak RSS (VmHWM) to the current RSS
            Path("/proc/self/clear_refs").write_text("5")
        resident = _status_kb("VmRSS") * 1024
    started = time.perf_counter()
    result = call()
    sync(device)
    seconds = time.perf_counter() - started
    peak = torch.cuda.max_memory_allocated() if device.startswith("cuda") else _status_kb("VmHWM") * 1024
    return result, seconds, max(0.0, (peak - resident) / 2**20)


def as_levels(frames: Any) -> np.ndarray:
    array = np.asarray(frames)
    return (np.clip(array, 0.0, 1.0) * 255).round().astype(np.uint8)


def level_delta(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max())


def _to_meta(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return torch.empty_like(value, device="meta")
    if isinstance(value, tuple | list):
        return type(value)(_to_meta(v) for v in value)
    if isinstance(value, dict):
        return {k: _to_meta(v) for k, v in value.items()}
    return value


def _flops_of(fn: Callable[..., Any], calls: list[tuple[tuple[Any, ...], dict[str, Any]]]) -> int:
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        for call_args, call_kwargs in calls:
            fn(*call_args, **call_kwargs)
    return int(counter.get_total_flops())


def _meta_twin(module: torch.nn.Module) -> torch.nn.Module:
    with torch.device("meta"):
        twin = type(module).from_config(module.config)  # type: ignore[attr-defined]
    return twin.to(dtype=next(module.parameters()).dtype).eval()


def clip_flops(renderer: Renderer, params: RenderParams) -> int | None:
    """FLOPs one clip of `params` costs: a one-step render records every denoiser and VAE-decode
    call's inputs; they are replayed on meta twins under FlopCounterMode (steps × denoiser + decode).
    The text encoder is left out (a few GFLOP)."""
    renderer.load()
    pipe = renderer.pipe
    denoiser = getattr(pipe, "transformer", None) or pipe.unet
    den_calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    dec_calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    def record(module: Any, call_args: tuple[Any, ...], call_kwargs: dict[str, Any]) -> None:
        den_calls.append((_to_meta(call_args), _to_meta(call_kwargs)))

    decode = pipe.vae.decode

    def recording_decode(*call_args: Any, **call_kwargs: Any) -> Any:
        dec_calls.append((_to_meta(call_args), _to_meta(call_kwargs)))
        return decode(*call_args, **call_kwargs)

    handle: RemovableHandle = denoiser.register_forward_pre_hook(record, with_kwargs=True)
    pipe.vae.decode = recording_decode
    try:
        renderer.render(replace(params, steps=1))
    finally:
        handle.remove()
        del pipe.vae.decode  # the instance attribute: back to the class's method
    try:
        per_step = _flops_of(_meta_twin(denoiser), den_calls)
        decoding = _flops_of(_meta_twin(pipe.vae).decode, dec_calls)  # type: ignore[attr-defined,arg-type]
    except Exception as error:  # an op without a meta kernel: say so rather than guess
        print(f"  (FLOPs not counted for {renderer.name}: {type(error).__name__}: {error})", file=sys.stderr)
        return None
    return per_step * params.steps + decoding


def arithmetic() -> list[str]:
    """The issue's arithmetic, recomputed: full-size ModelScope, 16 frames at 256², 25 steps."""
    parts = build_full("modelscope", "meta", torch.float16)
    unet, vae = parts["unet"], parts["vae"]
    params = sum(p.numel() for p in unet.parameters())
    latents = torch.empty(1, 4, 16, 32, 32, device="meta", dtype=torch.float16)
    text = torch.empty(1, 77, 1024, device="meta", dtype=torch.float16)
    t = torch.tensor([999], device="meta")
    forward = _flops_of(unet, [((latents, t), {"encoder_hidden_states": text})])
    decode = _flops_of(vae.decode, [((torch.empty(16, 4, 32, 32, device="meta", dtype=torch.float16),), {})])
    clip = 2 * forward * 25 + decode
    floor = clip / (H200_BF16_TFLOPS * 1e12)
    return [
        f"ModelScope UNet3D: {params / 1e9:.3f} B parameters; {forward / 1e12:.3f} TFLOP a forward "
        f"(batch 1, 16 frames, 256², text 77×1024)",
        f"with guidance {2 * forward / 1e12:.2f} TFLOP a step, "
        f"{2 * forward * 25 / 1e12:.0f} TFLOP for 25 steps, "
        f"+ {decode / 1e12:.1f} TFLOP VAE decode = {clip / 1e12:.0f} TFLOP a clip",
        f"H200 floor at {H200_BF16_TFLOPS:.0f} TFLOP/s: {floor:.2f} s a clip "
        f"(35 % of it: {floor / 0.35:.2f} s a clip)",
    ]


# one section: one family in its own process ---------------------------------------------------


def make_pipe(case: Case, device: str) -> Any:
    """The case's pipeline: on the CPU the tiny one (the DiTs with two blocks, so first-block
    caching has blocks to skip), on a GPU the full-size one in its preset's half dtype."""
    if device == "cpu":
        pipe = build_tiny(case.model, layers=1 if case.family == "modelscope" else 2)
    else:
        pipe = build_full(
            case.family, device, torch.bfloat16 if case.family in ("wan", "ltx") else torch.float16
        )
    pipe.set_progress_bar_config(disable=True)
    return pipe


class SharedRenderer(Renderer):
    """The bot's Renderer over the section's one pipeline: placement, batching, generators, step
    hooks and out-of-memory handling are the bot's own; each row switches its tuning on and off."""

    def __init__(self, pipe: Any, preset: Preset, device: str, tuning: RenderConfig) -> None:
        threads = torch.get_num_threads() if device == "cpu" else 0
        super().__init__(preset.id, device=device, preset=preset, tuning=tuning, cpu_threads=threads)
        self._shared = pipe

    def _build(self, device: str) -> Any:
        return self._shared


def _last_block_probe(pipe: Any) -> tuple[list[int], RemovableHandle] | None:
    """A counter of the transformer's last block really running (a cache hook that skips the block
    still calls the block's module, but not the linear layers inside it)."""
    transformer = getattr(pipe, "transformer", None)
    if transformer is None:
        return None
    blocks = getattr(transformer, "transformer_blocks", None) or getattr(transformer, "blocks", None)
    if not blocks:
        return None
    linear = next(m for m in blocks[-1].modules() if isinstance(m, torch.nn.Linear))
    count = [0]
    return count, linear.register_forward_pre_hook(lambda *_: count.__setitem__(0, count[0] + 1))


def _compiled_graphs() -> int:
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


class Section:
    def __init__(self, case: Case, device: str, dry: bool, emit: Callable[[dict[str, Any]], None]) -> None:
        self.case, self.device, self.dry, self.emit = case, device, dry, emit
        started = time.perf_counter()
        self.pipe = make_pipe(case, device)
        self.base = RenderConfig(max_batch=max(case.batches), batch_wait_ms=0, warmup_steps=0)
        self.renderer = SharedRenderer(self.pipe, case.preset, device, self.base)
        self.renderer.load()  # the bot's placement, in memory mode fast
        self.build_s = time.perf_counter() - started
        self.compiled: dict[torch.nn.Module, Any] = {}
        self.probe = _last_block_probe(self.pipe)

    @contextlib.contextmanager
    def active(self, variant: Variant) -> Any:
        """`variant`'s tuning switched on for the shared pipeline, and off again afterwards."""
        tuning, pipe = variant.tuning, self.pipe
        self.renderer.tuning = tuning or self.base
        balanced = tuning is not None and tuning.memory == "balanced"
        cached = tuning is not None and tuning.cache != "off"
        compiled = tuning is not None and tuning.compile
        if balanced:
            apply_memory_mode(pipe, "balanced", self.device)
        if cached:
            apply_step_cache(pipe, self.case.family, tuning)  # type: ignore[arg-type]
        if compiled:
            self._compile_on()
        try:
            yield
        finally:
            if balanced:
                pipe.vae.disable_slicing() if hasattr(pipe.vae, "disable_slicing") else None
                pipe.vae.disable_tiling() if hasattr(pipe.vae, "disable_tiling") else None
            if cached:
                pipe.transformer.disable_cache()
            if compiled:
                for module in self.compiled:
                    module._compiled_call_impl = None

    def _compile_on(self) -> None:
        if not self.compiled:
            compile_denoiser(self.pipe, **({"backend": "eager"} if self.dry else {}))
            self.compiled = {
                m: m._compiled_call_impl for m in self.pipe.components.values()
                if isinstance(m, torch.nn.Module) for m in m.modules() if m._compiled_call_impl is not None
            }  # fmt: skip
        for module, impl in self.compiled.items():
            module._compiled_call_impl = impl

    def call(self, variant: Variant) -> list[np.ndarray]:
        p = self.case.params
        if variant.tuning is not None:
            clips = self.renderer.render_batch(batch_of(p, variant.batch))
            return [clip.frames for clip in clips if clip is not None]
        kwargs: dict[str, Any] = dict(
            num_frames=p.frames, num_inference_steps=p.steps, height=p.height, width=p.width,
            guidance_scale=p.guidance, output_type="np", generator=torch.Generator().manual_seed(p.seed),
        )  # fmt: skip
        family = self.case.preset.family
        if family.takes_frame_rate:
            kwargs["frame_rate"] = p.fps
        if family.takes_max_sequence_length:  # the same prompt length as the bot's
            kwargs["max_sequence_length"] = self.case.preset.prompt_tokens
        kwargs.update(dict(self.case.preset.extra_call))
        frames = np.asarray(self.pipe(PROMPT, negative_prompt=NEGATIVE, **kwargs).frames)
        return [as_levels(frames[0] if frames.ndim == 5 else frames)]


def run_section(family: str, device: str, dry: bool, rounds: int, cap_s: float, compile_rows: bool,
                emit: Callable[[dict[str, Any]], None]) -> weakref.ref[Any]:  # fmt: skip
    """Build, warm every row once, time interleaved rounds while the cap allows, then `memory low`;
    returns a weak reference to the denoiser, to see whether unloading frees it."""
    deadline = time.perf_counter() + cap_s * 0.85  # the rest: `low`, the unload check, slack
    case = case_for(family, device, dry)
    section = Section(case, device, dry, emit)
    p = case.params
    emit({"kind": "section", "family": family, "model": case.model, "build_s": round(section.build_s, 1),
          "shape": f"{p.frames}×{p.height}×{p.width}, {p.steps} steps"})  # fmt: skip
    flops = clip_flops(section.renderer, p)
    # dry: compile only the repeated blocks (Wan, LTX); tracing a whole UNet or CogVideoX takes a minute
    every = variants(case, compile_rows and not (dry and family in ("modelscope", "cogvideox")))
    rows = {v.label: Row(family, v.label, v.batch) for v in every}
    outputs: dict[str, list[np.ndarray]] = {}
    runs: dict[str, float] = {}  # last-block runs a call (cache rows and fast)
    live = [v for v in every if not v.last]

    def once(variant: Variant, timed: bool) -> float:
        row = rows[variant.label]
        if section.probe is not None:
            section.probe[0][0] = 0
        with section.active(variant):
            clips, seconds, act = measured(device, lambda: section.call(variant))
        if timed:
            row.times.append(seconds / variant.batch)
            row.act_mb.append(act)
        else:
            outputs[variant.label] = clips
            cached = variant.tuning is not None and variant.tuning.cache != "off"
            if section.probe is not None and (cached or variant.label == "bot: memory fast"):
                runs[variant.label] = section.probe[0][0]  # per call: a batch runs each block once a step
        return seconds

    def safely(variant: Variant, timed: bool) -> float:
        try:
            return once(variant, timed)
        except Exception as error:  # one failing row never aborts the table
            rows[variant.label].notes.append(f"failed: {type(error).__name__}: {str(error)[:120]}")
            if variant in live:
                live.remove(variant)
            return 0.0

    started = time.perf_counter()
    solo_two = section.renderer.render(replace(p, seed=p.seed + 1)).frames if max(case.batches) > 1 else None
    is_compiled = [v for v in live if v.tuning is not None and v.tuning.compile]
    for variant in [v for v in live if v not in is_compiled] + is_compiled:  # compiling last: the longest
        if time.perf_counter() > deadline:  # warm-up (excluded): kernel choice, compiling, reference clips
            rows[variant.label].notes.append("skipped: out of time before its warm-up")
            live.remove(variant)
            continue
        graphs = _compiled_graphs()
        seconds = safely(variant, timed=False)
        if variant in is_compiled:
            rows[variant.label].notes.append(f"compile {seconds:.1f} s, {_compiled_graphs() - graphs} graphs")
        emit({"kind": "rows", "rows": summarise(rows, flops, outputs, runs, solo_two, 0)})
    round_s = time.perf_counter() - started
    graphs = _compiled_graphs()
    done = 0
    while done < rounds and (done == 0 or time.perf_counter() + round_s < deadline):
        began = time.perf_counter()
        for variant in list(live):
            safely(variant, timed=True)
            emit({"kind": "rows", "rows": summarise(rows, flops, outputs, runs, solo_two, done + 1)})
        round_s, done = time.perf_counter() - began, done + 1
        emit({"kind": "rows", "rows": summarise(rows, flops, outputs, runs, solo_two, done)})
    for variant in every:
        if variant.tuning is not None and variant.tuning.compile:
            rows[variant.label].notes.append(f"{_compiled_graphs() - graphs} recompiles in the timed rounds")
    low = next(v for v in every if v.last)
    section.renderer.tuning = low.tuning  # type: ignore[assignment]
    try:
        section.renderer.lower_memory("low")  # FP8 weights, and on a GPU model offload: for good
        offload = getattr(section.pipe, "_offload_device", None)
        rows[low.label].notes.append(f"offload onto {offload}" if offload is not None else "no offload (CPU)")
        once(low, timed=False)
        for _ in range(max(1, done)):
            if time.perf_counter() > deadline + cap_s * 0.1:
                break
            once(low, timed=True)
    except Exception as error:
        rows[low.label].notes.append(f"failed: {type(error).__name__}: {str(error)[:120]}")
    emit({"kind": "rows", "rows": summarise(rows, flops, outputs, runs, solo_two, done)})
    denoiser = getattr(section.pipe, "transformer", None) or section.pipe.unet
    section.renderer.unload()
    return weakref.ref(denoiser)


def summarise(
    rows: dict[str, Row],
    flops: int | None,
    outputs: dict[str, list[np.ndarray]],
    runs: dict[str, float],
    solo_two: np.ndarray | None,
    rounds: int,
) -> list[dict[str, Any]]:
    plain = rows["plain diffusers call"]
    plain_s = statistics.median(plain.times) if plain.times else None
    fast_runs = runs.get("bot: memory fast")
    found = []
    for row in rows.values():
        if row.times:
            row.s_clip = statistics.median(row.times)
            row.spread = (max(row.times) - min(row.times)) / row.s_clip
            row.eff_tflops = None if flops is None else flops / row.s_clip / 1e12
            fraction = runs[row.label] / fast_runs if fast_runs and row.label in runs else 1.0
            row.ach_tflops = None if row.eff_tflops is None else row.eff_tflops * fraction
            row.ratio = None if plain_s is None or row is plain else plain_s / row.s_clip
        clips = outputs.get(row.label)
        if clips and row.batch > 1 and "bot: memory fast" in outputs:  # batch against solo renders
            solos = [outputs["bot: memory fast"][0]] + ([solo_two] if solo_two is not None else [])
            row.delta = max(level_delta(c, s) for c, s in zip(clips, solos, strict=False))
            row.delta_vs = f"solo ({len(solos)} clips)"
        elif clips and row is not plain and plain.label in outputs:
            row.delta = level_delta(clips[0], outputs[plain.label][0])
            row.delta_vs = "plain"
        notes = [n for n in row.notes if not n.startswith("last block")]
        if row.label in runs and fast_runs and row.label != "bot: memory fast":
            notes.append(f"last block ran {runs[row.label]:.0f} of {fast_runs:.0f} times")
        row.notes = notes
        found.append({**asdict(row), "rounds": rounds})
    return found


# the table ------------------------------------------------------------------------------------

HEADER = (
    f"{'family':<11} {'path':<28} {'batch':>5} {'s/clip':>8} {'spread':>7} {'clips/min':>9} {'act. MB':>8} "
    f"{'eff.TF/s':>9} {'ach.TF/s':>9} {'× plain':>8} {'Δ':>4}  notes"
)


def _num(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "—"
    return f"{value:.4f}" if abs(value) < 1 and digits > 1 else f"{value:.{digits}f}"


def table_line(row: dict[str, Any]) -> str:
    s = row["s_clip"]
    act = statistics.median(row["act_mb"]) if row["act_mb"] else None
    delta = "—" if row["delta"] is None else str(row["delta"])
    vs = f"Δ vs {row['delta_vs']}" if row["delta_vs"] else ""
    notes = "; ".join([*row["notes"], *([vs] if vs else [])])
    spread = "—" if row["spread"] is None else f"{100 * row['spread']:.0f} %"
    return (
        f"{row['family']:<11} {row['label']:<28} {row['batch']:>5} {_num(s):>8} "
        f"{spread:>7} "
        f"{'—' if s is None else f'{60 / s:.1f}':>9} {_num(act, 0):>8} {_num(row['eff_tflops'], 2):>9} "
        f"{_num(row['ach_tflops'], 2):>9} {_num(row['ratio'], 2):>8} {delta:>4}  {notes}"
    )


def machine(device: str) -> str:
    if device.startswith("cuda"):
        return f"{torch.cuda.get_device_name()} (torch {torch.__version__}, CUDA {torch.version.cuda})"
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if "model name" in line),
        platform.processor(),
    )  # fmt: skip
    return (
        f"{cpu}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads (torch {torch.__version__})"
    )


def run_child(args: argparse.Namespace) -> None:
    """`--section`: one family, its records appended to `--out` as JSON lines as they come."""
    out = Path(args.out)

    def emit(record: dict[str, Any]) -> None:
        with out.open("a", encoding="utf-8") as file:
            file.write(json.dumps(record) + "\n")

    if args.device == "cpu":
        torch.set_num_threads(cpu_render_threads())  # what the bot uses: every core but the chats'
    if args.section == "modes":
        deadline = time.perf_counter() + args.cap_s * 0.85
        run_modes(args.device, 2 if args.dry_run else 10, 1 if args.dry_run else args.rounds, deadline, emit)
        return
    ref = run_section(
        args.section, args.device, args.dry_run, args.rounds, args.cap_s, not args.no_compile, emit
    )
    gc.collect()
    record: dict[str, Any] = {"kind": "unload", "freed": ref() is None}
    if ref() is not None:  # compiled code may hold the weights: does dynamo's reset let them go?
        torch._dynamo.reset()
        gc.collect()
        record["freed_after_dynamo_reset"] = ref() is None
    if args.device.startswith("cuda"):
        record["allocated_after_mb"] = round(torch.cuda.memory_allocated() / 2**20)
    emit(record)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--dry-run", action="store_true", help="every section on the CPU with tiny models")
    parser.add_argument(
        "--budget-s", type=float, default=0, help="all sections (default: 420 on a GPU, 260 dry)"
    )
    parser.add_argument("--families", nargs="*", default=None, help=" ".join(FAMILIES))
    parser.add_argument("--rounds", type=int, default=0, help="timed rounds at most (default: 3; 2 dry)")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile row")
    parser.add_argument("--json", default="", help="results file (default: render-<device>.json here)")
    parser.add_argument("--section", default="", help=argparse.SUPPRESS)  # the child's family
    parser.add_argument("--out", default="", help=argparse.SUPPRESS)
    parser.add_argument("--cap-s", type=float, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.dry_run:
        args.device = "cpu"
    args.rounds = args.rounds or (2 if args.dry_run else 3)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from diffusers.utils import logging as diffusers_logging

    diffusers_logging.set_verbosity_error()
    if args.section:
        run_child(args)
        return
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error("--device cuda, but torch sees no CUDA device")
    families = args.families or (FAMILIES if args.device == "cpu" else GPU_FAMILIES)
    budget = args.budget_s or (260.0 if args.device == "cpu" else 420.0)  # dry: ≤ 5 min with start-up
    results: dict[str, Any] = {
        "machine": machine(args.device), "device": args.device, "dry_run": args.dry_run,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "budget_s": budget, "sections": [],
    }  # fmt: skip
    started = time.perf_counter()
    print(f"# machine: {results['machine']}; budget {budget:.0f} s", flush=True)
    results["arithmetic"] = arithmetic()
    for line in results["arithmetic"]:
        print(f"# {line}", flush=True)
    print(HEADER)
    print("-" * len(HEADER), flush=True)
    # dry: each tuning section alike, the modes table (every family's every mode) first and larger
    share = {f: (3.0 if f == "modes" else 1.0) if args.dry_run else SHARE[f] for f in families}
    families = sorted(families, key=lambda f: f != "modes") if args.dry_run else families
    total = sum(share.values())
    for family in families:
        left = budget - (time.perf_counter() - started)
        cap = max(10.0, left * share[family] / total)
        total -= share[family]
        results["sections"].append(section_in_child(family, args, cap))
    path = Path(args.json or f"render-{args.device.replace(':', '')}.json")
    path.write_text(json.dumps(results, indent=1), encoding="utf-8")
    print(f"# {time.perf_counter() - started:.0f} s in all; results in {path}", flush=True)


def section_in_child(family: str, args: argparse.Namespace, cap: float) -> dict[str, Any]:
    """Run one family in its own process, killed at its cap; print its rows, whatever it finished."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "records.jsonl"
        command = [sys.executable, str(Path(__file__).resolve()), "--section", family,
                   "--device", args.device, "--out", str(out), "--cap-s", str(cap),
                   "--rounds", str(args.rounds)]  # fmt: skip
        command += ["--dry-run"] * args.dry_run + ["--no-compile"] * args.no_compile
        began = time.perf_counter()
        status = "done"
        try:
            finished = subprocess.run(command, timeout=cap + 15, capture_output=True, text=True, check=False)
            if finished.returncode != 0:
                status = f"failed (exit {finished.returncode}): {finished.stderr.strip().splitlines()[-1:]}"
        except subprocess.TimeoutExpired:
            status = f"ran out of time ({cap:.0f} s)"
        records = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
    section: dict[str, Any] = {"family": family, "cap_s": round(cap), "status": status,
                               "seconds": round(time.perf_counter() - began, 1), "rows": []}  # fmt: skip
    for record in records:
        kind = record.pop("kind")
        if kind in ("rows", "modes"):
            section["rows"] = record["rows"]
            section["table"] = kind
        else:
            section.update(record)
    built = section.get("build_s", "?")
    shape = f"{section.get('model', family)}, {section.get('shape', '?')}, built in {built} s"
    unload = "" if "freed" not in section else f"; unloading freed the weights: {section['freed']}"
    print(f"# {family}: {shape}; {status} in {section['seconds']:.0f} s of {cap:.0f}{unload}", flush=True)
    if section.get("table") == "modes":
        print(MODES_HEADER, flush=True)
    for row in section["rows"]:
        print(modes_line(row) if section.get("table") == "modes" else table_line(row), flush=True)
    return section


if __name__ == "__main__":
    main()
