"""A post step as the worker runs it: a signed parent clip in, a new signed clip out whose tags
and C2PA record name the parent (`parentOf`) and the step (`c2pa.edited`, method and model);
read back with PyAV and c2pa's own reader."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import av
import c2pa
import numpy as np
import torch
from safetensors.torch import save_file

from bot.domain import PostKind, PostStep, RenderParams
from bot.encode import encode_clip
from bot.pipelines.clip import RenderedClip
from bot.pipelines.registry import TINY_PRESETS
from bot.post import PostEngine
from bot.post.clip import POST_TAG, run_post_step
from bot.post.hd import import_spandrel
from bot.provenance import ContentCredentials, check_clip, ensure_local_identity
from bot.provenance.manifest import GENERATION_LABEL
from bot.settings.sections import PostConfig, VideoConfig

TINY = TINY_PRESETS["tiny"].identity("tiny", "tiny")
PARAMS = RenderParams("a red fox", "", 7, 8, 3, 9.0, 32, 32, 8)


def parent_clip(folder: Path, credentials: ContentCredentials) -> Path:
    x = np.arange(32)
    frames = np.stack(
        [
            np.broadcast_to(((x + 4 * i) * 8 % 256).astype(np.uint8)[None, :, None], (32, 32, 3))
            for i in range(8)
        ]
    )
    encode_clip(
        RenderedClip(frames, PARAMS.fps),
        folder / "1.mp4",
        PARAMS,
        made_by=TINY,
        video=VideoConfig(),
        credentials=credentials,
    )
    return folder / "1.mp4"


def manifest(path: Path) -> dict[str, Any]:
    with open(path, "rb") as stream, c2pa.Reader("video/mp4", stream) as reader:
        store = json.loads(reader.json())
    return store["manifests"][store["active_manifest"]]


def tags_and_shape(path: Path) -> tuple[dict[str, str], int, float, int, int]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        count = sum(1 for _ in container.decode(stream))
        return dict(container.metadata), count, float(stream.average_rate or 0), stream.width, stream.height


def test_smooth_then_hd_make_new_signed_clips_that_name_their_parent_and_step(tmp_path):
    credentials = ContentCredentials(ensure_local_identity(tmp_path))
    parent = parent_clip(tmp_path, credentials)
    import_spandrel()
    from spandrel.architectures.Compact import Compact

    torch.manual_seed(0)
    save_file(Compact(num_feat=8, num_conv=2, upscale=2).state_dict(), str(tmp_path / "x2.safetensors"))
    engine = PostEngine(PostConfig(rife_repo="", upscaler_path=str(tmp_path / "x2.safetensors")))

    smooth = run_post_step(PostStep(PostKind.SMOOTH, 1, str(parent)), PARAMS, TINY, engine, tmp_path / "2.mp4",
                           video=VideoConfig(), credentials=credentials)  # fmt: skip
    hd = run_post_step(PostStep(PostKind.HD, 2, smooth.clip.path), PARAMS, TINY, engine, tmp_path / "3.mp4",
                       video=VideoConfig(), credentials=credentials)  # fmt: skip

    tags, count, fps, width, height = tags_and_shape(tmp_path / "2.mp4")
    assert (count, fps, width, height) == (24, 24.0, 32, 32)
    assert tags[POST_TAG] == "smooth:minterpolate" and tags["videobot_frames"] == "24"
    assert tags["videobot_fps"] == "24" and tags["videobot_seed"] == "7", "the parent's seed, the new frames"
    tags, count, fps, width, height = tags_and_shape(tmp_path / "3.mp4")
    assert (count, fps, width, height) == (24, 24.0, 64, 64)
    assert tags[POST_TAG] == "smooth:minterpolate,hd:spandrel" == hd.chain
    assert "Compact ×2" in tags[f"{POST_TAG}_model"]

    check = check_clip(tmp_path / "3.mp4")
    assert check.state.value == "valid" and check.extends_clip and check.parent_had_credentials
    signed = manifest(tmp_path / "3.mp4")
    (parent_of,) = [i for i in signed["ingredients"] if i["relationship"] == "parentOf"]
    assert parent_of["title"] == "clip-2.mp4" and "upscaled ×2" in parent_of["description"]
    actions = next(
        a["data"]["actions"] for a in signed["assertions"] if a["label"].startswith("c2pa.actions")
    )
    edited = [a for a in actions if a["action"] == "c2pa.edited"]
    assert [(a["parameters"]["step"], a["parameters"]["method"]) for a in edited] == [("hd", "spandrel")]
    record = next(a["data"] for a in signed["assertions"] if a["label"] == GENERATION_LABEL)
    assert (record["frames"], record["fps"], record["width"], record["parent"]["job"]) == (24, 24, 64, 2)
    assert record["post"]["chain"] == "smooth:minterpolate,hd:spandrel"
