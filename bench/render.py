"""Render speed: the plain diffusers call against the bot's render path, side by side.

    python bench/render.py                 # CPU: the tiny families (a few minutes on 2 cores)
    python bench/render.py --device cuda   # GPU: full-size ModelScope, Wan 2.1 1.3B, LTX-Video

One run prints the arithmetic (FLOPs of the full-size ModelScope UNet3D counted on the meta
device, and the chip's floor) and one table: for each family the plain call an owner would
write (`pipe(prompt, num_frames=…, num_inference_steps=…)`, half precision on a GPU) and the
bot's `Renderer` in each memory mode, with torch.compile, at batch 1/2/4/8, and for the DiT
families with step caching.  Same prompt, size, steps and seeds in every row.  Columns:
seconds per clip, clips per minute, peak memory (`max_memory_allocated` on a GPU, the
peak RSS above the row's start on the CPU), achieved TFLOP/s (FLOPs counted with `FlopCounterMode` on
the shapes the pipeline really used, replayed on the meta device) and speed against plain.

On a GPU the full-size models are built from their published configs (below, each with its
source) with random weights: nothing can be downloaded here, and speed does not depend on
the weights' values.  The tokenizers are the tiny ones (tokenising is not what is timed).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import platform
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode
from torch.utils.hooks import RemovableHandle

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.config import RenderConfig
from bot.core.types import RenderParams
from bot.pipelines.ltx import LTX_VIDEO
from bot.pipelines.modelscope import MODELSCOPE
from bot.pipelines.registry import TINY_PRESETS
from bot.pipelines.spec import Preset
from bot.pipelines.tiny import build_tiny
from bot.pipelines.wan import WAN21_1_3B
from bot.render import Renderer, cpu_render_threads

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


# what is measured -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    family: str  # modelscope, wan, ltx, cogvideox
    model: str  # the tiny name on the CPU; the preset's hub id on a GPU
    preset: Preset
    params: RenderParams  # one clip's shape; each clip of a batch gets its own seed


@dataclass
class Row:
    family: str
    label: str
    batch: int
    s_clip: float
    peak_mb: float
    tflops: float | None
    ratio: float | None = None


class BuiltRenderer(Renderer):
    """The bot's Renderer over a pipeline built in code (full-size, random weights): everything
    after building — device, memory mode, cache, compile, warm-up, batching — is the bot's own."""

    def __init__(self, build: Callable[[], Any], preset: Preset, device: str, tuning: RenderConfig) -> None:
        threads = torch.get_num_threads() if device == "cpu" else 0
        super().__init__(preset.id, device=device, preset=preset, tuning=tuning, cpu_threads=threads)
        self._builder = build

    def _build(self, device: str) -> Any:
        return self._builder()


def cases(device: str, args: argparse.Namespace) -> list[Case]:
    if device == "cpu":
        found = []
        for name, family in (
            ("tiny", "modelscope"),
            ("tiny-wan", "wan"),
            ("tiny-ltx", "ltx"),
            ("tiny-cogvideox", "cogvideox"),
        ):
            preset = TINY_PRESETS[name]
            frames = preset.family.frames.above(args.frames)
            steps = args.steps if family == "modelscope" else args.dit_steps
            found.append(
                Case(family, name, preset, _params(preset, frames, steps, preset.width, preset.height))
            )
        return found
    ms = MODELSCOPE
    wan, ltx = WAN21_1_3B, LTX_VIDEO
    return [
        Case("modelscope", ms.id, ms, _params(ms, args.frames, args.steps, ms.width, ms.height)),
        Case(
            "wan", wan.id, wan, _params(wan, wan.family.frames.above(args.frames), args.dit_steps, 832, 480)
        ),
        Case(
            "ltx", ltx.id, ltx, _params(ltx, ltx.family.frames.above(args.frames), args.dit_steps, 704, 480)
        ),
    ]


def _params(preset: Preset, frames: int, steps: int, width: int, height: int) -> RenderParams:
    return RenderParams(PROMPT, NEGATIVE, 1, frames, steps, preset.guidance, width, height, preset.fps)


def batch_of(params: RenderParams, size: int) -> list[RenderParams]:
    return [replace(params, seed=params.seed + i) for i in range(size)]


# memory ---------------------------------------------------------------------------------------


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return 0


def reset_peak(device: str) -> float:
    """Start measuring a row's peak; returns the baseline it is measured from (MB)."""
    gc.collect()
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        return 0.0
    with contextlib.suppress(OSError):  # Linux: "5" resets the peak RSS (VmHWM) to the current RSS
        Path("/proc/self/clear_refs").write_text("5")
    return _status_kb("VmRSS") / 1024


def peak_mb(device: str, baseline: float) -> float:
    """GPU: `max_memory_allocated`. CPU: the peak RSS above the row's start (the process's own
    baseline — torch, the interpreter, what the allocator kept from earlier rows — left out)."""
    if device == "cuda":
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() / 2**20
    return _status_kb("VmHWM") / 1024 - baseline


# FLOPs ----------------------------------------------------------------------------------------


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


# the runs -------------------------------------------------------------------------------------


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


