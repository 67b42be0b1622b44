"""An optional visible mark ("AI") burned into a corner of every frame before encoding.

Drawn once with Pillow's bundled font (no system font needed) as white text outlined in
black, so it reads on dark and light clips alike, then blended into each frame with numpy.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from bot.settings.sections import WATERMARK_POSITIONS as POSITIONS

TEXT_SHARE = 0.09  # text height as a share of the frame's shorter side: ~23 px at 256², ~43 at 480
MIN_TEXT_PX = 12


def burn_watermark(frames: np.ndarray, text: str, position: str = "bottom-right") -> np.ndarray:
    """A copy of uint8 frames (n, h, w, 3) with `text` in `position`; unchanged if `text` is empty."""
    if not text:
        return frames
    if position not in POSITIONS:
        raise ValueError(f"watermark position {position!r} is not one of {', '.join(POSITIONS)}")
    height, width = frames.shape[1:3]
    size = max(MIN_TEXT_PX, round(min(height, width) * TEXT_SHARE))
    patch, alpha = _text_patch(text, size)
    if patch.shape[1] > width * 0.9:  # a long text on a narrow clip: smaller letters, not cut ones
        patch, alpha = _text_patch(text, max(6, int(size * width * 0.9 / patch.shape[1])))
    margin = max(2, patch.shape[0] // 4)
    patch_h, patch_w = min(patch.shape[0], height), min(patch.shape[1], width)
    patch, alpha = patch[:patch_h, :patch_w], alpha[:patch_h, :patch_w]
    top = margin if position.startswith("top") else height - patch_h - margin
    left = margin if position.endswith("left") else width - patch_w - margin
    top, left = max(0, min(top, height - patch_h)), max(0, min(left, width - patch_w))
    marked = frames.copy()
    region = marked[:, top : top + patch_h, left : left + patch_w].astype(np.float32)
    region = region * (1 - alpha) + patch * alpha
    marked[:, top : top + patch_h, left : left + patch_w] = np.round(region).astype(np.uint8)
    return marked


def _text_patch(text: str, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The text drawn on a transparent patch: RGB (h, w, 3) and alpha (h, w, 1) in 0..1."""
    font = ImageFont.load_default(size=size)
    stroke = max(1, size // 10)
    probe = ImageDraw.Draw(Image.new("RGBA", (1, 1)))
    box = probe.textbbox((0, 0), text, font=font, stroke_width=stroke)
    left, top, right, bottom = (round(edge) for edge in box)
    image = Image.new("RGBA", (right - left + 2, bottom - top + 2), (0, 0, 0, 0))
    ImageDraw.Draw(image).text(
        (1 - left, 1 - top), text, font=font, fill=(255, 255, 255, 255), stroke_width=stroke,
        stroke_fill=(0, 0, 0, 255),
    )  # fmt: skip
    rgba = np.asarray(image, dtype=np.float32)
    return rgba[..., :3], rgba[..., 3:] / 255.0
