"""Animating a picture: the image-to-video pipeline over the loaded model's own components,
and the picture made to fit the model's size.

`image_pipeline` never loads a second copy of the weights: `from_pipe` builds the
image-to-video class around the modules the text-to-video pipeline already holds
(Wan 2.2 TI2V-5B: `WanImageToVideoPipeline` with `expand_timesteps`; LTX-Video:
`LTXImageToVideoPipeline`).  Image-to-video checkpoints (CogVideoX-5b-I2V, Wan 2.1 I2V-14B,
LTX 0.9.7's `LTXConditionPipeline`) are loaded as what they are and used as is.

`conditioning` is the one place that says how a picture enters a pipeline call, at frame 0.
Extending a clip (#25) reuses it with the parent's last frame as the picture; with
`LTXConditionPipeline` a longer tail goes in as `LTXVideoCondition(video=[...], frame_index=0)`
instead of `image=`, and a loop adds a second condition at the last frame index.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image, ImageOps

from bot.pipelines.spec import MAX_PICTURE_PIXELS

# Image-to-video classes as loaded from a checkpoint: used as they are.
IMAGE_CLASSES = frozenset(
    {
        "WanImageToVideoPipeline",
        "LTXImageToVideoPipeline",
        "LTXConditionPipeline",
        "CogVideoXImageToVideoPipeline",
    }
)
# Classes whose call takes a different picture per clip of a batch; the others render a
# batch of pictures one clip at a time (Wan's I2V encodes one picture for the whole batch).
PER_CLIP_PICTURES = frozenset({"LTXImageToVideoPipeline", "CogVideoXImageToVideoPipeline"})


class CannotAnimate(Exception):
    """This checkpoint has no image-to-video form (Wan 2.1 text-to-video, ModelScope)."""


def image_pipeline(pipe: Any) -> Any:
    """The pipeline that animates a picture, sharing every module with `pipe` (no second copy)."""
    made = _image_pipeline(pipe)
    if made is not pipe:
        made.set_progress_bar_config(disable=True)
    return made


def _image_pipeline(pipe: Any) -> Any:
    name = type(pipe).__name__
    if name in IMAGE_CLASSES:
        return pipe
    if name == "LTXPipeline":
        from diffusers import LTXImageToVideoPipeline

        return LTXImageToVideoPipeline.from_pipe(pipe)
    if name == "WanPipeline" and getattr(pipe.config, "expand_timesteps", False):
        from diffusers import WanImageToVideoPipeline

        # TI2V-5B: the picture is the clean first latent frame; no CLIP image encoder
        return WanImageToVideoPipeline.from_pipe(pipe)
    raise CannotAnimate(f"{name} has no image-to-video form")


def per_clip_pictures(pipe: Any) -> bool:
    return type(pipe).__name__ in PER_CLIP_PICTURES


def conditioning(pipe: Any, pictures: list[Image.Image]) -> dict[str, Any]:
    """The call arguments that condition frame 0 on `pictures` (one, or one per clip)."""
    if type(pipe).__name__ == "LTXConditionPipeline":
        from diffusers.pipelines.ltx.pipeline_ltx_condition import LTXVideoCondition

        return {"conditions": [LTXVideoCondition(image=pictures[0], frame_index=0)]}
    return {"image": pictures[0] if len(pictures) == 1 else pictures}


def fit_picture(picture: Image.Image, width: int, height: int) -> Image.Image:
    """Scale to cover `width`×`height` and crop the overflow evenly from both sides: the subject
    (assumed near the middle) stays centred and nothing is stretched."""
    return ImageOps.fit(
        picture.convert("RGB"), (width, height), Image.Resampling.LANCZOS, centering=(0.5, 0.5)
    )


def load_picture(path: str | Path, width: int, height: int) -> Image.Image:
    """The stored picture, upright, its first frame, fitted to the clip's size (already checked
    when it came in; the pixel limit still holds here, for a file changed on disk since)."""
    Image.MAX_IMAGE_PIXELS = MAX_PICTURE_PIXELS
    with Image.open(path) as opened:
        opened.seek(0)
        upright = ImageOps.exif_transpose(opened)
        upright.load()
        return fit_picture(upright, width, height)
