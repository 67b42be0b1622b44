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

import functools
import gc
import inspect
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bot.config import DEFAULT_MODEL_ID, MAX_BATCH_CUDA, MEMORY_MODES, ModelSettings, RenderConfig
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


BatchStep = Callable[[int, int, int], None]  # (index in the batch, step, total)

DIT_FAMILIES = frozenset({"wan", "ltx", "cogvideox"})  # transformers with diffusers' cache hooks


def batch_shape(params: RenderParams) -> tuple[int, int, int, int, float, int, bool, bool, int]:
    """What must match for clips to share one pipeline call (prompts, negatives and seeds may differ;
    pictures too: each is fitted to the clip's size, so pictures of one shape batch together)."""
    return (
        params.frames,
        params.width,
        params.height,
        params.steps,
        params.guidance,
        params.fps,
        params.picture is not None,
        params.loop,
        params.extends.parent_id if params.extends else 0,  # a continuation renders alone
    )


def lower_memory_mode(mode: str) -> str | None:
    """The next mode that saves memory, or None from the lowest."""
    index = MEMORY_MODES.index(mode)
    return MEMORY_MODES[index + 1] if index + 1 < len(MEMORY_MODES) else None


def is_out_of_memory(error: BaseException) -> bool:
    """CUDA's allocator error, the host's MemoryError, or a backend's "out of memory" RuntimeError."""
    import torch

    if isinstance(error, torch.OutOfMemoryError | MemoryError):
        return True
    return isinstance(error, RuntimeError) and "out of memory" in str(error).lower()


