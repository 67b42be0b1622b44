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

import numpy as np

from bot.domain import Clip, PostKind, PostStep, RenderParams, conditioning
from bot.encode import clip_tags, encode_mp4
from bot.pipelines.clip import RenderedClip
from bot.pipelines.frames import read_clip
from bot.pipelines.spec import ClipIdentity
from bot.post.engine import PostEngine
from bot.post.hd import Progress
from bot.provenance import ContentCredentials
from bot.settings.sections import VideoConfig

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


@dataclass(frozen=True)
class PostFrames:
    """A post step's frames before encoding, and what made them."""

    frames: np.ndarray
    fps: int
    method: str
    model: str
    chain: str
    parent_frames: int


def post_frames(
    step: PostStep,
    made_by: ClipIdentity,
    engine: PostEngine,
    *,
    vae: Any = None,
    progress: Progress | None = None,
) -> PostFrames:
    """Read the parent clip and smooth or upscale it (the GPU's part: the render pool's)."""
    frames, fps, tags = read_clip(Path(step.clip_path))
    if step.kind == PostKind.SMOOTH:
        smoothed = engine.smooth(frames, fps, loop=step.loop, progress=progress)
        made, new_fps, method, model = smoothed.frames, smoothed.fps, smoothed.method, smoothed.model
    else:
        upscaled = engine.hd(frames, family=made_by.family, vae=vae, progress=progress)
        made, new_fps, method, model = upscaled.frames, fps, upscaled.method, upscaled.model
    chain = ",".join([*steps_done(tags), f"{step.kind}:{method}"])
    return PostFrames(made, round(new_fps), method, model, chain, len(frames))


def encode_post(
    made: PostFrames,
    step: PostStep,
    params: RenderParams,
    made_by: ClipIdentity,
    out: Path,
    *,
    video: VideoConfig,
    credentials: ContentCredentials | None = None,
) -> PostMade:
    """The MP4 at `out` with its tags and, with `credentials`, its signed record (the encoder's part)."""
    height, width = made.frames.shape[1:3]
    # the tags and the record state the facts of the new frames, the parent's prompt and seed
    facts = replace(params, frames=len(made.frames), fps=made.fps, width=width, height=height, post=None)
    rendered = RenderedClip(np.ascontiguousarray(made.frames, dtype=np.uint8), made.fps)
    metadata = clip_tags(facts, made_by, rendered, prompt_hash_only=video.hash_prompt_in_metadata)
    metadata[POST_TAG] = made.chain
    metadata[f"{POST_TAG}_model"] = made.model
    clip = encode_mp4(made.frames, out, fps=made.fps, metadata=metadata, crf=video.crf)
    result = PostMade(clip, made.method, made.model, made.chain)
    if credentials is not None and sign_post(credentials, result, step, params, made_by, made.parent_frames):
        clip = replace(clip, size_bytes=out.stat().st_size)
    return replace(result, clip=clip)


def sign_post(
    credentials: ContentCredentials,
    made: PostMade,
    step: PostStep,
    params: RenderParams,
    made_by: ClipIdentity,
    parent_frames: int,
) -> bool:
    """Sign `made.clip` in place: the parent clip as its `parentOf` ingredient, the step as an edit
    (here, and at the bot for a clip a remote worker made)."""
    clip = made.clip
    cond = conditioning(params.picture, loop=params.loop)  # the parent clip is the ingredient below
    facts = replace(params, frames=clip.frames, fps=clip.fps, post=None, conditioning=cond)
    facts = replace(facts, width=clip.width, height=clip.height)
    root = params.extends.root_id if params.extends else step.parent_id
    record = replace(
        credentials.record(facts, made_by).of_clip(clip),
        parent={"job": step.parent_id, "first_clip": root, "frames": parent_frames},
        parent_path=step.clip_path,
        post={"step": str(step.kind), "method": made.method, "model": made.model, "chain": made.chain},
    )
    return credentials.sign(Path(clip.path), record)


def made_of(clip: Clip, tags: dict[str, str]) -> PostMade:
    """What a post clip's tags say made it (a remote worker's upload: bounded, its last step's method)."""
    chain = tags.get(POST_TAG, "")[:200]
    method = chain.rsplit(",", 1)[-1].partition(":")[2]
    return PostMade(clip, method, tags.get(f"{POST_TAG}_model", "")[:200], chain)


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
    """Both parts in one call: the parent clip's file in, a new signed clip at `out`."""
    made = post_frames(step, made_by, engine, vae=vae, progress=progress)
    return encode_post(made, step, params, made_by, out, video=video, credentials=credentials)
