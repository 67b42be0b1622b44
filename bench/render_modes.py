"""Every family and every mode (issue #31): text, picture, extend, loop, sound, LoRA, few-step and
two experts, the plain diffusers call beside the bot's render path on the same weights.

Run by `bench/render.py` as its `modes` section (`python bench/render.py --families modes`), or
alone: `python bench/render_modes.py [--device cuda] [--json out.json]`.

Each model is built once, in its real checkpoint's dtypes on a GPU (bf16; Wan's VAE fp32; the CPU
keeps float32) and loaded by the bot's `Renderer`; every case then renders through the bot
(`Renderer.render`: the mode's pipeline over the loaded components, its step hooks, uint8 frames)
and, beside it, as the plain diffusers call of the same class with the same arguments (one call:
for an extension or a loop the bot makes its own calls and joins them, so no Δ is shown).

Columns: seconds a clip for each (median of the rounds), × plain, Δ (largest difference in 0–255
levels against the plain call for the same seed), frames out, peak MB (GPU: allocated above the
resident weights; CPU: the process's peak RSS), and whether every component kept its dtype and
parameter count and the mode's pipeline held no weights of its own ("kept").
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.domain import (
    TEXT_ONLY,
    ConditioningKind,
    Continuation,
    Extension,
    FromPicture,
    Loop,
    Picture,
    RenderParams,
)
from bot.encode import encode_mp4
from bot.pipelines import ltx, wan
from bot.pipelines.fewstep import guidance_call
from bot.pipelines.image import load_picture
from bot.pipelines.loras import LoraSpec
from bot.pipelines.modes import mode_pipeline
from bot.pipelines.registry import TINY_PRESETS
from bot.pipelines.spec import Preset
from bot.pipelines.tiny import build_tiny
from bot.render import Renderer
from bot.rendering.loading import component_dtypes
from bot.settings.sections import RenderConfig

PROMPT = "a red panda surfing a wave at sunset"
# the published checkpoint each tiny build stands for: its dtypes on a GPU
REAL = {"tiny-ltx": ltx.LTX_VIDEO, "tiny-wan22": wan.WAN22_TI2V_5B, "tiny-wan": wan.WAN21_1_3B,
        "tiny-wan-a14b": wan.WAN22_A14B, "tiny-wan-flf2v": wan.WAN21_FLF2V_14B}  # fmt: skip


@dataclass(frozen=True)
class ModeCase:
    model: str  # a tiny preset's name
    label: str  # text, picture, extend, loop, picture loop, sound, LoRA, few-step, two experts
    params: RenderParams
    loras: tuple[LoraSpec, ...] = ()


@dataclass
class ModeRow:
    model: str
    label: str
    plain_s: list[float] = field(default_factory=list)
    bot_s: list[float] = field(default_factory=list)
    peak_mb: list[float] = field(default_factory=list)
    frames: int = 0
    delta: int | None = None
    kept: bool | None = None
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        plain = statistics.median(self.plain_s) if self.plain_s else None
        bot = statistics.median(self.bot_s) if self.bot_s else None
        ratio = plain / bot if plain and bot else None
        peak = max(self.peak_mb) if self.peak_mb else None
        return {**asdict(self), "plain": plain, "bot": bot, "ratio": ratio, "peak": peak}


FULL_LTX = "full-ltx"  # on a GPU: LTX-Video at its published size, random weights (bench/render.py)


class RealDtypes(Renderer):
    """The tiny build cast as the real checkpoint loads on a GPU; float32 on the CPU. `full-ltx`:
    LTX-Video's published configs with random weights in bf16 (`build_full`, GPU only)."""

    def _build(self, device: str) -> Any:
        if self.source == FULL_LTX:
            from render import build_full  # the sibling script's published configs

            pipe = build_full("ltx", device, torch.bfloat16)
            pipe.set_progress_bar_config(disable=True)
            return pipe
        pipe = build_tiny(self.source)
        if device.startswith("cuda") and self.source in REAL:
            dtypes = component_dtypes(REAL[self.source], device)
            for name, module in pipe.components.items():
                if isinstance(module, torch.nn.Module):
                    module.to(dtypes.get(name, dtypes["default"]))
        return pipe


