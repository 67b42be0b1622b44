"""`[enhance]`: the local prompt writer (docs/enhance.md).  Its own room so the table's keys, bounds
and meanings stay beside each other; `bot.enhance` reads it."""

from __future__ import annotations

from dataclasses import dataclass

from bot.settings.bounds import Bound, above, not_negative, one_of, setting, within

ENHANCE_MODES = ("off", "ask", "translate", "always")
WRITER_DEVICES = ("cpu", "auto", "worker")
DEFAULT_WRITER_ID = "Qwen/Qwen3-1.7B"  # Apache-2.0; any causal LM with a chat template works
TINY_WRITER = "tiny-qwen3"  # built in code, random weights: tests, `demo --tiny`, the console


@dataclass(frozen=True)
class EnhanceConfig:
    # off: never; ask: `--enhance` shows the rewrite before the render; translate: also rewrites
    # prompts that are not English, rendering them directly; always: every prompt, rendered directly
    mode: str = setting("off", one_of(ENHANCE_MODES))
    model: str = setting(DEFAULT_WRITER_ID, Bound(lambda v: bool(v.strip()), "must name a model"))
    path: str = ""  # a local folder with the writer's weights; "" = the Hugging Face cache
    # auto: the GPU when there is one; worker: the SAQ workers whose own [enhance] is on
    device: str = setting("cpu", one_of(WRITER_DEVICES))
    cpu_threads: int = setting(1, within(1, 64, "must be 1 to 64"))  # torch threads of the writer's own
    # writing longer than this (loading and waiting not counted): the typed prompt stays
    timeout_s: float = setting(30.0, above(0))
    max_new_tokens: int = setting(256, within(16, 2048, "must be 16 to 2048"))  # what the writer may write
    max_chars: int = setting(1000, within(80, 4000, "must be 80 to 4000"))  # a rewrite is cut to this
    backlog: int = setting(4, not_negative())  # rewrites that may wait behind the running one; past it: busy
    every_s: float = setting(10.0, not_negative())  # one rewrite per person this often (free, but paced)

    @property
    def source(self) -> str:
        """Where the weights load from: the folder if set, else the hub id (or `tiny-qwen3`)."""
        return self.path or self.model
