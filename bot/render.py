"""The GPU side: load a diffusers text-to-video pipeline and render clips from it.

`Renderer.render` is blocking and meant for a worker thread (`asyncio.to_thread`); it
reports each finished denoising step through `on_step` and stops after the current step
when `should_stop()` turns true.  ModelScope's `TextToVideoSDPipeline` only has the
legacy `callback(step, timestep, latents)` hook, so we stop it by raising from that
callback; newer video pipelines (Wan, LTX, CogVideoX …) get `callback_on_step_end` and
their `interrupt` flag.  Callers see one interface either way.
"""

from __future__ import annotations

import inspect
import logging
import os
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bot.config import DEFAULT_MODEL_ID
from bot.core.types import RenderParams
from bot.pipelines.tiny import TINY_MODEL_ID

log = logging.getLogger(__name__)

StepCallback = Callable[[int, int], None]


class ModelMissing(Exception):
    """The weights cannot be loaded; the message tells the owner what to do."""


class RenderCancelled(Exception):
    """The render was stopped between steps because `should_stop()` said so."""


class OutOfMemory(Exception):
    """The GPU (or host) ran out of memory for these settings."""


def _looks_like_hub_id(source: str) -> bool:
    """`owner/name` (one slash, no leading dot or slash) is how the hub names models."""
    return source.count("/") == 1 and not source.startswith((".", "/", "~"))


def check_weights_on_disk(source: str) -> None:
    """Raise `ModelMissing` unless the weights are already on this machine (no download)."""
    if source == TINY_MODEL_ID:
        return
    if not _looks_like_hub_id(source):
        if not (Path(source).expanduser() / "model_index.json").is_file():
            raise ModelMissing(missing_weights_message(source, "no model_index.json there"))
        return
    from huggingface_hub import snapshot_download

    try:
        snapshot_download(source, local_files_only=True)
    except Exception as error:
        raise ModelMissing(missing_weights_message(source, "not in the Hugging Face cache")) from error


def missing_weights_message(source: str, reason: str) -> str:
    """One paragraph for the owner: what failed and the exact fix."""
    fallback = (
        '[model] id = "tiny" runs a tiny random model for trying the bot. '
        "Jobs wait in the queue until the model loads."
    )
    if not _looks_like_hub_id(source):
        return (
            f"The video model folder {source!r} could not be loaded ({reason}). "
            "Set [model] path in config.toml to a folder that holds a diffusers pipeline "
            "(model_index.json and its sub-folders), for example one made with "
            f"`hf download {DEFAULT_MODEL_ID} --local-dir <folder>`; {fallback}"
        )
    return (
        f"The video model {source!r} could not be loaded ({reason}). "
        f"Download it once with `hf download {source}` (older huggingface_hub: "
        f"`huggingface-cli download {source}`) on a machine with internet access "
        "(the default model is about 7 GB with fp16 weights), or set [model] path in "
        f"config.toml to a folder that holds it; {fallback}"
    )


