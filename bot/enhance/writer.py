"""The prompt writer: a causal language model through transformers, loaded offline, asked one
fresh chat per prompt.

Each call builds its messages from nothing but the family's instructions and this one prompt: no
history, no cache kept between calls, so the writer never sees another person's prompt or any
secret.  It runs in the caller's thread (the slot's own); `cancel` stops it between two tokens.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.enhance.styles import instructions
from bot.settings.enhance import TINY_WRITER, EnhanceConfig

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

log = logging.getLogger(__name__)
Build = Callable[[], "tuple[PreTrainedModel, PreTrainedTokenizerBase]"]
LOADING = threading.Lock()
SAMPLING = {"temperature": 0.7, "top_p": 0.8, "top_k": 20}  # Qwen3's advice for non-thinking answers


class WriterMissing(Exception):
    """The writer's weights are not on this machine; the message says how to fetch them."""


@dataclass(frozen=True)
class Draft:
    """What the model wrote, before the sanitiser."""

    text: str
    tokens: int  # tokens generated
    seconds: float  # generation alone (no loading)


def _offline_load(source: str, dtype: Any) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(source, local_files_only=True, dtype=dtype)
    except (OSError, ValueError) as error:
        raise WriterMissing(
            f"the prompt writer {source} is not on this machine ({type(error).__name__}); "
            "run `videobot pull` or point [enhance] path at its folder"
        ) from error
    return model.eval(), tokenizer


class PromptWriter:
    """One language model, loaded on first use and kept until `unload`."""

    def __init__(self, settings: EnhanceConfig, build: Build | None = None) -> None:
        self.settings = settings
        self.name = settings.model
        self._build = build  # a model made in code (tests' scripted writer); None: load `settings`
        self._model: Any = None  # transformers' types are too loose for mypy to help here
        self._tokenizer: Any = None
        self._lock = threading.Lock()  # one generation at a time: the model is not re-entrant

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def _device(self) -> str:
        import torch

        # "worker": this is a worker running the bot's rewrites, on its GPU when it has one
        gpu_if_any = self.settings.device in ("auto", "worker")
        return "cuda" if gpu_if_any and torch.cuda.is_available() else "cpu"

    def load(self) -> None:
        # One load at a time in the process: transformers' lazy imports are not safe to run from
        # two threads at once ("cannot import name … from transformers" on a first import).
        with LOADING:
            if self._model is None:
                self._load()

    def _load(self) -> None:
        import torch

        started = time.perf_counter()
        device = self._device()
        if self._build is not None:
            model, tokenizer = self._build()
        elif self.settings.source == TINY_WRITER:
            from bot.enhance.tiny import tiny_qwen3

            model, tokenizer = tiny_qwen3()
        else:
            dtype = torch.bfloat16 if device == "cuda" else torch.float32
            model, tokenizer = _offline_load(self.settings.source, dtype)
        self._model, self._tokenizer = model.to(device), tokenizer  # type: ignore[arg-type]
        log.info("prompt writer %s loaded on %s in %.1f s", self.name, device, time.perf_counter() - started)

    def unload(self) -> None:
        """Free the model (memory pressure, a video model needs the room)."""
        with self._lock:
            self._model = self._tokenizer = None

    def give_way(self, device_kind: str) -> bool:
        """A video model on `device_kind` ("cuda" or "cpu") ran out of memory: unload if this model
        is there too (the next rewrite loads it again).  True if it was."""
        if not self.loaded or self._device() != device_kind:
            return False
        self.unload()
        log.warning(
            "prompt writer %s unloaded: a video model needed the memory on %s", self.name, device_kind
        )
        return True

    def write(
        self,
        prompt: str,
        family: str,
        *,
        seed: int | None,
        cancel: threading.Event,
        on_start: Callable[[], object] = lambda: None,
    ) -> Draft:
        """Rewrite `prompt` for `family`: greedy when `seed` is None, else sampled with that seed;
        `on_start` is called once the model is loaded and generation begins."""
        import torch

        with self._lock:
            self.load()
            on_start()
            model, tokenizer = self._model, self._tokenizer
            assert model is not None and tokenizer is not None
            if self._device() == "cpu":
                torch.set_num_threads(self.settings.cpu_threads)  # per thread: this is the writer's
            messages = [
                {"role": "system", "content": instructions(family)},
                {"role": "user", "content": prompt},
            ]
            inputs = tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, return_tensors="pt", return_dict=True,
                enable_thinking=False,
            ).to(model.device)  # fmt: skip
            prompt_tokens = inputs["input_ids"].shape[1]
            started = time.perf_counter()
            try:
                with torch.inference_mode():
                    output = model.generate(
                        **inputs, generation_config=self._generation(seed, tokenizer), **_stop_on(cancel)
                    )
            except torch.OutOfMemoryError:
                # the writer gives its memory back (a render needs it more); the next rewrite reloads
                self._model = self._tokenizer = None
                del model, inputs
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
                raise
            new = output[0, prompt_tokens:]
            text = tokenizer.decode(new, skip_special_tokens=True)
            return Draft(str(text), int(new.shape[0]), time.perf_counter() - started)

    def _generation(self, seed: int | None, tokenizer: Any) -> Any:
        """Our own generation settings, not the checkpoint's (Qwen3 ships sampling on)."""
        import torch
        from transformers import GenerationConfig

        assert self._model is not None
        eos = self._model.generation_config.eos_token_id or tokenizer.eos_token_id
        common = {
            "max_new_tokens": self.settings.max_new_tokens,
            "max_time": self.settings.timeout_s,
            "eos_token_id": eos,
            "pad_token_id": tokenizer.pad_token_id or tokenizer.eos_token_id,
        }
        if seed is None:
            return GenerationConfig(do_sample=False, **common)
        torch.manual_seed(seed)  # renders draw from their own generators, never from this one
        return GenerationConfig(do_sample=True, **SAMPLING, **common)


def _stop_on(cancel: threading.Event) -> dict[str, Any]:
    from transformers import StoppingCriteria, StoppingCriteriaList

    class Cancelled(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            import torch

            return torch.full((input_ids.shape[0],), cancel.is_set(), dtype=torch.bool)

    return {"stopping_criteria": StoppingCriteriaList([Cancelled()])}
