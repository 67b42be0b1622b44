"""What `[enhance] mode` does with one `/video`: plain data, no model, so the core can ask it."""

from __future__ import annotations

import enum

from bot.enhance.language import looks_english


class Plan(enum.StrEnum):
    """What happens to a prompt before its render."""

    AS_TYPED = "as-typed"  # rendered as typed
    SHOW = "show"  # rewritten and shown with ▶ Render · ✏️ Use mine · 🔁 Again; nothing queued yet
    DIRECT = "direct"  # rewritten and rendered at once; the rewrite is shown with the clip
    REFUSED = "refused"  # `--enhance` asked for while the owner has the writer off


def plan(mode: str, prompt: str, *, asked: bool) -> Plan:
    """off: never (asking is refused); ask: only when asked; translate: when asked, and prompts
    that are not English directly; always: every prompt directly, shown first when asked."""
    if mode == "off":
        return Plan.REFUSED if asked else Plan.AS_TYPED
    if asked:
        return Plan.SHOW
    if mode == "always" or (mode == "translate" and not looks_english(prompt)):
        return Plan.DIRECT
    return Plan.AS_TYPED
