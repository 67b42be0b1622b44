"""The GPU side: load diffusers text-to-video pipelines and render clips from them.

`Renderer` owns one model's pipeline.  `render` is blocking and meant for a worker thread
(`asyncio.to_thread`); it reports each finished denoising step through `on_step` and
stops after the current step when `should_stop()` turns true, by raising from the
pipeline's step hook: ModelScope's deprecated `TextToVideoSDPipeline` only has the legacy
`callback(step, timestep, latents)`; Wan, LTX and CogVideoX have `callback_on_step_end`,
whose `interrupt` flag would still run the VAE decode, so we raise there too.

Loading never touches the network: the weights are found on disk first (a folder, or
the Hugging Face cache), then `from_pretrained(..., local_files_only=True)` loads the
class named in model_index.json, each component in its own dtype, with the fp16 weight
variant where the checkpoint has one.  Each way it can fail has its own exception.

`ModelPool` holds every configured model's renderer and keeps one resident at a time
(or the few `[render] keep_loaded` names), freeing the old one before loading the next.
"""

from __future__ import annotations

import gc
import inspect
import json
import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from bot.config import DEFAULT_MODEL_ID, ModelSettings
from bot.core.types import RenderParams
from bot.pipelines.registry import (
    CATALOGUE,
    TINY_PRESETS,
    family_of_class,
    preset_for_unknown,
    supported_classes,
)
from bot.pipelines.spec import Preset, StepHook
from bot.pipelines.tiny import TINY_MODEL_ID

log = logging.getLogger(__name__)

StepCallback = Callable[[int, int], None]


class ModelUnavailable(Exception):
    """The model cannot be loaded; the message tells the owner what happened and what to do."""


class ModelMissing(ModelUnavailable):
    """The weights (or some of them) are not on this machine."""


class UnsupportedModel(ModelUnavailable):
    """The checkpoint is a pipeline class videobot does not render (or not the configured family)."""


class ModelLoadFailed(ModelUnavailable):
    """The weights are there but loading them failed for another reason."""


class RenderCancelled(Exception):
    """The render was stopped between steps because `should_stop()` said so."""


class OutOfMemory(Exception):
    """The GPU (or host) ran out of memory for these settings."""


def _looks_like_hub_id(source: str) -> bool:
    """`owner/name` (one slash, no leading dot or slash) is how the hub names models."""
    return source.count("/") == 1 and not source.startswith((".", "/", "~"))


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def local_folder(source: str) -> Path:
    """The folder holding `source` on this machine (a folder, or the cache's snapshot); no download."""
    if not _looks_like_hub_id(source):
        folder = Path(source).expanduser()
        if not folder.is_dir():
            raise ModelMissing(missing_weights_message(source, "no such folder"))
        if not (folder / "model_index.json").is_file():
            raise ModelMissing(missing_weights_message(source, "no model_index.json there"))
        return folder
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        folder = Path(snapshot_download(source, local_files_only=True))
    except (LocalEntryNotFoundError, FileNotFoundError) as error:
        raise ModelMissing(missing_weights_message(source, "not in the Hugging Face cache")) from error
    except Exception as error:
        raise ModelLoadFailed(
            f"Could not look for {source!r} in the Hugging Face cache ({_first_line(error)}); "
            "check HF_HOME and that its folder is readable."
        ) from error
    if not (folder / "model_index.json").is_file():
        raise ModelMissing(missing_weights_message(source, "its model_index.json is not in the cache"))
    return folder


def check_weights_on_disk(source: str) -> None:
    """Raise `ModelUnavailable` unless the weights are already on this machine (no download)."""
    if source in TINY_PRESETS:
        return
    local_folder(source)


def download_command(source: str, preset: Preset | None = None) -> str:
    """The `hf download` line that fetches only what loading needs (the fp16 files, not all)."""
    preset = preset or CATALOGUE.find(source)
    include = preset.download_patterns if preset else ()
    patterns = " ".join(f'"{pattern}"' for pattern in include)
    return f"hf download {source}" + (f" --include {patterns}" if patterns else "")


def missing_weights_message(source: str, reason: str) -> str:
    """One paragraph for the owner: what failed and the exact fix."""
    fallback = (
        '[model] id = "tiny" runs a tiny random model for trying the bot. '
        "Jobs wait in the queue until the model loads."
    )
    if not _looks_like_hub_id(source):
        return (
            f"The video model folder {source!r} could not be loaded ({reason}). "
            "Set [model] path (or [models.NAME] path) in config.toml to a folder that holds a diffusers "
            "pipeline (model_index.json and its sub-folders), for example one made with "
            f"`{download_command(DEFAULT_MODEL_ID)} --local-dir <folder>`; {fallback}"
        )
    return (
        f"The video model {source!r} could not be loaded ({reason}). "
        f"Download it once with `{download_command(source)}` on a machine with internet access "
        "(the default model's fp16 files are about 3.7 GB), or set [model] path in "
        f"config.toml to a folder that holds it; {fallback}"
    )


