"""⏩ Extend and `/extend`: a continuation of a clip, queued as a job of its own (#25).

An extension is an ordinary job (one clip of quota, fair order, cancel, restart) whose
`params.extends` names the parent clip; the renderer (`bot.pipelines.extend`) conditions the new
segment on the parent's end and delivers the two joined as one clip.  It takes the parent's
model, size, fps, steps and guidance, and the parent's prompt unless another is given.
Rerolling an extension renders another continuation of the same parent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from bot.core import roles
from bot.core.admission import Admission
from bot.core.options import VideoArgs
from bot.core.parsing import CommandError, clean_text, parse_video_text
from bot.domain import Extension, Job, JobStatus, RenderParams, Request
from bot.store import Store
from bot.store.public import JOB


def clip_frames(params: RenderParams) -> int:
    """A finished clip's length in frames, counting one overlapping frame per join (the fewest
    any family overlaps: LTX's longer overlaps make the real clip shorter, never longer)."""
    if params.extends is not None:
        return params.extends.frames + params.frames - 1
    if params.loop and params.picture is None:
        return 2 * params.frames - 2  # the clip, its bridge back (joined), less the repeated first frame
    return params.frames - 1 if params.loop else params.frames


def ancestry(store: Store, job: Job, parent_of: Callable[[Job], int | None], limit: int) -> list[Job]:
    """`job` and the clips it was made from by `parent_of`'s link, oldest first (bounded)."""
    jobs = [job]
    while (parent_id := parent_of(jobs[0])) is not None and len(jobs) < limit:
        parent = store.jobs.get(parent_id)
        if parent is None:
            break
        jobs.insert(0, parent)
    return jobs


def chain(store: Store, job: Job, limit: int = 50) -> list[Job]:
    """The clips `job` continues, first clip first, ending with `job` (bounded, for /info)."""
    return ancestry(store, job, lambda j: j.params.extends.parent_id if j.params.extends else None, limit)


def extend_words(text: str) -> tuple[str, bool, bool]:
    """`/extend`'s typed words: its prompt, `--smooth` and `--hd` (as `/video` has them); any other
    option is refused (the rest comes from the clip it continues)."""
    args = parse_video_text(text)
    if replace(args, smooth=False, hd=False) != VideoArgs(args.prompt):
        raise CommandError("extend_options")
    return args.prompt, args.smooth, args.hd


async def extend(
    admission: Admission,
    store: Store,
    req: Request,
    parent: Job,
    prompt: str | None,
    model: str | None,
    *,
    smooth: bool = False,
    hd: bool = False,
) -> Job | None:
    """Queue a continuation of `parent` for `req`, or say in one sentence (free) why not;
    `smooth`/`hd`: the post steps to queue once it is delivered, as `/video --smooth --hd`.

    `model` is the parent's model as still configured (None: it is gone, and so is extending)."""
    if parent.user.key != req.user.key and not roles.may_moderate(req, parent, admission.config.admin):
        raise CommandError("extend_refused")
    if model is None or not admission.models.settings(model).preset.extends:
        raise CommandError("extend_no_pictures", model=parent.model)
    if parent.status != JobStatus.DONE or not parent.clip_path or not Path(parent.clip_path).is_file():
        raise CommandError("extend_no_clip", job=parent.id)
    if parent.params.post is not None:  # smooth a chain after extending it, never per segment
        raise CommandError("extend_post", job=parent.id, source=parent.params.post.parent_id)
    if any(store.public.hidden(JOB, clip.id) for clip in chain(store, parent)):
        raise CommandError("extend_deleted", job=parent.id)  # 🗑 is for good: it starts nothing new
    p = parent.params
    have = clip_frames(p)
    limit = admission.config.video.max_extended_s
    if (have + p.frames - 1) / p.fps > limit:
        raise CommandError("extend_too_long", seconds=f"{have / p.fps:.1f}", limit=f"{limit:g}")
    root = p.extends.root_id if p.extends is not None else parent.id
    extension = Extension(parent.id, parent.clip_path, have, root)
    # the parent's settings (its sound and loop too), a fresh seed, the new prompt if given, and the
    # post steps asked for now
    args = VideoArgs.from_params(p, model, prompt=clean_text(prompt or "") or p.prompt, seed=None)
    args = replace(args, smooth=smooth, hd=hd)
    return await admission.submit(req, args, parent_id=parent.id, extends=extension)
