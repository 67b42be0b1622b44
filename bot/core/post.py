"""🎞 Smooth and 🔍 HD on a delivered clip: a job with a parent, like ⏩ Extend (docs/post.md).

A post step is an ordinary job (fair order, progress, cancel, restart, refund on failure; one
clip of quota unless `[post] free`) whose `params.post` names the clip it works on.  It keeps
the parent's model, prompt and seed; the backend runs the post engine on the parent's file
instead of a render.  A clip already smoothed, or one HD would take past the size cap, is
refused in one sentence, free of charge.
"""

from __future__ import annotations

from pathlib import Path

from bot.core.admission import Admission
from bot.core.extend import ancestry
from bot.core.options import VideoArgs
from bot.core.parsing import CommandError
from bot.domain import Job, JobStatus, PostKind, PostStep, Request
from bot.settings.sections import MAX_HD_SIDE, MAX_SMOOTH_FPS
from bot.store import Store


def post_chain(store: Store, job: Job, limit: int = 20) -> list[Job]:
    """The clips `job` was made from by post steps, the rendered one first, ending with `job`."""
    return ancestry(store, job, lambda j: j.params.post.parent_id if j.params.post else None, limit)


def steps_of(chain: list[Job]) -> list[PostKind]:
    return [job.params.post.kind for job in chain if job.params.post is not None]


def check_post(chain: list[Job], kind: PostKind) -> None:
    """Refuse in one sentence (free) a step that would do nothing or pass a cap."""
    parent, done = chain[-1], steps_of(chain)
    p = parent.params  # a post step's own: its clip's fps and size (stored when it was made)
    if kind == PostKind.SMOOTH and (PostKind.SMOOTH in done or p.fps * 2 > MAX_SMOOTH_FPS):
        raise CommandError("post_already_smooth", job=parent.id, fps=p.fps)
    if kind == PostKind.HD and max(p.width, p.height) * 2 > MAX_HD_SIDE:
        raise CommandError("post_at_size_cap", job=parent.id, size=f"{p.width}×{p.height}", cap=MAX_HD_SIDE)


async def post_step(
    admission: Admission,
    store: Store,
    req: Request,
    parent: Job,
    kind: PostKind,
    model: str | None,
    then: tuple[PostKind, ...] = (),
) -> Job | None:
    """Queue `kind` on `parent`'s clip for `req` (anyone may, as with 🔁), or say why not.

    `model` is the parent's model as still configured (None: it is gone)."""
    if model is None:
        raise CommandError("post_no_model", model=parent.model)
    if parent.status != JobStatus.DONE or not parent.clip_path or not Path(parent.clip_path).is_file():
        raise CommandError("post_no_clip", job=parent.id)
    chain = post_chain(store, parent)
    check_post(chain, kind)
    p = chain[0].params  # the render's request: the model's limits hold for it, not for a post clip
    # the render's settings (its aspect too); the loop rides on the step: smoothing crosses its seam
    args = VideoArgs.from_params(p, model, loop=False)
    step = PostStep(kind, parent.id, parent.clip_path, loop=p.loop)
    return await admission.submit(req, args, parent_id=parent.id, post=step, then=then)


def then_steps(job: Job) -> tuple[PostKind, ...]:
    """The post steps `job` asked for once delivered (`--smooth`/`--hd`), in order."""
    return tuple(PostKind(kind) for kind in job.params.then_post.split(",") if kind in set(PostKind))
