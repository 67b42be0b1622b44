"""Checking a picture someone sent, before anything is charged or queued.

Everything here treats the bytes as hostile: the size is checked before Pillow sees them;
Pillow's decompression-bomb limit is set on purpose (and a warning becomes a refusal); the
header's dimensions are checked before a pixel is decoded; only JPEG, PNG and WebP are
opened (an animated one gives its first frame); the whole image is decoded once, so a
truncated file fails here and not in a render.  Each refusal is a `CommandError` naming one
plain sentence.  Then the face detector (`bot.faces`) and the picture's own Content
Credentials (the bot's own stills pass the face gate) are looked at.

The detector looks at what a model is given, not only at the picture as sent: the centre crop
at each model size asked for (a face in the middle of a 4096×512 strip is a portrait once
cropped), and each view upright and turned 90°, 180° and 270° (a model animates a picture
upside down as readily as upright); when none shows a face, closer: each crop with a margin (a
face the crop cuts in half) and a big picture's tiles enlarged (small faces, collages), at a
stricter score.  Pillow's limits are set here, once, on import.
"""

from __future__ import annotations

import hashlib
import io
import logging
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

from PIL import Image, ImageOps

from bot.core.credentials import CredentialsCheck
from bot.core.parsing import CommandError
from bot.core.pictures import OWN_CREDENTIALS, PictureFacts, Size
from bot.domain import Picture
from bot.faces import DETECT_SIDE, FINE_SIDE, detector_input
from bot.pipelines.spec import MAX_PICTURE_ASPECT, MAX_PICTURE_PIXELS, MAX_PICTURE_SIDE, MIN_PICTURE_SIDE

log = logging.getLogger(__name__)

FORMATS = {"JPEG": "jpeg", "PNG": "png", "WEBP": "webp"}  # Pillow's name → ours (and the MIME subtype)
MB = 1_000_000  # decimal, as Telegram counts its 20 MB

TURNS = (Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_180, Image.Transpose.ROTATE_270)


class FaceCounter(Protocol):
    """Counts faces (`bot.faces.FaceDetector`): `derived`, in a crop or turn of the picture as
    sent; `fine`, in the whole picture looked at larger; `closer`, in a closer look (a tile
    enlarged, a crop with a margin: a stricter score)."""

    def __call__(
        self, picture: Image.Image, *, derived: bool = False, fine: bool = False, closer: bool = False
    ) -> int: ...


# Reads a picture's C2PA manifest (bytes, MIME) → its check, `trusted` only when signed by the
# bot's own chain; None when it carries none.
PictureCredentials = Callable[[bytes, str], CredentialsCheck | None]


def bound_pillow() -> None:
    """Pillow's limits, the one place they are set: past `MAX_IMAGE_PIXELS` Pillow warns (a
    refusal here), past twice it raises; a truncated file is an error, never half a picture."""
    from PIL import ImageFile

    Image.MAX_IMAGE_PIXELS = MAX_PICTURE_PIXELS
    ImageFile.LOAD_TRUNCATED_IMAGES = False


bound_pillow()


def model_view(picture: Image.Image, size: Size) -> Image.Image:
    """What a model of `size` receives from `picture`: the image pipeline's own fitting, at the
    picture's resolution (the same pixels, never blurred by a resize to a tiny model's size)."""
    from bot.pipelines.image import fit_picture

    return fit_picture(picture, *_fitted(picture, size))