class Renderer:
    """Owns one pipeline; loads it on demand and renders one clip at a time."""

    def __init__(
        self, source: str, *, device: str = "auto", cpu_offload: bool = False, cpu_threads: int = 0
    ) -> None:
        self.source = source
        self.device = device
        self.cpu_offload = cpu_offload
        self.cpu_threads = cpu_threads
        self._render_threads = 0  # set at load for CPU renders
        self.pipe: Any = None
        self._lock = threading.Lock()

    @property
    def is_tiny(self) -> bool:
        return self.source == TINY_MODEL_ID

    @property
    def loaded(self) -> bool:
        return self.pipe is not None

    def load(self) -> None:
        """Load the pipeline (blocking); raises `ModelMissing` with advice when it can't."""
        with self._lock:
            if self.pipe is None:
                self.pipe = self._load()

    def _load(self) -> Any:
        import torch

        _silence_diffusers()
        pipe: Any
        if self.is_tiny:
            from bot.pipelines.tiny import build_tiny_pipeline

            pipe = build_tiny_pipeline()
            device = "cpu"
        else:
            from diffusers import TextToVideoSDPipeline

            device = self.device
            if device == "auto":
                device = "cuda" if torch.cuda.is_available() else "cpu"
            dtype = torch.float16 if device.startswith("cuda") else torch.float32
            folder = os.path.expanduser(self.source)
            if not _looks_like_hub_id(self.source) and not os.path.isdir(folder):
                raise ModelMissing(missing_weights_message(self.source, "no such folder"))
            try:
                with warnings.catch_warnings():
                    # diffusers >= 0.35 renamed torch_dtype to dtype; older ones only know the former.
                    warnings.simplefilter("ignore", FutureWarning)
                    pipe = TextToVideoSDPipeline.from_pretrained(
                        folder if os.path.isdir(folder) else self.source, torch_dtype=dtype
                    )
            except (OSError, ValueError) as error:
                reason = str(error).splitlines()[0] if str(error) else type(error).__name__
                raise ModelMissing(missing_weights_message(self.source, reason)) from error
        pipe.set_progress_bar_config(disable=True)
        if self.cpu_offload and device.startswith("cuda"):
            pipe.enable_model_cpu_offload()
        else:
            pipe.to(device)
        if device == "cpu":
            self._render_threads = cpu_render_threads(self.cpu_threads)
            log.info("rendering on the CPU with %d torch threads", self._render_threads)
        log.info("loaded video model %s on %s", self.source, device)
        return pipe

    def render(
        self,
        params: RenderParams,
        on_step: StepCallback | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> np.ndarray:
        """Render `params` → uint8 frames shaped (frames, height, width, 3)."""
        import torch

        self.load()
        stop = should_stop or (lambda: False)
        if stop():
            raise RenderCancelled()
        report = on_step or (lambda step, total: None)
        kwargs: dict[str, Any] = {
            "prompt": params.prompt,
            "negative_prompt": params.negative or None,
            "num_frames": params.frames,
            "num_inference_steps": params.steps,
            "guidance_scale": params.guidance,
            "height": params.height,
            "width": params.width,
            "generator": torch.Generator(device="cpu").manual_seed(params.seed),
            "output_type": "np",
        }
        kwargs.update(self._step_hooks(params.steps, report, stop))
        if self._render_threads:
            torch.set_num_threads(self._render_threads)  # per thread: renders run in worker threads
        with self._lock:
            try:
                output = self.pipe(**kwargs)
            except RenderCancelled:
                raise
            except (torch.cuda.OutOfMemoryError, MemoryError) as error:
                _free_gpu()
                raise OutOfMemory(str(error)) from error
            except RuntimeError as error:
                if "out of memory" in str(error).lower():
                    _free_gpu()
                    raise OutOfMemory(str(error)) from error
                raise
            if getattr(self.pipe, "_interrupt", False):
                raise RenderCancelled()
        frames = np.asarray(output.frames)
        if frames.ndim == 5:
            frames = frames[0]
        return (np.clip(frames, 0.0, 1.0) * 255).round().astype(np.uint8)

    def _step_hooks(self, steps: int, report: StepCallback, stop: Callable[[], bool]) -> dict[str, Any]:
        parameters = inspect.signature(self.pipe.__call__).parameters
        if "callback_on_step_end" in parameters:

            def on_step_end(pipe: Any, step: int, timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
                report(step + 1, steps)
                if stop():
                    pipe._interrupt = True
                return {}

            return {"callback_on_step_end": on_step_end}

        def legacy_callback(step: int, timestep: Any, latents: Any) -> None:
            report(step + 1, steps)
            if stop():
                raise RenderCancelled()

        return {"callback": legacy_callback, "callback_steps": 1}


def cpu_render_threads(configured: int = 0) -> int:
    """Torch threads for CPU renders: as configured, else every core but one.

    The spare core is the event loop's: with all cores spinning in OpenMP, chats are
    answered seconds late and Discord's gateway falls behind.
    """
    if configured > 0:
        return configured
    return max(1, (os.cpu_count() or 1) - 1)


def _free_gpu() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _silence_diffusers() -> None:
    """The ModelScope pipeline logs a deprecation notice on every construction."""
    from diffusers.utils import logging as diffusers_logging

    diffusers_logging.set_verbosity_error()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
