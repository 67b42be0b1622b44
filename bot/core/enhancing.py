"""The prompt writer as the core sees it (docs/enhance.md): a port, and what `[enhance] mode`
does to a prompt on its way into the queue.

`translate` and `always` put the writer's paragraph in place of the typed prompt before the job
is stored, keeping what the person typed beside it; the prompt policy then checks the rewrite as
it checked the typed words.  A reroll or variation carries the chosen prompt over as it is: it
is never rewritten again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, fields, replace
from typing import Protocol

from bot.core import messages
from bot.core.notify import Notifier
from bot.core.options import VideoArgs
from bot.core.parsing import CommandError
from bot.core.ports import Clock
from bot.domain import DRAFT_ACTIONS, Button, ButtonAction, Draft, Job, RenderParams, Request
from bot.enhance.modes import Plan, plan
from bot.enhance.slot import Kept, Rewrite
from bot.store import Store

log = logging.getLogger(__name__)


class PromptRewriter(Protocol):
    """`bot.enhance.WriterSlot`: always answers, with the typed prompt when it could not rewrite."""

    async def rewrite(
        self, who: str, prompt: str, family: str, *, seed: int | None = None, paced: bool = True
    ) -> Rewrite: ...


def carried(args: VideoArgs, params: RenderParams) -> RenderParams:
    """A reroll's or variation's chosen prompt: validated as typed, rendered as chosen."""
    if not args.prompt_writer:
        return params
    return replace(
        params, prompt=args.prompt, prompt_original=params.prompt, prompt_writer=args.prompt_writer
    )


def typed_args(args: VideoArgs) -> VideoArgs:
    """The arguments as the person typed them (what the limits are checked on)."""
    return replace(args, prompt=args.prompt_original) if args.prompt_writer else args


async def rewritten(
    writer: PromptRewriter | None, mode: str, who: str, params: RenderParams, family: str
) -> tuple[RenderParams, Rewrite | None]:
    """`params` with the writer's paragraph when the mode rewrites this prompt directly, and the
    writer's answer (None when it was not asked)."""
    if writer is None or params.prompt_writer or plan(mode, params.prompt, asked=False) is not Plan.DIRECT:
        return params, None
    rewrite = await writer.rewrite(who, params.prompt, family, paced=False)
    if not rewrite.rewritten:
        log.info("prompt kept as typed (%s: %s)", rewrite.kept, rewrite.why)
        return params, rewrite
    written = replace(
        params, prompt=rewrite.text, prompt_original=params.prompt, prompt_writer=rewrite.writer
    )
    return written, rewrite


def kept_note(rewrite: Rewrite | None, locale: str) -> str:
    """A line under "queued" when a direct rewrite fell back to the typed words; "" otherwise."""
    if rewrite is None or rewrite.kept is None:
        return ""
    why = (
        messages.text(f"enhance_why_{rewrite.kept}", locale)
        if rewrite.kept not in REFUSED_NOW
        else (messages.text("enhance_why_busy", locale))
    )
    return messages.text("rewrite_kept_direct", locale, why=why)


# ------------------------------------------------------------------------- shown before the render

PolicyCheck = Callable[[Request, str], None]  # raises CommandError("policy_…") for a refused prompt
REFUSED_NOW = {Kept.BUSY: "enhance_busy", Kept.PACED: "enhance_paced"}  # no draft: try again later


def args_to_text(args: VideoArgs, family: str) -> str:
    return json.dumps({"args": asdict(args), "family": family})


def args_from_text(text: str) -> tuple[VideoArgs, str]:
    data = json.loads(text)
    known = {f.name for f in fields(VideoArgs)}
    return VideoArgs(**{k: v for k, v in data["args"].items() if k in known}), str(data["family"])