def _picture(folder: Path) -> Picture:
    path = folder / "picture.png"
    if not path.exists():
        gradient = np.linspace(0, 255, 80 * 48 * 3).reshape(48, 80, 3).astype(np.uint8)
        Image.fromarray(gradient).save(path)
    return Picture("0" * 64, path.stat().st_size, "png", 80, 48, str(path))


def _params(preset: Preset, steps: int, guidance: float | None = None) -> RenderParams:
    chosen = preset.guidance if guidance is None else guidance
    return RenderParams(PROMPT, "blurry", 1, preset.frames, steps, chosen, 64, 64, preset.fps)


def full_size_cases(folder: Path, steps: int) -> list[ModeCase]:
    """LTX-Video at 704x480, 33 frames: text, picture, extend and loop on full-size weights (GPU)."""
    plain = RenderParams(PROMPT, "blurry", 1, 33, steps, ltx.LTX_VIDEO.guidance, 704, 480, ltx.LTX_VIDEO.fps)
    parent = Extension(1, str(folder / "full-ltx-parent.mp4"), plain.frames, 1)
    picture = _picture(folder)
    return [
        ModeCase(FULL_LTX, "text", plain),
        ModeCase(FULL_LTX, "picture", replace(plain, conditioning=FromPicture(picture))),
        ModeCase(FULL_LTX, "extend", replace(plain, conditioning=Continuation(parent))),
        ModeCase(FULL_LTX, "loop", replace(plain, conditioning=Loop())),
    ]


def cases(folder: Path, steps: int, lora: Path | None) -> list[ModeCase]:
    """One case for each mode each tiny family declares, then sound, LoRA, few-step, two experts."""
    found: list[ModeCase] = []
    for name, preset in TINY_PRESETS.items():
        plain = _params(preset, steps)
        parent = Extension(1, str(folder / f"{name}-parent.mp4"), plain.frames, 1)
        picture = _picture(folder)
        made = {
            ConditioningKind.NONE: [("text", plain)],
            ConditioningKind.PICTURE: [("picture", replace(plain, conditioning=FromPicture(picture)))],
            ConditioningKind.CONTINUATION: [("extend", replace(plain, conditioning=Continuation(parent)))],
            ConditioningKind.LOOP: [("picture loop", replace(plain, conditioning=Loop(picture)))]
            + ([("loop", replace(plain, conditioning=Loop()))] if preset.modes.text else []),
        }  # fmt: skip
        text = "sound" if preset.family.makes_audio else "two experts" if preset.second_guidance else "text"
        made[ConditioningKind.NONE] = [(text, plain)]
        for kind in preset.modes.declared:
            found += [ModeCase(name, label, params) for label, params in made[kind]]
    wan_preset = TINY_PRESETS["tiny-wan"]
    found.append(ModeCase("tiny-wan", "few-step, guidance 1", _params(wan_preset, steps, 1.0)))
    if lora is not None:
        found.append(ModeCase("tiny-wan", "LoRA (fused)", _params(wan_preset, steps), (LoraSpec(str(lora)),)))
    return found


def make_lora(folder: Path) -> Path | None:
    """A rank-4 LoRA for tiny Wan, saved as diffusers saves one (None without peft)."""
    try:
        from diffusers import WanPipeline
        from peft import LoraConfig
        from peft.utils import get_peft_model_state_dict
    except ImportError:
        return None
    pipe = build_tiny("tiny-wan")
    torch.manual_seed(1)
    targets = ["to_q", "to_k", "to_v", "to_out.0"]
    pipe.transformer.add_adapter(
        LoraConfig(r=4, lora_alpha=4, target_modules=targets, init_lora_weights=False)
    )
    WanPipeline.save_lora_weights(folder, transformer_lora_layers=get_peft_model_state_dict(pipe.transformer))
    return folder / "pytorch_lora_weights.safetensors"


