"""What a delivered clip says under it: its caption and its buttons."""

from __future__ import annotations

from bot.core import messages
from bot.domain import RESULT_ACTIONS, Button, ButtonAction, Challenge, Clip, Job

POST_ACTIONS = [ButtonAction.SMOOTH, ButtonAction.HD]


def result_caption(job: Job, clip: Clip) -> str:
    """The clip's own frame count (an extension or a loop is not the length it asked for)."""
    p = job.params
    return messages.text(
        "caption",
        job.user.locale,
        prompt=p.prompt,
        seed=p.seed,
        frames=clip.frames,
        steps=p.steps,
        job=job.id,
    )


def result_buttons(job: Job, extendable: bool = False) -> tuple[Button, ...]:
    """🔁 🎲 🎞 🔍 ℹ 🗑 (docs/post.md), and ⏩ Extend after 🎲 when the clip's model takes pictures
    (docs/extend.md)."""
    actions = list(RESULT_ACTIONS)
    actions[actions.index(ButtonAction.INFO) : actions.index(ButtonAction.INFO)] = POST_ACTIONS
    if extendable and job.params.post is None:  # a post clip is extended through its source
        actions.insert(actions.index(ButtonAction.VARIATION) + 1, ButtonAction.EXTEND)
    return tuple(
        Button(action, job.id, messages.text(f"button_{action}", job.user.locale)) for action in actions
    )


def entry_caption(job: Job, challenge: Challenge) -> str:
    return messages.text(
        "challenge_entry",
        job.user.locale,
        name=job.user.name or job.user.key,
        theme=challenge.theme,
        prompt=job.params.prompt,
        seed=job.params.seed,
        job=job.id,
    )


def entry_buttons(job: Job, votes: int) -> tuple[Button, ...]:
    return (
        Button(ButtonAction.VOTE, job.id, messages.text("button_vote", job.user.locale, votes=votes)),
        Button(ButtonAction.INFO, job.id, messages.text("button_info", job.user.locale)),
    )