def _fitted(picture: Image.Image, size: Size) -> Size:
    """The size of a model's crop of `picture` at the picture's resolution: one per aspect."""
    width, height = size
    scale = min(picture.width / width, picture.height / height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _distinct_crops(picture: Image.Image, sizes: Sequence[Size]) -> list[Size]:
    """One model size per distinct crop it gives, leaving out those that are the whole picture
    (models of one aspect receive the same pixels, and the picture as sent is looked at anyway)."""
    crops: dict[Size, Size] = {}
    for size in sizes:
        crops.setdefault(_fitted(picture, size), size)
    crops.pop(picture.size, None)
    return list(crops.values())


FINE_ABOVE = 2 * DETECT_SIDE  # a picture whose longer side is past this gets a finer look, and tiles
CROP_MARGIN = 0.25  # a model's crop is also looked at with this share of it added on each side
TILES_OF = 960  # tiles are cut from the picture shrunk to this longer side …
TILE = 240  # … each square enlarged to DETECT_SIDE: a 12-px face there (1.25 % of the side) is 16 px
TILE_STRIDE = 180  # tiles overlap by 60 px: a face that small is whole in one; bigger ones the fine look sees


def crop_with_margin(picture: Image.Image, size: Size, margin: float = CROP_MARGIN) -> Image.Image:
    """A model's centre crop of `picture` with `margin` of it around (as far as the picture goes): a
    face the crop cuts in half is whole here."""
    width, height = size
    scale = min(picture.width / width, picture.height / height)
    box_w, box_h = width * scale * (1 + 2 * margin), height * scale * (1 + 2 * margin)
    left, top = max(0, round((picture.width - box_w) / 2)), max(0, round((picture.height - box_h) / 2))
    return picture.crop((left, top, picture.width - left, picture.height - top))


def detector_views(picture: Image.Image, sizes: Sequence[Size]) -> Iterator[tuple[Image.Image, bool]]:
    """(view, derived): the picture and each model's crop of it, each upright and turned 90°, 180°
    and 270°; `derived` for all but the picture as sent.  Each view is sized for the detector
    once, then turned (what the detector would have made of each turn on its own)."""
    for view in (picture, *(model_view(picture, size) for size in _distinct_crops(picture, sizes))):
        small = detector_input(view)
        yield small, view is not picture
        for turn in TURNS:
            yield small.transpose(turn), True


def closer_views(picture: Image.Image, sizes: Sequence[Size]) -> Iterator[Image.Image]:
    """Each model's crop with a margin (a face the crop cuts in half is whole there), then, for a
    big picture, its tiles enlarged (small faces in a large field, a collage's faces)."""
    seen = {picture.size}  # a centred crop is known by its size
    for size in _distinct_crops(picture, sizes):
        margin = crop_with_margin(picture, size)
        if margin.size not in seen:
            seen.add(margin.size)
            yield margin
    if max(picture.size) > FINE_ABOVE:
        yield from tiles(picture)


def tiles(picture: Image.Image) -> Iterator[Image.Image]:
    """Overlapping squares of a big picture, each enlarged for the detector: small faces in a large
    field, the faces of a collage (at most 25 looks, about 8 ms each)."""
    view = picture.convert("RGB")
    view.thumbnail((TILES_OF, TILES_OF), Image.Resampling.BILINEAR)
    side = min(TILE, *view.size)
    for top in _starts(view.height, side):
        for left in _starts(view.width, side):
            tile = view.crop((left, top, left + side, top + side))
            yield tile.resize((DETECT_SIDE, DETECT_SIDE), Image.Resampling.BICUBIC)


def _starts(length: int, side: int) -> list[int]:
    last = length - side
    return sorted({*range(0, last, TILE_STRIDE), last})


def count_faces_seen(count_faces: FaceCounter, picture: Image.Image, sizes: Sequence[Size]) -> int:
    """Faces in the first view that shows any (0 when none does: every view was looked at; of the
    closer looks, a view with the pixels of one already looked at only once: a plain background's
    tiles, a collage's repeats)."""
    if max(picture.size) > FINE_SIDE:  # the views are looked at smaller than this anyway
        picture = picture.convert("RGB")
        picture.thumbnail((FINE_SIDE, FINE_SIDE), Image.Resampling.BILINEAR)
    for view, derived in detector_views(picture, sizes):
        if found := count_faces(view, derived=derived):
            return found
    if max(picture.size) > FINE_ABOVE and (found := count_faces(picture, fine=True)):
        return found
    looked: set[bytes] = set()
    for view in closer_views(picture, sizes):
        small = detector_input(view)
        pixels = hashlib.blake2b(small.tobytes(), digest_size=16)
        pixels.update(repr(small.size).encode())
        if (key := pixels.digest()) not in looked:
            looked.add(key)
            if found := count_faces(small, closer=True):
                return found
    return 0


def picture_intact(picture: Picture) -> bool:
    """Whether the file at `picture.path` is still the one that passed the checks (its SHA-256):
    a worker reading it from a shared disk renders only what the bot checked."""
    return file_intact(picture.path or "", picture.sha256)


def file_intact(path: str, sha256: str) -> bool:
    """Whether the file at `path` has this SHA-256 (a picture's, a post step's parent clip)."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as file:
            while chunk := file.read(1 << 20):
                digest.update(chunk)
    except OSError:
        return False
    return bool(sha256) and digest.hexdigest() == sha256


def open_picture(data: bytes, max_bytes: int) -> tuple[Image.Image, str]:
    """The picture upright (EXIF orientation applied), its first frame decoded, and its format."""
    if not data:
        raise CommandError("picture_empty")
    if len(data) > max_bytes:
        raise CommandError("picture_too_big", limit=max_bytes // MB)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            opened = Image.open(io.BytesIO(data), formats=tuple(FORMATS))
            _check_dimensions(*opened.size)
            opened.seek(0)  # an animated WebP or PNG: its first frame
            opened.load()
            upright = ImageOps.exif_transpose(opened)
    except CommandError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise CommandError(
            "picture_dimensions",
            width="?",
            height="?",
            low=MIN_PICTURE_SIDE,
            high=MAX_PICTURE_SIDE,
            aspect=int(MAX_PICTURE_ASPECT),
        ) from None
    except Image.UnidentifiedImageError:
        raise CommandError("picture_not_image") from None
    except (OSError, ValueError, SyntaxError, EOFError) as error:  # truncated, corrupt
        log.info("a picture failed to decode: %s", error)
        raise CommandError("picture_broken") from None
    return upright, FORMATS[str(opened.format)]


def _check_dimensions(width: int, height: int) -> None:
    long, short = max(width, height), min(width, height)
    if short < MIN_PICTURE_SIDE or long > MAX_PICTURE_SIDE or long / short > MAX_PICTURE_ASPECT:
        raise CommandError(
            "picture_dimensions",
            width=width,
            height=height,
            low=MIN_PICTURE_SIDE,
            high=MAX_PICTURE_SIDE,
            aspect=int(MAX_PICTURE_ASPECT),
        )


class PictureInspector:
    """The `PictureInspector` port: format and bounds, faces, and whose credentials it carries."""

    def __init__(
        self,
        max_bytes: int,
        count_faces: FaceCounter,
        read_credentials: PictureCredentials | None = None,
    ) -> None:
        self.max_bytes = max_bytes
        self.count_faces = count_faces
        self.read_credentials = read_credentials

    def __call__(self, data: bytes, sizes: Sequence[Size] = ()) -> PictureFacts:
        """`sizes`: what each model the picture may go to is given (its width and height)."""
        image, kind = open_picture(data, self.max_bytes)
        credentials = self._credentials(data, f"image/{kind}")
        picture = Picture(
            sha256=hashlib.sha256(data).hexdigest(),
            size_bytes=len(data),
            format=kind,
            width=image.width,
            height=image.height,
            credentials=credentials,
        )
        faces = 0 if credentials == OWN_CREDENTIALS else count_faces_seen(self.count_faces, image, sizes)
        return PictureFacts(picture, faces)

    def _credentials(self, data: bytes, mime: str) -> str:
        """ "videobot" for the bot's own intact credentials, "other" for anyone else's, "" for none."""
        if self.read_credentials is None:
            return ""
        check = self.read_credentials(data, mime)
        if check is None:
            return ""
        if check.valid and check.trusted:  # trusted: the bot's own chain is the only anchor
            return OWN_CREDENTIALS
        return "other"