def facts(pipe: Any) -> dict[str, tuple[str, int]]:
    """Each module's parameter dtypes and count: what no mode may change."""
    return {
        name: (",".join(sorted({str(p.dtype) for p in module.parameters()})),
               sum(p.numel() for p in module.parameters()))
        for name, module in pipe.components.items() if isinstance(module, torch.nn.Module)
    }  # fmt: skip


def storages(pipe: Any) -> set[int]:
    return {
        p.untyped_storage().data_ptr()
        for module in pipe.components.values() if isinstance(module, torch.nn.Module)
        for p in module.parameters()
    }  # fmt: skip


def plain_call(renderer: Renderer, params: RenderParams) -> tuple[Callable[[], np.ndarray], str]:
    """The plain diffusers call for `params` on the renderer's weights: the mode's class built from
    the loaded components, called once with the same arguments; a note where it differs."""
    preset, family = renderer.preset, renderer.preset.family
    kind = params.conditioning.kind
    mode = preset.modes.mode(kind)
    pipe = renderer.pipe if mode is None else mode_pipeline(renderer.pipe, mode.pipeline_class)
    kwargs: dict[str, Any] = {
        "prompt": params.prompt, family.frames_argument: params.frames, "num_inference_steps": params.steps,
        "guidance_scale": params.guidance, "height": params.height, "width": params.width,
        "output_type": "np",
    }  # fmt: skip
    if family.takes_max_sequence_length:
        kwargs["max_sequence_length"] = preset.prompt_tokens
    if family.takes_frame_rate:
        kwargs["frame_rate"] = params.fps
    kwargs.update(dict(family.fixed_call) | dict(preset.extra_call))
    kwargs.update(guidance_call(family, params.guidance, params.negative or None))
    if preset.second_guidance:  # what the model card passes: the low-noise expert's own guidance
        kwargs["guidance_scale_2"] = preset.second_guidance if params.guidance > 1 else 1.0
    if len(preset.timesteps) == params.steps:  # a distillation's schedule
        kwargs["timesteps"] = list(preset.timesteps)
    note = ""
    if mode is not None:
        picture = load_picture(params.picture.path, params.width, params.height) if params.picture else None
        start = [picture] if picture is not None else [Image.new("RGB", (params.width, params.height))]
        end = picture if kind is ConditioningKind.LOOP and picture is not None else None
        kwargs.update(mode.arguments(start, end, params.frames))
        if kind in (ConditioningKind.CONTINUATION, ConditioningKind.LOOP) and picture is None:
            note = "plain: one conditioned call; the bot's clip joins its calls"

    def call() -> np.ndarray:
        generator = torch.Generator().manual_seed(params.seed)
        frames = np.asarray(pipe(generator=generator, **kwargs).frames)
        frames = frames[0] if frames.ndim == 5 else frames
        return (np.clip(frames, 0.0, 1.0) * 255).round().astype(np.uint8)

    return call, note


def timed(device: str, call: Callable[[], Any]) -> tuple[Any, float, float]:
    """`call()`, its seconds and its peak memory above the start in MB."""
    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        resident = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    result = call()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        peak = (torch.cuda.max_memory_allocated() - resident) / 2**20
    else:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # the process's peak, in MB
    return result, time.perf_counter() - started, peak


def run_case(renderer: Renderer, case: ModeCase, rounds: int, device: str, warm: bool = True) -> ModeRow:
    row = ModeRow(case.model, case.label)
    renderer.load()
    loaded, weights = facts(renderer.pipe), storages(renderer.pipe)
    plain, note = plain_call(renderer, case.params)
    row.notes += [note] if note else []
    for index in range(rounds + warm):  # with `warm`, the first round warms up and is not counted
        ours, bot_s, peak = timed(device, lambda: renderer.render(case.params))
        theirs, plain_s, _ = timed(device, plain)
        if index or not warm:
            row.bot_s.append(bot_s)
            row.plain_s.append(plain_s)
            row.peak_mb.append(peak)
    row.frames = ours.count
    if not note and ours.frames.shape == theirs.shape:
        row.delta = int(np.abs(ours.frames.astype(np.int16) - theirs.astype(np.int16)).max())
    mode = renderer.preset.modes.mode(case.params.conditioning.kind)
    used = renderer.mode_pipeline(mode)
    row.kept = facts(renderer.pipe) == loaded and storages(used) <= weights
    return row


