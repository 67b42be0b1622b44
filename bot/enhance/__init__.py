"""Prompt writing: a small local language model rewrites a person's prompt into the detailed
English paragraph video models were trained on, translating it when needed (docs/enhance.md).

- `modes.plan`: what `[enhance] mode` does with a prompt (no model involved);
- `language.looks_english`: the cheap check behind `translate`;
- `styles`: each video family's instructions for the writer;
- `writer.PromptWriter`: the model, loaded offline, one fresh chat per prompt;
- `sanitise.clean`: its output made one safe paragraph, or refused;
- `slot.WriterSlot`: its own thread, backlog, time limit and pace; always answers a `Rewrite`;
- `tiny`: `tiny-qwen3`, built in code for tests, the demo and the console.

Nothing here imports torch or transformers until a model is built or loaded.
"""

from bot.enhance.language import looks_english
from bot.enhance.modes import Plan, plan
from bot.enhance.sanitise import Cleaned, Refusal, clean
from bot.enhance.slot import Kept, Rewrite, WriterSlot
from bot.enhance.styles import STYLES, Style, instructions
from bot.enhance.writer import Draft, PromptWriter, WriterMissing

__all__ = [
    "STYLES",
    "Cleaned",
    "Draft",
    "Kept",
    "Plan",
    "PromptWriter",
    "Refusal",
    "Rewrite",
    "Style",
    "WriterMissing",
    "WriterSlot",
    "clean",
    "instructions",
    "looks_english",
    "plan",
]