@dataclass(eq=False)
class Drafts:
    """`/video … --enhance`: the rewrite shown with ▶ Render · ✏️ Use mine · 🔁 Again, stored as a
    draft (so the buttons work after a restart); nothing is queued or charged before a render."""

    store: Store
    notifier: Notifier
    clock: Clock

    async def show(
        self, req: Request, args: VideoArgs, family: str, writer: PromptRewriter, check: PolicyCheck
    ) -> Draft:
        rewrite = await self._rewrite(writer, req, args.prompt, family, seed=None, check=check)
        draft = Draft(
            0, req.user, req.chat, args_to_text(args, family), rewrite.text, rewrite.writer, self.clock(),
            reply_to=req.reply_to,
        )  # fmt: skip
        self.store.drafts.insert(draft)
        draft.message = await self.notifier.reply(req, self._text(draft, rewrite, args.prompt))
        if draft.message is not None:
            self.store.drafts.update(draft.id, message=draft.message)
            await self._buttons(draft)
        return draft

    async def again(self, req: Request, draft: Draft, writer: PromptRewriter, check: PolicyCheck) -> None:
        """🔁 Again: the writer samples anew (seeded by the attempt), the same message shows it."""
        args, family = args_from_text(draft.args)
        rewrite = await self._rewrite(writer, req, args.prompt, family, seed=draft.attempts, check=check)
        draft.rewrite, draft.writer, draft.attempts = rewrite.text, rewrite.writer, draft.attempts + 1
        self.store.drafts.update(
            draft.id, rewrite=draft.rewrite, writer=draft.writer, attempts=draft.attempts
        )
        outbox = self.notifier.outbox(draft.chat.platform)
        if draft.message is not None and outbox is not None:
            await outbox.edit_text(draft.chat, draft.message, self._text(draft, rewrite, args.prompt))
            await self._buttons(draft)  # an edited text may lose its buttons (Telegram)

    def chosen(self, draft: Draft, action: ButtonAction) -> VideoArgs:
        """▶ Render: the rewrite (carried as chosen, never rewritten again); ✏️ Use mine: as typed."""
        args, _ = args_from_text(draft.args)
        args = replace(args, enhance=False)
        if action is ButtonAction.RENDER and draft.writer:
            return replace(
                args, prompt=draft.rewrite, prompt_original=args.prompt, prompt_writer=draft.writer
            )
        return args

    def owned(self, req: Request, draft_id: int) -> Draft:
        draft = self.store.drafts.get(draft_id)
        if draft is None:
            raise CommandError("draft_gone")
        if draft.user.key != req.user.key:
            raise CommandError("draft_not_yours")
        if draft.used:
            raise CommandError("draft_used")
        return draft

    async def rendered(self, draft: Draft) -> None:
        """Its buttons go: a draft renders once."""
        outbox = self.notifier.outbox(draft.chat.platform)
        if draft.message is not None and outbox is not None:
            await outbox.edit_buttons(draft.chat, draft.message, ())

    async def _rewrite(
        self, writer: PromptRewriter, req: Request, prompt: str, family: str, *, seed: int | None,
        check: PolicyCheck,
    ) -> Rewrite:  # fmt: skip
        rewrite = await writer.rewrite(req.user.key, prompt, family, seed=seed)
        if rewrite.kept in REFUSED_NOW:
            raise CommandError(REFUSED_NOW[rewrite.kept], wait=max(1, round(rewrite.wait_s)))
        if rewrite.rewritten:
            check(req, rewrite.text)  # the policy reads the rewrite as it read the typed words
        return rewrite

    async def _buttons(self, draft: Draft) -> None:
        outbox = self.notifier.outbox(draft.chat.platform)
        if draft.message is None or outbox is None:
            return
        locale = draft.user.locale
        buttons = [
            Button(action, draft.id, messages.text(f"button_{action}", locale)) for action in DRAFT_ACTIONS
        ]
        await outbox.edit_buttons(draft.chat, draft.message, buttons)

    @staticmethod
    def _text(draft: Draft, rewrite: Rewrite, typed: str) -> str:
        locale = draft.user.locale
        if rewrite.rewritten:
            return messages.text("rewrite_shown", locale, rewrite=rewrite.text, typed=typed)
        why = messages.text(f"enhance_why_{rewrite.kept or 'garbage'}", locale)
        return messages.text("rewrite_kept", locale, why=why, typed=typed)

    async def press(
        self, req: Request, action: ButtonAction, draft_id: int, writer: PromptRewriter,
        submit: Callable[[Request, VideoArgs], Awaitable[Job | None]], check: PolicyCheck,
    ) -> Job | None:  # fmt: skip
        """▶ Render / ✏️ Use mine queue the chosen text (charged now, as any `/video`); 🔁 Again rewrites."""
        draft = self.owned(req, draft_id)
        if action is ButtonAction.AGAIN:
            await self.again(req, draft, writer, check)
            return None
        if not self.store.drafts.use(draft.id):
            raise CommandError("draft_used")
        job = None
        try:
            job = await submit(req, self.chosen(draft, action))
        finally:
            if job is None:  # refused or over quota: its buttons still work
                self.store.drafts.update(draft.id, used=0)
        await self.rendered(draft)
        return job
