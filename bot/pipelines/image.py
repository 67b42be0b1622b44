"""A picture made to fit the model's size: what a picture mode (and a loop's ends) receives.

Which pipeline animates it, and with which call arguments, is each family's own `Modes`
(`bot.pipelines.spec`); `fit_picture` is the exact crop the model receives (the face gate
checks that crop).
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageOps

from bot.pipelines.spec import MAX_PICTURE_PIXELS


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
