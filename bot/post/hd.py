"""🔍 HD: a clip upscaled ×2, by an image super-resolution model through spandrel (any family) or
by LTX-Video's latent spatial upsampler (the LTX families, in the model's own latent space).

spandrel (MIT) detects the architecture from the state dict (Real-ESRGAN, SRVGGNetCompact …) and
never downloads; `.pth` files go through its restricted unpickler.  Frames go through in batches
sized by the `[render] memory` mode, each batch turned to uint8 at once, so no float32 copy of the
whole clip is ever held.  A ×4 model's output is scaled down to ×2 (area filter), as Real-ESRGAN's
own `outscale` does.
"""

from __future__ import annotations

import importlib.util
import itertools
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bot.settings.sections import MAX_HD_SIDE

SPANDREL = "spandrel"
LTX_UPSAMPLER = "ltx-upsampler"
# pixels of input per batch by [render] memory mode: "fast" keeps the GPU busy, "low" one frame
BATCH_PIXELS = {"fast": 8 * 512 * 512, "balanced": 2 * 512 * 512, "low": 1}

Progress = Callable[[int, int], None]


class AtSizeCap(Exception):
    """Upscaling would pass MAX_HD_SIDE; one sentence for the person asking."""


class UpscalerError(Exception):
    """The weights are no ×2/×4 image model spandrel knows; one line for the owner."""


@dataclass(frozen=True)
class Upscaled:
    frames: np.ndarray  # uint8 (frames, 2·height, 2·width, 3)
    method: str  # SPANDREL or LTX_UPSAMPLER
    model: str  # the architecture and weights' name


def check_size(height: int, width: int) -> None:
    if max(height, width) * 2 > MAX_HD_SIDE:
        raise AtSizeCap(f"this clip is already {width}×{height}; HD stops at {MAX_HD_SIDE} pixels a side")


def batch_frames(memory: str, height: int, width: int) -> int:
    """How many frames go through the model at once under `[render] memory`."""
    return max(1, BATCH_PIXELS.get(memory, 1) // (height * width))


def import_spandrel() -> Any:
    """spandrel, imported.  Its package imports torchvision for two architectures the bot never
    loads (LaMa inpainting, RestoreFormer faces); PyPI's torchvision pins one torch release and
    would replace the owner's, so `scripts/setup.sh` installs spandrel without it.  Then stand-ins
    that raise when called are in `sys.modules` for the import only, and gone after it, so nothing
    else (diffusers, transformers) ever takes them for a real torchvision."""
    if "spandrel" in sys.modules or importlib.util.find_spec("torchvision") is not None:
        import spandrel

        return spandrel

    def missing(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("this model needs torchvision, which is not installed")

    names = ("torchvision", "torchvision.transforms", "torchvision.transforms.functional")
    stand_ins = {name: types.ModuleType(name) for name in names}
    functional = stand_ins["torchvision.transforms.functional"]
    functional.normalize = functional.rotate = missing  # type: ignore[attr-defined]
    functional.InterpolationMode = types.SimpleNamespace(BILINEAR="bilinear")  # type: ignore[attr-defined]
    for name in names[:2]:
        stand_ins[name].__path__ = []  # type: ignore[attr-defined]  # a package: submodules resolve
    sys.modules.update(stand_ins)
    try:
        import spandrel
    finally:
        for name in names:
            sys.modules.pop(name, None)
    return spandrel


def load_upscaler(path: Path, device: str = "cpu") -> Any:
    """spandrel's `ImageModelDescriptor` for the file at `path`, in eval mode on `device`."""
    spandrel = import_spandrel()
    try:
        descriptor = spandrel.ModelLoader(device=device).load_from_file(path)
    except (spandrel.UnsupportedModelError, ValueError) as error:
        raise UpscalerError(f"{path.name}: spandrel cannot load it ({error})") from None
    if not isinstance(descriptor, spandrel.ImageModelDescriptor) or descriptor.scale not in (2, 4):
        raise UpscalerError(f"{path.name} is not a ×2 or ×4 image upscaler")
    return descriptor.eval()


def upscale_frames(
    upscaler: Any,
    frames: np.ndarray,
    *,
    memory: str = "fast",
    name: str = "",
    progress: Progress | None = None,
) -> Upscaled:
    """Every frame ×2 through a spandrel descriptor, `batch_frames(memory, …)` at a time."""
    import torch
    import torch.nn.functional as F

    count, height, width, _ = frames.shape
    check_size(height, width)
    out = np.empty((count, height * 2, width * 2, 3), dtype=np.uint8)
    step = batch_frames(memory, height, width)
    device, dtype = upscaler.device, upscaler.dtype
    with torch.inference_mode():
        for start in range(0, count, step):
            batch = torch.from_numpy(frames[start : start + step]).to(device).permute(0, 3, 1, 2)
            big = upscaler(batch.to(dtype) / 255.0)
            if big.shape[-2:] != (height * 2, width * 2):
                big = F.interpolate(big.float(), size=(height * 2, width * 2), mode="area")
            pixels = (big.clamp(0, 1) * 255.0).round().to(torch.uint8).permute(0, 2, 3, 1)
            out[start : start + len(batch)] = pixels.cpu().numpy()
            if progress is not None:
                progress(min(start + step, count), count)
    label = f"{upscaler.architecture.name} ×{upscaler.scale}" + (f" ({name})" if name else "")
    return Upscaled(out, SPANDREL, label)


def upscale_latent(
    vae: Any, upsampler: Any, frames: np.ndarray, *, name: str = "", seed: int = 0
) -> Upscaled:
    """LTX-Video: encode with the family's VAE, upsample ×2 in latent space, decode.

    The frames must be the LTX frame rule's (8k+1) and sides multiples of 32, as LTX renders them.
    """
    import torch
    from diffusers import LTXLatentUpsamplePipeline

    count, height, width, _ = frames.shape
    check_size(height, width)
    if count % 8 != 1 or height % 32 or width % 32:
        raise ValueError(f"the LTX upsampler takes 8k+1 frames, sides divisible by 32, not {frames.shape}")
    pipe: Any = LTXLatentUpsamplePipeline(vae=vae, latent_upsampler=upsampler)
    pipe.set_progress_bar_config(disable=True)
    from PIL import Image

    # uint8 pictures in: the pipeline's processor makes the one float copy the VAE encodes
    generator = torch.Generator(device="cpu").manual_seed(seed)
    result = pipe(
        video=[Image.fromarray(frame) for frame in frames], height=height, width=width,
        output_type="np", generator=generator,
    )  # fmt: skip
    upscaled = np.asarray(result.frames[0])
    out = (np.clip(upscaled, 0.0, 1.0) * 255.0).round().astype(np.uint8)
    return Upscaled(out, LTX_UPSAMPLER, name or "LTXLatentUpsamplerModel")


def mean_frame_difference(frames: np.ndarray) -> float:
    """Mean absolute change between consecutive frames, 0–255 (flicker on a still scene)."""
    if len(frames) < 2:
        return 0.0
    total = 0.0
    for before, after in itertools.pairwise(frames):
        total += float(np.abs(after.astype(np.int16) - before.astype(np.int16)).mean())
    return total / (len(frames) - 1)