class Renderer:
    """Owns one model's pipeline; loads (and warms) it on demand and renders clips, one or a
    batch per pipeline call, in the `[render]` memory mode (lowered once on out-of-memory)."""

    def __init__(
        self,
        source: str,
        *,
        device: str = "auto",
        cpu_offload: bool = False,
        cpu_threads: int = 0,
        preset: Preset | None = None,
        name: str = "",
        tuning: RenderConfig | None = None,
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
        self.tuning = tuning or RenderConfig()
        self.memory = self.tuning.memory  # the mode in use: lowered after an out-of-memory
        self.load_s: float | None = None  # seconds the last load took, warm-up not included
        self.warmup_s: float | None = None  # seconds the warm-up render took (compiling included)
        self._render_threads = 0  # set at load for CPU renders
        self.pipe: Any = None
        self._image_pipe: Any = None  # the picture-taking pipeline over `pipe`'s modules (from_pipe)
        self._continue_pipe: Any = None  # the frame-conditioning one, for extensions and loops
        self._warming = False  # loaded, but the warm-up render is still running
        self._lock = threading.RLock()  # the warm-up renders while loading holds it

    @classmethod
    def for_model(cls, settings: ModelSettings, tuning: RenderConfig | None = None) -> Renderer:
        return cls(
            settings.source,
            device=settings.device,
            cpu_offload=settings.cpu_offload,
            cpu_threads=settings.cpu_threads,
            preset=settings.preset,
            name=settings.name,
            tuning=tuning,
        )

    @property
    def is_tiny(self) -> bool:
        return self.source in TINY_PRESETS

    @property
    def loaded(self) -> bool:
        return self.pipe is not None and not self._warming

    def batch_limit(self) -> int:
        """Clips per pipeline call: `[render] max_batch`, or auto (several on a GPU, one on the CPU,
        where a batch costs about the sum of its clips and only delays the first)."""
        if self.tuning.max_batch > 0:
            return self.tuning.max_batch
        return MAX_BATCH_CUDA if self._device().startswith("cuda") else 1

    def load(self) -> None:
        """Load the pipeline (blocking) and warm it; raises a `ModelUnavailable` saying why when it can't."""
        with self._lock:
            if self.pipe is not None:
                return
            started = time.perf_counter()
            pipe = self._load()
            self.load_s = time.perf_counter() - started
            self.pipe = pipe
            self._warming = True
            try:
                self.warmup_s = self._warm_up() if self.tuning.warmup_steps else None
            finally:
                self._warming = False
        log.info(
            "video model %s ready: loaded in %.1f s, warm-up %s (memory %s, compile %s, cache %s)",
            self.name,
            self.load_s,
            "off" if self.warmup_s is None else f"{self.warmup_s:.1f} s",
            self.memory,
            "on" if self.tuning.compile else "off",
            self.tuning.cache,
        )

    def _warm_up(self) -> float:
        """A short render right after loading (and one of a full batch), so the first user does not
        pay for CUDA start-up, kernel selection or compiling; the seconds it took."""
        preset = self.preset
        params = RenderParams(
            prompt="warm-up",
            negative="",
            seed=0,
            frames=preset.frames,
            steps=self.tuning.warmup_steps,
            guidance=preset.guidance,
            width=preset.width,
            height=preset.height,
            fps=preset.fps,
        )
        started = time.perf_counter()
        limit = self.batch_limit()
        for size in (1, limit) if limit > 1 else (1,):  # a full batch too: its kernels (and graphs) differ
            try:
                self._call([params] * size, lambda index, step, total: None, [lambda: False] * size)
            except Exception as error:  # a failed warm-up only costs the first user the wait
                log.warning("warm-up render of %s (batch %d) failed: %s", self.name, size, _first_line(error))
                break
        seconds = time.perf_counter() - started
        if self.tuning.compile:
            log.info("compiled %s during its warm-up: %.1f s", self.name, seconds)
        return seconds

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
            self._image_pipe = None
            self._continue_pipe = None
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

    def _build(self, device: str) -> Any:
        """The pipeline, not yet on its device: the tiny one built in code, else from disk."""
        if self.is_tiny:
            from bot.pipelines.tiny import build_tiny

            return build_tiny(self.source)
        folder = local_folder(self.source)
        pipe, self.preset = load_pipeline(
            folder,
            self.preset,
            dtypes=component_dtypes(self.preset, device),
            expect_family=not self._guessed,
        )
        return pipe

    def _load(self) -> Any:
        _silence_diffusers()
        device = self._device()
        pipe = self._build(device)
        pipe.set_progress_bar_config(disable=True)
        offload = (self.cpu_offload or self.memory == "low") and device.startswith("cuda")
        if offload:
            pipe.enable_model_cpu_offload()
        else:
            pipe.to(device)
        if device == "cpu":
            self._render_threads = cpu_render_threads(self.cpu_threads)
            log.info("rendering on the CPU with %d torch threads", self._render_threads)
        apply_memory_mode(pipe, self.memory, device, offloaded=offload)
        apply_step_cache(pipe, self.preset.family.name, self.tuning)
        if self.tuning.compile:
            compile_denoiser(pipe)
        log.info("loaded video model %s (%s) on %s", self.name, self.source, device)
        return pipe

    def render(
        self,
        params: RenderParams,
        on_step: StepCallback | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> np.ndarray:
        """Render `params` → uint8 frames shaped (frames, height, width, 3)."""
        report = on_step or (lambda step, total: None)
        clip = self.render_batch([params], lambda index, step, total: report(step, total), [should_stop])[0]
        if clip is None:
            raise RenderCancelled()
        return clip

    def render_batch(
        self,
        batch: Sequence[RenderParams],
        on_step: BatchStep | None = None,
        should_stop: Sequence[Callable[[], bool] | None] = (),
    ) -> list[np.ndarray | None]:
        """Render clips of one `batch_shape` in one pipeline call, each as it would be alone for its
        seed; None for a clip cancelled meanwhile (the others go on; all cancelled: RenderCancelled).

        Out of memory: the batch is split in halves and each retried; a lone clip is retried once
        in the next lower memory mode, then `OutOfMemory` says what to lower.
        """
        if not batch:
            return []
        if len({batch_shape(params) for params in batch}) != 1:
            raise ValueError("a batch needs one shape (frames, size, steps, guidance, fps)")
        self.load()
        stops = [stop or (lambda: False) for stop in should_stop] or [lambda: False] * len(batch)
        stops += [lambda: False] * (len(batch) - len(stops))
        if all(stop() for stop in stops):
            raise RenderCancelled()
        report = on_step or (lambda index, step, total: None)
        clips = self._render_split(list(range(len(batch))), batch, report, stops, lowered=False)
        if all(clip is None for clip in clips):
            raise RenderCancelled()
        return clips

    def _render_split(
        self,
        indices: list[int],
        batch: Sequence[RenderParams],
        report: BatchStep,
        stops: Sequence[Callable[[], bool]],
        *,
        lowered: bool,
    ) -> list[np.ndarray | None]:
        live = [i for i in indices if not stops[i]()]
        if not live:
            return [None] * len(indices)
        try:
            clips = self._call(
                [batch[i] for i in live],
                lambda index, step, total: report(live[index], step, total),
                [stops[i] for i in live],
            )
        except OutOfMemory as error:
            if len(live) > 1:
                half = len(live) // 2
                log.warning("out of memory for a batch of %d; splitting it in two", len(live))
                first = self._render_split(live[:half], batch, report, stops, lowered=lowered)
                second = self._render_split(live[half:], batch, report, stops, lowered=lowered)
                by_index = dict(zip(live, first + second, strict=True))
            else:
                lower = lower_memory_mode(self.memory)
                if lowered or lower is None:
                    raise OutOfMemory(out_of_memory_advice(self.memory, batch[live[0]])) from error
                log.warning("out of memory in memory mode %s; trying %s", self.memory, lower)
                self.lower_memory(lower)
                by_index = dict(
                    zip(live, self._render_split(live, batch, report, stops, lowered=True), strict=True)
                )
        else:
            by_index = dict(zip(live, clips, strict=True))
        return [None if stops[i]() else by_index.get(i) for i in indices]

    def lower_memory(self, mode: str) -> None:
        """Switch the loaded pipeline to `mode` (fast → balanced → low); it stays there."""
        with self._lock:
            if self.pipe is not None and MEMORY_MODES.index(mode) > MEMORY_MODES.index(self.memory):
                device = self._device()
                apply_memory_mode(
                    self.pipe, mode, device, offloaded=self.cpu_offload and device.startswith("cuda")
                )
            self.memory = mode

    def _call(
        self,
        batch: Sequence[RenderParams],
        report: BatchStep,
        stops: Sequence[Callable[[], bool]],
        conditioned: tuple[Any, dict[str, Any]] | None = None,
    ) -> list[np.ndarray | None]:
        """One pipeline call for `batch`: a list of prompts and negatives, one generator per seed;
        with pictures, the image-to-video pipeline over the same modules (`bot.pipelines.image`).
        An extension or a loop is rendered by `bot.pipelines.extend`, which calls back here with
        `conditioned`: the pipeline to use and the arguments that condition it."""
        import torch

        first = batch[0]
        pipe = self.pipe
        pictures: list[Any] = []
        if conditioned is None and (first.extends is not None or first.loop):
            if len(batch) > 1:
                return self._call_each(batch, report, stops)
            from bot.pipelines.extend import render_continued

            return [render_continued(self, first, functools.partial(report, 0), stops[0])]
        if conditioned is not None:
            pipe = conditioned[0]
        elif first.picture is not None:
            from bot.pipelines.image import conditioning, image_pipeline, load_picture, per_clip_pictures

            with self._lock:
                if self._image_pipe is None:
                    self._image_pipe = image_pipeline(self.pipe)
                pipe = self._image_pipe
            if len(batch) > 1 and not per_clip_pictures(pipe):
                return self._call_each(batch, report, stops)
            pictures = [load_picture(p.picture.path, p.width, p.height) for p in batch if p.picture]
        family = self.preset.family
        one = len(batch) == 1
        kwargs: dict[str, Any] = {
            "prompt": first.prompt if one else [p.prompt for p in batch],
            "negative_prompt": (first.negative or None) if one else [p.negative for p in batch],
            "num_frames": first.frames,
            "num_inference_steps": first.steps,
            "guidance_scale": first.guidance,
            "height": first.height,
            "width": first.width,
            "generator": [torch.Generator(device="cpu").manual_seed(p.seed) for p in batch],
            "output_type": "np",
        }
        if one:
            kwargs["generator"] = kwargs["generator"][0]
        if family.takes_max_sequence_length:
            kwargs["max_sequence_length"] = self.preset.prompt_tokens
        if family.takes_frame_rate:
            kwargs["frame_rate"] = first.fps
        kwargs.update(dict(self.preset.extra_call))
        if pictures:
            kwargs.update(conditioning(pipe, pictures))
        if conditioned is not None:
            kwargs.update(conditioned[1])

        def step_done(step: int, total: int) -> None:
            for index, stop in enumerate(stops):
                if not stop():
                    report(index, step, total)

        kwargs.update(self._step_hooks(first.steps, step_done, lambda: all(stop() for stop in stops), pipe))
        if self._render_threads:
            torch.set_num_threads(self._render_threads)  # per thread: renders run in worker threads
        with self._lock:
            try:
                output = pipe(**kwargs)
            except RenderCancelled:
                return [None] * len(batch)
            except Exception as error:
                if not is_out_of_memory(error):
                    raise
                _free_gpu()
                raise OutOfMemory(_first_line(error)) from error
        frames = np.asarray(output.frames)
        if frames.ndim == 4:  # one clip without its batch axis
            frames = frames[None]
        clips = (np.clip(frames, 0.0, 1.0) * 255).round().astype(np.uint8)
        return [clips[index] for index in range(len(batch))]

    def _call_each(
        self, batch: Sequence[RenderParams], report: BatchStep, stops: Sequence[Callable[[], bool]]
    ) -> list[np.ndarray | None]:
        """A batch of pictures for a pipeline that takes one picture a call: one clip at a time."""
        clips: list[np.ndarray | None] = []
        for index, params in enumerate(batch):
            if stops[index]():
                clips.append(None)
                continue
            one = self._call([params], functools.partial(_report_as, report, index), [stops[index]])
            clips.append(one[0])
        return clips

    def _step_hooks(
        self, steps: int, report: StepCallback, stop: Callable[[], bool], pipe: Any = None
    ) -> dict[str, Any]:
        """The family's hook; raising from it stops at once (no VAE decode of a cancelled clip)."""
        parameters = inspect.signature((pipe or self.pipe).__call__).parameters
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


def _report_as(report: BatchStep, index: int, _: int, step: int, total: int) -> None:
    """A one-clip call's progress, reported as clip `index` of the batch it came from."""
    report(index, step, total)


def out_of_memory_advice(mode: str, params: RenderParams) -> str:
    """For the owner's log (the user's message is messages.py's): what to lower, in order."""
    return (
        f"out of memory for {params.frames} frames at {params.width}x{params.height} even in memory "
        f'mode {mode!r}: try fewer frames or a smaller size, or set [render] memory = "low" '
        "and a smaller [render] max_batch"
    )


def _denoiser(pipe: Any) -> Any:
    return getattr(pipe, "transformer", None) or getattr(pipe, "unet", None)


def apply_memory_mode(pipe: Any, mode: str, device: str, *, offloaded: bool = False) -> None:
    """fast: as loaded (the preset's half dtypes on a GPU, PyTorch SDPA attention, diffusers' default);
    balanced: + VAE slicing and tiling (decode one clip, one tile at a time); low: + FP8 storage of
    the denoiser's weights (computed in its own dtype) and, on a GPU, model CPU offload.
    On the CPU, slicing and tiling apply as on a GPU, FP8 storage too; offload is moot there."""
    import torch

    if mode not in MEMORY_MODES:
        raise ValueError(f"unknown memory mode {mode!r}")
    if mode == "fast":
        return
    vae = getattr(pipe, "vae", None)
    for switch in ("enable_slicing", "enable_tiling"):
        if vae is not None and hasattr(vae, switch):
            getattr(vae, switch)()
    if mode != "low":
        return
    denoiser = _denoiser(pipe)
    fp8 = getattr(torch, "float8_e4m3fn", None)
    if denoiser is not None and fp8 is not None and hasattr(denoiser, "enable_layerwise_casting"):
        try:
            denoiser.enable_layerwise_casting(storage_dtype=fp8, compute_dtype=denoiser.dtype)
        except Exception as error:  # an unusual layer type: keep its weights as they are
            log.warning("FP8 weight storage does not apply here: %s", _first_line(error))
    if device.startswith("cuda") and not offloaded:
        pipe.enable_model_cpu_offload()


def apply_step_cache(pipe: Any, family: str, tuning: RenderConfig) -> None:
    """`[render] cache`: reuse a step's transformer output while it barely changes (DiT families)."""
    if tuning.cache == "off":
        return
    transformer = getattr(pipe, "transformer", None)
    if family not in DIT_FAMILIES or transformer is None or not hasattr(transformer, "enable_cache"):
        log.warning("[render] cache = %r applies to Wan, LTX and CogVideoX only; %s renders uncached",
                    tuning.cache, family)  # fmt: skip
        return
    from diffusers import FirstBlockCacheConfig, PyramidAttentionBroadcastConfig

    config: Any
    blocks = getattr(transformer, "transformer_blocks", None) or getattr(transformer, "blocks", None) or ()
    if tuning.cache == "first-block" and len(blocks) < 2:
        log.warning("first-block cache needs a transformer of two blocks or more; rendering uncached")
        return
    if tuning.cache == "first-block":
        config = FirstBlockCacheConfig(threshold=tuning.cache_threshold)
    else:
        config = PyramidAttentionBroadcastConfig(
            spatial_attention_block_skip_range=2,
            spatial_attention_timestep_skip_range=(100, 800),
            current_timestep_callback=lambda: pipe.current_timestep,
        )
    transformer.enable_cache(config)


def compile_denoiser(pipe: Any) -> None:
    """`[render] compile`: torch.compile the denoiser, its repeated blocks alone where the model
    names them (Wan, LTX: compiled once, reused by every block); compiling happens at the warm-up."""
    denoiser = _denoiser(pipe)
    if denoiser is None:
        return
    if getattr(denoiser, "_repeated_blocks", None):
        denoiser.compile_repeated_blocks(fullgraph=True)
    else:
        denoiser.compile()


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
