"""Pictures for tests: real photographs from scikit-image (one with a real person's face), and
hostile files made in code."""

from __future__ import annotations

import hashlib
import io
import struct
import zlib

import numpy as np
from PIL import Image

from bot.core.credentials import Upload
from bot.faces import FaceDetector


def encode(image: Image.Image, kind: str = "JPEG", **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, kind, **options)
    return out.getvalue()


def photo(name: str) -> Image.Image:
    """A photograph scikit-image ships: "astronaut" (Eileen Collins), "coffee", "chelsea" (a cat)…"""
    from skimage import data

    return Image.fromarray(getattr(data, name)()).convert("RGB")


class RememberedLooks:
    """The face detector, its answers remembered by the exact pixels and the kind of look: the face
    gate's sweeps look at the same views again (the picture, its turns, its fine look and tiles are
    the same for each model size a test tries; 23 % of their looks).  The detector is
    deterministic, so a remembered answer is its answer; each distinct look still runs it once."""

    def __init__(self, detector: FaceDetector) -> None:
        self.detector = detector
        self.faces = detector.faces
        self.answers: dict[bytes, int] = {}

    def __call__(
        self, picture: Image.Image, *, derived: bool = False, fine: bool = False, closer: bool = False
    ) -> int:
        look = hashlib.blake2b(picture.tobytes(), digest_size=16)
        look.update(repr((picture.mode, picture.size, derived, fine, closer)).encode())
        key = look.digest()
        if key not in self.answers:
            self.answers[key] = self.detector(picture, derived=derived, fine=fine, closer=closer)
        return self.answers[key]


def astronaut_jpeg() -> bytes:
    return encode(photo("astronaut"))


def coffee_jpeg() -> bytes:
    return encode(photo("coffee"))


def gradient(width: int = 96, height: int = 64) -> Image.Image:
    x = np.linspace(0, 255, width, dtype=np.uint8)
    rgb = np.stack(
        [np.tile(x, (height, 1)), np.full((height, width), 90, np.uint8), np.tile(x[::-1], (height, 1))], -1
    )
    return Image.fromarray(rgb)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims `width`×`height` and holds almost nothing: a decompression bomb's header."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    body = struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    idat = zlib.compress(b"\0" * 64)
    idat_chunk = b"IDAT" + idat
    body += struct.pack(">I", len(idat)) + idat_chunk + struct.pack(">I", zlib.crc32(idat_chunk))
    end = b"IEND"
    body += struct.pack(">I", 0) + end + struct.pack(">I", zlib.crc32(end))
    return b"\x89PNG\r\n\x1a\n" + body


def upload(data: bytes, declared: int | None = None) -> Upload:
    async def fetch() -> bytes:
        return data

    return Upload(len(data) if declared is None else declared, fetch)