def plain_row(case: Case, device: str, repeats: int, flops: int | None) -> Row:
    """The call an owner would write: the pipeline on the device, one prompt per call."""
    pipe = make_pipe(case, device).to(device)
    p = case.params
    kwargs: dict[str, Any] = dict(
        num_frames=p.frames,
        num_inference_steps=p.steps,
        height=p.height,
        width=p.width,
        guidance_scale=p.guidance,
    )
    if case.preset.family.takes_frame_rate:
        kwargs["frame_rate"] = p.fps
    if case.preset.family.takes_max_sequence_length:  # the tiny text encoders' length
        kwargs["max_sequence_length"] = case.preset.prompt_tokens
    kwargs.update(dict(case.preset.extra_call))
    pipe(PROMPT, negative_prompt=NEGATIVE, **kwargs)  # warm-up: what the bot does at start-up too
    baseline = reset_peak(device)
    started = time.perf_counter()
    for i in range(repeats):
        pipe(PROMPT, negative_prompt=NEGATIVE, generator=torch.Generator().manual_seed(p.seed + i), **kwargs)
    s_clip = _elapsed(started, device) / repeats
    row = Row(
        case.family, "plain diffusers call", 1, s_clip, peak_mb(device, baseline), _tflops(flops, s_clip)
    )
    del pipe
    _free(device)
    return row


def bot_row(
    case: Case, device: str, label: str, tuning: RenderConfig, batch: int, clips: int, flops: int | None
) -> Row:
    renderer = BuiltRenderer(lambda: make_pipe(case, device), case.preset, device, tuning)
    renderer.load()  # with its warm-up (compiling, when on)
    calls = max(1, clips // batch)
    renderer.render_batch(batch_of(case.params, batch))  # this batch size's first call (kernel choice)
    baseline = reset_peak(device)
    started = time.perf_counter()
    for _ in range(calls):
        renderer.render_batch(batch_of(case.params, batch))
    s_clip = _elapsed(started, device) / (calls * batch)
    row = Row(case.family, label, batch, s_clip, peak_mb(device, baseline), _tflops(flops, s_clip))
    renderer.unload()
    _free(device)
    return row


def _elapsed(started: float, device: str) -> float:
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - started


def _tflops(flops: int | None, s_clip: float) -> float | None:
    return None if flops is None else flops / s_clip / 1e12


def _free(device: str) -> None:
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()


def flops_for(case: Case, device: str) -> int | None:
    renderer = BuiltRenderer(
        lambda: make_pipe(case, device), case.preset, device, RenderConfig(warmup_steps=0)
    )
    flops = clip_flops(renderer, case.params)
    renderer.unload()
    return flops


def run_case(case: Case, device: str, args: argparse.Namespace) -> Iterator[Row]:
    flops = flops_for(case, device)
    plain = plain_row(case, device, args.clips, flops)
    yield plain
    base = RenderConfig(max_batch=8, batch_wait_ms=0, warmup_steps=2)
    rows: list[tuple[str, RenderConfig, int]] = [
        ("bot: memory fast", base, 1),
        ("bot: memory balanced", replace(base, memory="balanced"), 1),
        ("bot: memory low", replace(base, memory="low"), 1),
    ]
    if not args.no_compile:
        rows.append(("bot: fast + compile", replace(base, compile=True), 1))
    if case.family != "modelscope":
        rows += [
            ("bot: cache first-block 0.1", replace(base, cache="first-block", cache_threshold=0.1), 1),
            ("bot: cache pab", replace(base, cache="pab"), 1),
        ]
    rows += [(f"bot: fast, batch {b}", base, b) for b in args.batches if b > 1]
    for label, tuning, batch in rows:
        row = bot_row(case, device, label, tuning, batch, max(args.clips, batch), flops)
        row.ratio = plain.s_clip / row.s_clip
        yield row


def machine(device: str) -> str:
    if device == "cuda":
        return f"{torch.cuda.get_device_name()} (torch {torch.__version__}, CUDA {torch.version.cuda})"
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    return (
        f"{cpu}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads (torch {torch.__version__})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument(
        "--frames",
        type=int,
        default=16,
        help="ModelScope's; the DiT families take the next count their rule allows",
    )
    parser.add_argument("--steps", type=int, default=25, help="ModelScope's denoising steps")
    parser.add_argument(
        "--dit-steps",
        type=int,
        default=0,
        help="Wan/LTX/CogVideoX steps (default: 25 on the CPU, 10 on a GPU)",
    )
    parser.add_argument("--clips", type=int, default=4, help="clips timed a row (at least the batch size)")
    parser.add_argument("--batches", type=int, nargs="*", default=[2, 4, 8])
    parser.add_argument("--families", nargs="*", default=None, help="modelscope wan ltx cogvideox")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile rows")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda, but torch sees no CUDA device")
    args.dit_steps = args.dit_steps or (25 if args.device == "cpu" else 10)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.device == "cpu":
        torch.set_num_threads(cpu_render_threads())  # what the bot uses: every core but the chats'
    from diffusers.utils import logging as diffusers_logging

    diffusers_logging.set_verbosity_error()
    print(f"# machine: {machine(args.device)}")
    for line in arithmetic():
        print(f"# {line}")
    header = (
        f"{'family':<11} {'path':<28} {'batch':>5} {'s/clip':>8} {'clips/min':>9} {'peak MB':>9} "
        f"{'TFLOP/s':>9} {'× plain':>8}"
    )
    print(header)
    print("-" * len(header))
    for case in cases(args.device, args):
        if args.families and case.family not in args.families:
            continue
        p = case.params
        print(
            f"# {case.family}: {case.model}, {p.frames} frames {p.width}x{p.height}, {p.steps} steps",
            flush=True,
        )
        for row in run_case(case, args.device, args):
            tflops = (
                "—" if row.tflops is None else f"{row.tflops:.4f}" if row.tflops < 1 else f"{row.tflops:.1f}"
            )
            ratio = "1.00" if row.ratio is None else f"{row.ratio:.2f}"
            print(
                f"{row.family:<11} {row.label:<28} {row.batch:>5} {row.s_clip:>8.3f} {60 / row.s_clip:>9.1f} "
                f"{row.peak_mb:>9.0f} {tflops:>9} {ratio:>8}",
                flush=True,
            )


if __name__ == "__main__":
    main()