def run_modes(
    device: str,
    steps: int,
    rounds: int,
    deadline: float,
    emit: Callable[[dict[str, Any]], None],
    models: tuple[str, ...] = (),
) -> None:
    """Every case, each model built once; stops starting cases at `deadline` (perf_counter)."""
    emit({"kind": "section", "family": "modes", "model": "every tiny family, each mode it declares",
          "build_s": 0, "shape": f"64x64, {steps} steps"})  # fmt: skip
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        lora = make_lora(folder / "lora")
        renderers: dict[tuple[str, tuple[LoraSpec, ...]], Renderer] = {}
        rows: list[dict[str, Any]] = []
        every = cases(folder, steps, lora) + (
            full_size_cases(folder, steps) if device.startswith("cuda") else []
        )
        for case in every:
            if models and case.model not in models:
                continue
            if time.perf_counter() > deadline:
                rows.append(ModeRow(case.model, case.label, notes=["skipped: out of time"]).summary())
                continue
            key = (case.model, case.loras)
            if key not in renderers:
                renderers.clear()  # one model resident at a time
                gc.collect()
                preset = ltx.LTX_VIDEO if case.model == FULL_LTX else None
                renderers[key] = RealDtypes(case.model, device=device, loras=case.loras, preset=preset,
                                            tuning=RenderConfig(warmup_steps=0))  # fmt: skip
            renderer = renderers[key]
            try:
                if case.params.extends is not None and not Path(case.params.extends.clip_path).exists():
                    parent = renderer.render(replace(case.params, conditioning=TEXT_ONLY)).frames
                    encode_mp4(parent, Path(case.params.extends.clip_path), fps=case.params.fps, crf=0)
                rows.append(run_case(renderer, case, rounds, device, warm=rounds > 1).summary())
            except Exception as error:  # one failing case never aborts the table
                why = f"failed: {type(error).__name__}: {error}"[:160]
                rows.append(ModeRow(case.model, case.label, notes=[why]).summary())
            emit({"kind": "modes", "rows": rows})


HEADER = (f"{'model':<15} {'mode':<22} {'plain s':>8} {'bot s':>8} {'× plain':>8} {'Δ':>4} {'frames':>6} "
          f"{'peak MB':>8} {'kept':>5}  notes")  # fmt: skip


def table_line(row: dict[str, Any]) -> str:
    def num(value: float | None, fmt: str) -> str:
        return "—" if value is None else format(value, fmt)

    kept = "—" if row["kept"] is None else ("yes" if row["kept"] else "NO")
    delta = "—" if row["delta"] is None else str(row["delta"])
    return (
        f"{row['model']:<15} {row['label']:<22} {num(row['plain'], '.3f'):>8} {num(row['bot'], '.3f'):>8} "
        f"{num(row['ratio'], '.2f'):>8} {delta:>4} {row['frames'] or '—':>6} {num(row['peak'], '.0f'):>8} "
        f"{kept:>5}  {'; '.join(row['notes'])}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--budget-s", type=float, default=240)
    parser.add_argument("--json", default="")
    parser.add_argument("--models", nargs="*", default=[], help="these tiny models only (default: all)")
    args = parser.parse_args()
    records: list[dict[str, Any]] = []
    deadline = time.perf_counter() + args.budget_s
    run_modes(args.device, args.steps, args.rounds, deadline, records.append, tuple(args.models))
    rows = records[-1]["rows"] if records else []
    print(HEADER)
    for row in rows:
        print(table_line(row))
    if args.json:
        results = {"device": args.device, "rows": rows}
        Path(args.json).write_text(json.dumps(results, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