def pipeline_class_name(folder: Path) -> str:
    """`_class_name` from model_index.json: which pipeline the checkpoint is."""
    try:
        index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
        return str(index["_class_name"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ModelLoadFailed(
            f"{folder / 'model_index.json'} is not a diffusers model index ({error})"
        ) from None


def choose_variant(folder: Path, preferred: str | None) -> str | None:
    """`preferred` if the checkpoint ships weights of that variant (`*.fp16.safetensors`), else None."""
    if not preferred:
        return None
    for suffix in (".safetensors", ".bin"):
        if next(folder.glob(f"*/*.{preferred}{suffix}"), None) is not None:
            return preferred
        if next(folder.glob(f"*/*.{preferred}-*-of-*{suffix}"), None) is not None:  # sharded
            return preferred
    return None


def component_dtypes(preset: Preset, device: str) -> dict[str, Any]:
    """Per-component torch dtypes: the preset's on CUDA; float32 on the CPU (no fast half kernels)."""
    import torch

    if not device.startswith("cuda"):
        return {"default": torch.float32}
    return {component: getattr(torch, name) for component, name in preset.dtypes}


def load_pipeline(
    folder: Path, preset: Preset, *, dtypes: Mapping[str, Any], expect_family: bool = True
) -> tuple[Any, Preset]:
    """Load the checkpoint in `folder` offline; returns the pipeline and the preset it follows.

    With `expect_family` the class in model_index.json must be of `preset`'s family;
    otherwise (a folder nobody described) its class decides the family.
    """
    import diffusers

    class_name = pipeline_class_name(folder)
    family = family_of_class(class_name)
    if family is None:
        raise UnsupportedModel(
            f"{str(folder)!r} holds a {class_name}, which videobot does not render; it renders "
            f"{', '.join(supported_classes())}. Point the model's id or path at a text-to-video "
            "checkpoint of one of those."
        )
    if family is not preset.family:
        if expect_family:
            raise UnsupportedModel(
                f"{str(folder)!r} holds a {class_name} (the {family.name} family), but it is configured "
                f"as {preset.family.name}; fix its family (or id) in config.toml."
            )
        preset = preset_for_unknown(preset.id, family)
    pipeline_class = getattr(diffusers, class_name)
    variant = choose_variant(folder, preset.variant)
    kwargs: dict[str, Any] = {"dtype": dict(dtypes), "local_files_only": True}
    if variant:
        kwargs["variant"] = variant
    try:
        try:
            pipe = pipeline_class.from_pretrained(str(folder), **kwargs)
        except ValueError as error:
            if not variant or "variant" not in str(error):
                raise
            log.info("%s has no complete %s variant; loading its plain weights", folder, variant)
            kwargs.pop("variant")
            pipe = pipeline_class.from_pretrained(str(folder), **kwargs)
    except OSError as error:  # a component's weight file is not there
        raise ModelMissing(
            f"Some weights of {str(folder)!r} are missing ({_first_line(error)}). "
            f"Fetch them with `{download_command(preset.id, preset)}`."
        ) from error
    except Exception as error:
        raise ModelLoadFailed(f"Loading {str(folder)!r} failed: {_first_line(error)}") from error
    pipe.videobot_variant = variant  # what was chosen, for logs and tests
    return pipe, preset


def _preset_for_source(source: str) -> tuple[Preset, bool]:
    """A renderer made from a bare source: its preset, and whether it was only guessed."""
    if source in TINY_PRESETS:
        return TINY_PRESETS[source], False
    known = CATALOGUE.find(source)
    if known is not None:
        return known, False
    return CATALOGUE.find(DEFAULT_MODEL_ID) or TINY_PRESETS[TINY_MODEL_ID], True


class Renderer:
    """Owns one model's pipeline; loads it on demand and renders one clip at a time."""

    def __init__(
        self,
        source: str,
        *,
        device: str = "auto",
        cpu_offload: bool = False,
        cpu_threads: int = 0,
        preset: Preset | None = None,
        name: str = "",
    ) -> None:
        self.source = source
        self.name = name or source
        self.device = device
        self.cpu_offload = cpu_offload
        self.cpu_threads = cpu_threads
        guessed, self._guessed = _preset_for_source(source)
        if preset is not None:
            self._guessed = False
        self.preset = preset or guessed
        self._render_threads = 0  # set at load for CPU renders
        self.pipe: Any = None
        self._lock = threading.Lock()

    @classmethod
    def for_model(cls, settings: ModelSettings) -> Renderer:
        return cls(
            settings.source,
            device=settings.device,
            cpu_offload=settings.cpu_offload,
            cpu_threads=settings.cpu_threads,
            preset=settings.preset,
            name=settings.name,
        )

    @property
    def is_tiny(self) -> bool:
        return self.source in TINY_PRESETS

    @property
    def loaded(self) -> bool:
        return self.pipe is not None

    def load(self) -> None:
        """Load the pipeline (blocking); raises a `ModelUnavailable` saying why when it can't."""
        with self._lock:
            if self.pipe is None:
                self.pipe = self._load()

    def check_available(self) -> None:
        """Raise what loading would, for what can be told without reading weights (no folder, no
        cache entry, an unsupported class): so a doomed switch never frees the model in memory."""
        if self.loaded or self.is_tiny:
            return
        folder = local_folder(self.source)
        class_name = pipeline_class_name(folder)
        family = family_of_class(class_name)
        if family is None or (family is not self.preset.family and not self._guessed):
            # its message says which class, and what the family is configured as
            load_pipeline(folder, self.preset, dtypes={}, expect_family=not self._guessed)

    def unload(self) -> None:
        """Free the pipeline's memory (GPU included) so another model fits."""
        with self._lock:
            if self.pipe is None:
                return
            self.pipe = None
        gc.collect()
        _free_gpu()
        log.info("unloaded video model %s", self.name)

    def _device(self) -> str:
        if self.is_tiny:
            return "cpu"
        if self.device != "auto":
            return self.device
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"

    def _load(self) -> Any:
        _silence_diffusers()
        device = self._device()
        pipe: Any
        if self.is_tiny:
            from bot.pipelines.tiny import build_tiny

            pipe = build_tiny(self.source)
        else:
            folder = local_folder(self.source)
            pipe, self.preset = load_pipeline(
                folder,
                self.preset,
                dtypes=component_dtypes(self.preset, device),
                expect_family=not self._guessed,
            )
        pipe.set_progress_bar_config(disable=True)
        if self.cpu_offload and device.startswith("cuda"):
            pipe.enable_model_cpu_offload()
        else:
            pipe.to(device)
        if device == "cpu":
            self._render_threads = cpu_render_threads(self.cpu_threads)
            log.info("rendering on the CPU with %d torch threads", self._render_threads)
        log.info("loaded video model %s (%s) on %s", self.name, self.source, device)
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
        family = self.preset.family
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
        if family.takes_max_sequence_length:
            kwargs["max_sequence_length"] = self.preset.prompt_tokens
        if family.takes_frame_rate:
            kwargs["frame_rate"] = params.fps
        kwargs.update(dict(self.preset.extra_call))
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
        frames = np.asarray(output.frames)
        if frames.ndim == 5:
            frames = frames[0]
        return (np.clip(frames, 0.0, 1.0) * 255).round().astype(np.uint8)

    def _step_hooks(self, steps: int, report: StepCallback, stop: Callable[[], bool]) -> dict[str, Any]:
        """The family's hook; raising from it stops at once (no VAE decode of a cancelled clip)."""
        parameters = inspect.signature(self.pipe.__call__).parameters
        hook = self.preset.family.step_hook
        wants_new = hook == StepHook.ON_STEP_END or "callback" not in parameters
        if wants_new and "callback_on_step_end" in parameters:

            def on_step_end(pipe: Any, step: int, timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
                report(step + 1, steps)
                if stop():
                    raise RenderCancelled()
                return {}

            return {"callback_on_step_end": on_step_end}

        def legacy_callback(step: int, timestep: Any, latents: Any) -> None:
            report(step + 1, steps)
            if stop():
                raise RenderCancelled()

        return {"callback": legacy_callback, "callback_steps": 1}


class ModelPool:
    """Every configured model's renderer; one resident at a time, or those in `keep_loaded`.

    A switch frees the old model's memory before the next one loads.
    """

    def __init__(self, renderers: Mapping[str, Renderer], keep_loaded: Iterable[str] = ()) -> None:
        if not renderers:
            raise ValueError("a pool needs at least one model")
        self.renderers = dict(renderers)
        self.keep_loaded = frozenset(keep_loaded)
        self._lock = threading.Lock()

    def __contains__(self, name: object) -> bool:
        return name in self.renderers

    def names(self) -> tuple[str, ...]:
        return tuple(self.renderers)

    def get(self, name: str) -> Renderer:
        return self.renderers[name]

    def resident(self) -> frozenset[str]:
        return frozenset(name for name, renderer in self.renderers.items() if renderer.loaded)

    def load(self, name: str) -> Renderer:
        """Make `name` resident (blocking), freeing whatever may not stay alongside it."""
        with self._lock:
            renderer = self.renderers[name]
            if not renderer.loaded:
                to_free = [
                    other
                    for other_name, other in self.renderers.items()
                    if other is not renderer
                    and other.loaded
                    and not (name in self.keep_loaded and other_name in self.keep_loaded)
                ]
                if to_free:
                    renderer.check_available()
                for other in to_free:
                    other.unload()
                renderer.load()
            return renderer


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


def model_provenance(name: str, hub_id: str, preset: Preset, fps: int) -> dict[str, str]:
    """What a clip's metadata says about the model that made it, beside the render settings."""
    return {
        "videobot_model": hub_id,
        "videobot_model_name": name,
        "videobot_model_family": preset.family.name,
        "videobot_model_licence": preset.licence,
        "videobot_fps": str(fps),
    }
