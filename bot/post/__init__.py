"""Post steps on a finished clip: 🎞 Smooth (frame interpolation) and 🔍 HD (×2 upscaling).

`PostEngine` picks the method `[post]` asks for and loads its weights from disk; `smooth_frames`,
`upscale_frames`, `upscale_latent` are the steps themselves, on a whole clip's uint8 frames.
Nothing here imports torch until a step runs.  See docs/post.md.
"""

from bot.post.engine import PostEngine
from bot.post.hd import (
    LTX_UPSAMPLER,
    SPANDREL,
    AtSizeCap,
    Upscaled,
    UpscalerError,
    batch_frames,
    load_upscaler,
    mean_frame_difference,
    upscale_frames,
    upscale_latent,
)
from bot.post.smooth import MINTERPOLATE, RIFE, AlreadySmooth, Smoothed, smooth_factor, smooth_frames
from bot.post.weights import PostWeightsMissing

__all__ = [
    "LTX_UPSAMPLER",
    "MINTERPOLATE",
    "RIFE",
    "SPANDREL",
    "AlreadySmooth",
    "AtSizeCap",
    "PostEngine",
    "PostWeightsMissing",
    "Smoothed",
    "Upscaled",
    "UpscalerError",
    "batch_frames",
    "load_upscaler",
    "mean_frame_difference",
    "smooth_factor",
    "smooth_frames",
    "upscale_frames",
    "upscale_latent",
]
