"""A post step as the worker runs it: the parent clip's file in, a new signed clip out.

The new clip carries the parent's tags with the facts of its own frames (count, fps, size), the
tag `videobot_post` listing every step in its chain (`smooth:rife`, `smooth:rife,hd:spandrel`),
and a C2PA record naming the parent clip as its `parentOf` ingredient and the step as a
`c2pa.edited` action with the method and model.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bot.config import VideoConfig
from bot.domain import Clip, PostKind, PostStep, RenderParams
from bot.encode import clip_tags, encode_mp4
from bot.pipelines.frames import read_clip
from bot.pipelines.spec import ClipIdentity
from bot.post.engine import PostEngine
from bot.post.hd import Progress
from bot.provenance import ContentCredentials

POST_TAG = "videobot_post"


@dataclass(frozen=True)
class PostMade:
    """What a post step made: the clip and the words its tag and record hold."""

    clip: Clip
    method: str
    model: str
    chain: str  # the `videobot_post` tag: every step from the first render on


def steps_done(tags: dict[str, str]) -> list[str]:
    """The post steps a clip has been through, from its tags (`["smooth:rife"]`)."""
    return [step for step in tags.get(POST_TAG, "").split(",") if step]


def run_post_step(
    step: PostStep,
    params: RenderParams,
    made_by: ClipIdentity,
    engine: PostEngine,
    out: Path,
    *,
    video: VideoConfig,
    credentials: ContentCredentials | None = None,
    vae: Any = None,
    progress: Progress | None = None,
) -> PostMade:
    """Read the parent clip, smooth or upscale it, encode and sign the result at `out`."""
    frames, fps, tags = read_clip(Path(step.clip_path))
    if step.kind == PostKind.SMOOTH:
        smoothed = engine.smooth(frames, fps, loop=step.loop, progress=progress)
        made, new_fps, method, model = smoothed.frames, smoothed.fps, smoothed.method, smoothed.model
    else:
        upscaled = engine.hd(frames, family=made_by.family, vae=vae, progress=progress)
        made, new_fps, method, model = upscaled.frames, fps, upscaled.method, upscaled.model
    chain = ",".join([*steps_done(tags), f"{step.kind}:{method}"])
    height, width = made.shape[1:3]
    # the tags and the record state the facts of the new frames, the parent's prompt and seed
    facts = replace(params, frames=len(made), fps=round(new_fps), width=width, height=height)
    metadata = clip_tags(facts, made_by, prompt_hash_only=video.hash_prompt_in_metadata)
    metadata[POST_TAG] = chain
    metadata[f"{POST_TAG}_model"] = model
    clip = encode_mp4(made, out, fps=facts.fps, metadata=metadata, crf=video.crf)
    if credentials is not None:
        record = credentials.record(replace(facts, extends=None, post=None), made_by)
        root = params.extends.root_id if params.extends else step.parent_id
        record = replace(
            record,
            parent={"job": step.parent_id, "first_clip": root, "frames": len(frames)},
            parent_path=step.clip_path,
            post={"step": str(step.kind), "method": method, "model": model, "chain": chain},
        )
        if credentials.sign(out, record):
            clip = replace(clip, size_bytes=out.stat().st_size)
    return PostMade(clip, method, model, chain)
