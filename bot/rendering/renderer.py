"""`Renderer` owns one model's pipeline.  `render` is blocking and meant for a worker thread
(`asyncio.to_thread`); it reports each finished denoising step through `on_step` and stops
after the current step when `should_stop()` turns true, by raising from the pipeline's step
hook (`bot.rendering.steps`).  A render request's conditioning picks the mode its family's file
declares (`Preset.modes`); the renderer makes that mode's call and returns a `RenderedClip`.
"""

from __future__ import annotations

import functools
import gc
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, Self

from PIL import Image

from bot.domain import ConditioningKind, RenderParams
from bot.pipelines.audio import soundtracks_from
from bot.pipelines.clip import RenderedClip, frames_as_uint8
from bot.pipelines.extend import CannotRender, render_continued
from bot.pipelines.fewstep import apply_scheduler_shift, guidance_call, guided, step_cache_mode
from bot.pipelines.image import load_picture
from bot.pipelines.loras import LoraMissing, LoraRef, LoraSpec, load_loras, lora_refs
from bot.pipelines.modes import mode_pipeline
from bot.pipelines.registry import TINY_PRESETS, family_of_class
from bot.pipelines.spec import Mode, Preset
from bot.rendering.errors import ModelLoadFailed, ModelMissing, OutOfMemory, RenderCancelled, _first_line
from bot.rendering.loading import (
    _preset_for_source,
    _silence_diffusers,
    component_dtypes,
    load_pipeline,
    local_folder,
    pipeline_class_name,
)
from bot.rendering.steps import BatchStep, StepCallback, _report_as, step_hooks
from bot.rendering.tuning import (
    _free_gpu,
    apply_memory_mode,
    apply_step_cache,
    compile_denoiser,
    cpu_render_threads,
    is_out_of_memory,
    lower_memory_mode,
    make_room,
    out_of_memory_advice,
    release_memory,
    reset_after_abort,
)
from bot.settings.checks import refused_render_settings
from bot.settings.models import ModelSettings
from bot.settings.sections import MAX_BATCH_CUDA, MEMORY_MODES, RenderConfig, VideoConfig

log = logging.getLogger(__name__)


def batch_shape(params: RenderParams) -> tuple[int, int, int, int, float, int, ConditioningKind]:
    """What must match for clips to share one pipeline call (prompts, negatives and seeds may differ;
    pictures too, where the family's picture mode takes one per clip; other modes render a batch
    one clip a call)."""
    p = params
    return (p.frames, p.width, p.height, p.steps, p.guidance, p.fps, p.conditioning.kind)


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
        limits: VideoConfig | None = None,
        audio: bool = True,
        loras: tuple[LoraSpec, ...] = (),
        model_cache: str = "",
        scheduler_shift: float = 0.0,
    ) -> None:
        self.source = source
        self.audio = audio  # False: the soundtrack of a family that makes one is dropped
        self.loras = loras
        self.lora_refs: tuple[LoraRef, ...] = ()  # what the clips record, set when the LoRAs load
        self.model_cache = model_cache
        self.scheduler_shift = scheduler_shift
        self.name = name or source
        self.device = device
        self.cpu_offload = cpu_offload
        self.cpu_threads = cpu_threads
        guessed, self._guessed = _preset_for_source(source)
        if preset is not None:
            self._guessed = False
        self.preset = preset or guessed
        self.tuning = tuning or RenderConfig()
        own = replace(self.tuning, cache=model_cache) if model_cache else self.tuning
        refused = refused_render_settings(own, {self.preset.family.name})
        if refused is not None:
            raise ValueError(" ".join(refused))
        self.limits = limits  # the owner's [models.X] shape, which the warm-up renders at
        self.memory = self.tuning.memory  # the mode in use: lowered after an out-of-memory
        self.load_s: float | None = None  # seconds the last load took, warm-up not included
        self.warmup_s: float | None = None  # seconds the warm-up render took (compiling included)
        self._render_threads = 0  # set at load for CPU renders
        self.offloaded = False  # placed with model CPU offload (configured, `low`, or a load fallback)
        self.pipe: Any = None
        self._mode_pipes: dict[str, Any] = {}  # each mode's pipeline class over `pipe`'s own modules
        self._warming = False  # loaded, but the warm-up render is still running
        self._lock = threading.RLock()  # the warm-up renders while loading holds it

    @classmethod
    def for_model(cls, settings: ModelSettings, tuning: RenderConfig | None = None) -> Self:
        return cls(
            settings.source,
            device=settings.device,
            cpu_offload=settings.cpu_offload,
            cpu_threads=settings.cpu_threads,
            preset=settings.preset,
            name=settings.name,
            tuning=tuning,
            limits=settings.limits,
            audio=settings.audio,
            loras=settings.loras,
            model_cache=settings.cache,
            scheduler_shift=settings.scheduler_shift,
        )

    @property
    def is_tiny(self) -> bool:
        return self.source in TINY_PRESETS

    @property
    def loaded(self) -> bool:
        return self.pipe is not None and not self._warming

    @property
    def step_cache(self) -> str:
        """The step cache this model renders with, whichever section set it (`[models.NAME] cache`
        over `[render] cache`; off for a few-step model unless its own section sets it)."""
        return step_cache_mode(self.tuning.cache, self.model_cache, self.preset.steps)

    @property
    def one_clip_per_call(self) -> bool:
        """A cache that decides per call (first-block: one skip decision for the whole batch) makes
        each clip depend on its batch-mates: such a model renders one clip per call."""
        return self.step_cache == "first-block"

    def batch_limit(self) -> int:
        """Clips per pipeline call: `[render] max_batch`, or auto (several on a GPU, one on the CPU,
        where a batch costs about the sum of its clips and only delays the first); one where the
        step cache decides per call."""
        if self.one_clip_per_call:
            return 1
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
        params = self.warmup_params()
        started = time.perf_counter()
        limit = self.batch_limit()
        mode = None if self.preset.modes.text else self.preset.modes.picture  # a picture-only model
        grey = [Image.new("RGB", (params.width, params.height), (128, 128, 128))]
        for size in (1, limit) if limit > 1 else (1,):  # a full batch too: its kernels (and graphs) differ
            try:
                quiet, stops = (lambda index, step, total: None), [lambda: False] * size
                self._call([params] * size, quiet, stops, mode, grey * size if mode else [])
            except Exception as error:  # a failed warm-up only costs the first user the wait
                log.warning("warm-up render of %s (batch %d) failed: %s", self.name, size, _first_line(error))
                break
        seconds = time.perf_counter() - started
        if self.tuning.compile:
            log.info("compiled %s during its warm-up: %.1f s", self.name, seconds)
        return seconds

    def warmup_params(self) -> RenderParams:
        """The warm-up's clip: the model's default shape as configured ([models.X] over the family's),
        so with `compile` the first real job finds its graph compiled."""
        preset, limits = self.preset, self.limits
        return RenderParams(
            prompt="warm-up",
            negative="",
            seed=0,
            frames=limits.default_frames if limits else preset.frames,
            steps=self.tuning.warmup_steps,
            guidance=limits.default_guidance if limits else preset.guidance,
            width=limits.width if limits else preset.width,
            height=limits.height if limits else preset.height,
            fps=limits.fps if limits else preset.fps,
        )

    def check_available(self) -> None:
        """Raise what loading would, for what can be told without reading weights (no folder, no
        cache entry, an unsupported class): so a doomed switch never frees the model in memory."""
        if self.loaded:
            return
        try:
            lora_refs(self.loras)
        except LoraMissing as error:
            raise ModelMissing(str(error)) from error
        if self.is_tiny:
            return
        folder = local_folder(self.source, self.preset)
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
            self._mode_pipes = {}
        gc.collect()
        _free_gpu()
        log.info("unloaded video model %s", self.name)

    def device_kind(self) -> str:
        """ "cuda" or "cpu": where this model's weights live."""
        return "cuda" if self._device().startswith("cuda") else "cpu"

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
        folder = local_folder(self.source, self.preset)
        pipe, self.preset = load_pipeline(
            folder,
            self.preset,
            dtypes=component_dtypes(self.preset, device),
            expect_family=not self._guessed,
        )
        return pipe

    def _load(self) -> Any:
        """Build the pipeline and place it: on the device in the configured memory mode; when that
        runs out of memory, with model CPU offload (GPU), then in each lower mode, before giving up."""
        _silence_diffusers()
        device = self._device()
        pipe = self._build(device)
        pipe.set_progress_bar_config(disable=True)
        apply_scheduler_shift(pipe, self.scheduler_shift)
        try:
            self.lora_refs = load_loras(pipe, self.loras)  # fused before any dtype cast or offload
        except LoraMissing as error:
            raise ModelMissing(str(error)) from error
        if device == "cpu":
            self._render_threads = cpu_render_threads(self.cpu_threads)
            log.info("rendering on the CPU with %d torch threads", self._render_threads)
        gpu = device.startswith("cuda")
        offload = (self.cpu_offload or self.memory == "low") and gpu
        asked_others = False
        while True:
            failure = ""
            try:
                self._place(pipe, device, offload=offload)
                break
            except Exception as error:
                if not is_out_of_memory(error):
                    raise
                failure = _first_line(error)
            release_memory()  # out of the except block: nothing of the failed placement is held
            lower = self.next_memory_mode()
            if not asked_others and make_room(self.device_kind()):
                asked_others = True
                log.warning(
                    "%s did not fit on %s (%s); the prompt writer gave way", self.name, device, failure
                )
            elif gpu and not offload:
                offload = True
                log.warning(
                    "%s does not fit on %s (%s); loading it with model CPU offload",
                    self.name,
                    device,
                    failure,
                )
            elif lower is not None:
                log.warning(
                    "%s does not fit in memory mode %s (%s); trying %s",
                    self.name,
                    self.memory,
                    failure,
                    lower,
                )
                self.memory = lower
            else:
                raise ModelLoadFailed(
                    f"{self.name} does not fit in memory even with memory mode {self.memory!r} and model CPU "
                    f"offload ({failure}); free the GPU or use a smaller model"
                )
        apply_step_cache(pipe, self.preset.family.name, replace(self.tuning, cache=self.step_cache))
        if self.tuning.compile:
            compile_denoiser(pipe)
        log.info("loaded video model %s (%s) on %s", self.name, self.source, device)
        return pipe

    def _place(self, pipe: Any, device: str, *, offload: bool) -> None:
        """Put `pipe` on `device` (or offload it onto that device) in the current memory mode."""
        if offload:
            pipe.enable_model_cpu_offload(device=device)  # without a device, diffusers picks GPU 0
        else:
            pipe.to(device)
        apply_memory_mode(pipe, self.memory, device, offloaded=offload, tiling=self.preset.vae_tiling)
        self.offloaded = offload or (self.memory == "low" and device.startswith("cuda"))

    def next_memory_mode(self) -> str | None:
        """The next lower mode this model may fall back to; never `low` for a compiled model: its FP8
        casting hooks break the compiled blocks (`[render]` refuses compile with memory = low)."""
        lower = lower_memory_mode(self.memory)
        return None if lower == "low" and self.tuning.compile else lower

    def render(
        self,
        params: RenderParams,
        on_step: StepCallback | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> RenderedClip:
        """Render `params` → its clip (uint8 frames, fps, soundtrack or None)."""
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
    ) -> list[RenderedClip | None]:
        """Render clips of one `batch_shape` in one pipeline call, each as it would be alone for its
        seed; None for a clip cancelled meanwhile (the others go on; all cancelled: RenderCancelled).

        Out of memory: the batch is split in halves and each retried; a lone clip is retried once
        in the next lower memory mode, then `OutOfMemory` says what to lower.
        """
        if not batch:
            return []
        if len({batch_shape(params) for params in batch}) != 1:
            raise ValueError("a batch needs one shape (frames, size, steps, guidance, fps, conditioning)")
        self.load()
        stops = [stop or (lambda: False) for stop in should_stop] or [lambda: False] * len(batch)
        stops += [lambda: False] * (len(batch) - len(stops))
        if all(stop() for stop in stops):
            raise RenderCancelled()
        report = on_step or (lambda index, step, total: None)
        clips: list[RenderedClip | None] = []
        if self.one_clip_per_call:  # per clip: the cache decides once for a whole call
            for index in range(len(batch)):
                clips += self._render_split([index], batch, report, stops, lowered=False)
        else:
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
        asked_others: bool = False,
    ) -> list[RenderedClip | None]:
        live = [i for i in indices if not stops[i]()]
        if not live:
            return [None] * len(indices)
        clips: list[RenderedClip | None] = []
        failure: str | None = None
        try:
            clips = self._render_mode(
                [batch[i] for i in live],
                lambda index, step, total: report(live[index], step, total),
                [stops[i] for i in live],
            )
        except OutOfMemory as error:
            failure = str(error)  # only its words: retrying in here would keep the failed call alive
        if failure is None:
            by_index = dict(zip(live, clips, strict=True))
        elif len(live) > 1:
            release_memory()
            half = len(live) // 2
            log.warning("out of memory for a batch of %d; splitting it in two", len(live))
            first = self._render_split(live[:half], batch, report, stops, lowered=lowered)
            second = self._render_split(live[half:], batch, report, stops, lowered=lowered)
            by_index = dict(zip(live, first + second, strict=True))
        elif not asked_others and make_room(self.device_kind()):
            log.warning("out of memory; the prompt writer gave way, trying again as it was")
            retried = self._render_split(live, batch, report, stops, lowered=lowered, asked_others=True)
            by_index = dict(zip(live, retried, strict=True))
        else:
            lower = self.next_memory_mode()
            if lowered or lower is None:
                raise OutOfMemory(f"{out_of_memory_advice(self.memory, batch[live[0]])} ({failure})")
            log.warning("out of memory in memory mode %s; trying %s", self.memory, lower)
            self.lower_memory(lower)
            release_memory()
            by_index = dict(
                zip(live, self._render_split(live, batch, report, stops, lowered=True), strict=True)
            )
        return [None if stops[i]() else by_index.get(i) for i in indices]

    def lower_memory(self, mode: str) -> None:
        """Switch the loaded pipeline to `mode` (fast → balanced → low); it stays there."""
        with self._lock:
            if self.pipe is not None and MEMORY_MODES.index(mode) > MEMORY_MODES.index(self.memory):
                device = self._device()
                apply_memory_mode(self.pipe, mode, device, offloaded=self.offloaded)
                self.offloaded = self.offloaded or (mode == "low" and device.startswith("cuda"))
            self.memory = mode

    def mode_pipeline(self, mode: Mode | None) -> Any:
        """The pipeline that renders `mode` (None: text, the loaded one), built once over the
        loaded components, changing none of them (`bot.pipelines.modes`)."""
        if mode is None:
            return self.pipe
        with self._lock:
            made = self._mode_pipes.get(mode.pipeline_class)
            if made is None:
                made = self._mode_pipes[mode.pipeline_class] = mode_pipeline(self.pipe, mode.pipeline_class)
            return made

    def _render_mode(
        self, batch: Sequence[RenderParams], report: BatchStep, stops: Sequence[Callable[[], bool]]
    ) -> list[RenderedClip | None]:
        """`batch` in its conditioning's mode, as the family's file declares it: one call for the
        batch where the mode takes a picture per clip, else one call (or, for a continuation or a
        loop, the few calls `bot.pipelines.extend` makes) per clip."""
        kind = batch[0].conditioning.kind
        modes = self.preset.modes
        if not modes.takes(kind):
            raise CannotRender(f"{self.name} does not take {kind} conditioning")
        mode = modes.mode(kind)
        if mode is None:
            return self._call(batch, report, stops, None, [])
        if kind is ConditioningKind.PICTURE and (mode.per_clip or len(batch) == 1):
            pictures = [load_picture(p.picture.path, p.width, p.height) for p in batch if p.picture]
            return self._call(batch, report, stops, mode, pictures)
        clips: list[RenderedClip | None] = []
        for index, params in enumerate(batch):
            if stops[index]():
                clips.append(None)
                continue
            one_report = functools.partial(_report_as, report, index)
            if kind is ConditioningKind.PICTURE:
                clips += self._render_mode([params], one_report, [stops[index]])
            else:
                clips.append(self._render_continued(params, one_report, stops[index]))
        return clips

    def _render_continued(
        self, params: RenderParams, report: BatchStep, stop: Callable[[], bool]
    ) -> RenderedClip | None:
        """An extension or a loop: the calls `bot.pipelines.extend` asks for, each one clip."""

        def call(
            part: RenderParams, mode: Mode | None, start: Sequence[Any], end: Any
        ) -> RenderedClip | None:
            return self._call([part], report, [stop], mode, start, end)[0]

        return render_continued(params, self.preset.modes, call)

    def _call(
        self,
        batch: Sequence[RenderParams],
        report: BatchStep,
        stops: Sequence[Callable[[], bool]],
        mode: Mode | None,
        start: Sequence[Any],
        end: Any = None,
    ) -> list[RenderedClip | None]:
        """One pipeline call for `batch`: a list of prompts and negatives, one generator per seed;
        in `mode`, its pipeline over the loaded modules, conditioned on `start` (and `end`)."""
        import torch

        first = batch[0]
        pipe = self.mode_pipeline(mode)
        kwargs = self._arguments(batch)
        if mode is not None:
            kwargs.update(mode.arguments(start, end, first.frames))

        def step_done(step: int, total: int) -> None:
            for index, stop in enumerate(stops):
                if not stop():
                    report(index, step, total)

        stop_all = lambda: all(stop() for stop in stops)  # noqa: E731
        kwargs.update(step_hooks(pipe, self.preset.family.step_hook, first.steps, step_done, stop_all))
        if self._render_threads:
            torch.set_num_threads(self._render_threads)  # per thread: renders run in worker threads
        failure = ""
        with self._lock:
            finished = False
            try:
                output = pipe(**kwargs)
                finished = True
            except RenderCancelled:
                return [None] * len(batch)
            except Exception as error:
                if not is_out_of_memory(error):
                    raise
                failure = _first_line(error)
            finally:
                if not finished:  # diffusers resets its hooks only at the end of a call that finishes
                    reset_after_abort(pipe)
                if pipe is not self.pipe and self.offloaded:  # the offload hooks are the loaded pipeline's
                    reset_after_abort(self.pipe)
        if failure:  # out of the except block: its traceback (and the failed call's tensors) is gone
            release_memory()
            raise OutOfMemory(failure)
        frames = frames_as_uint8(output.frames, len(batch))
        sounds = soundtracks_from(output, pipe, len(batch)) if self.audio else [None] * len(batch)
        return [RenderedClip(frames[index], first.fps, sounds[index]) for index in range(len(batch))]

    def _arguments(self, batch: Sequence[RenderParams]) -> dict[str, Any]:
        """The call's arguments that every mode shares: prompts, size, steps, guidance, seeds and
        the family's and checkpoint's own (`fixed_call`, `extra_call`)."""
        import torch

        first = batch[0]
        family = self.preset.family
        one = len(batch) == 1
        generators = [torch.Generator(device="cpu").manual_seed(p.seed) for p in batch]
        kwargs: dict[str, Any] = {
            "prompt": first.prompt if one else [p.prompt for p in batch],
            family.frames_argument: first.frames,
            "num_inference_steps": first.steps,
            "guidance_scale": first.guidance,
            "height": first.height,
            "width": first.width,
            "generator": generators[0] if one else generators,
            "output_type": "pt",  # cast to uint8 where the frames are, not as float32 through the host
        }
        if family.takes_max_sequence_length:
            kwargs["max_sequence_length"] = self.preset.prompt_tokens
        if family.takes_frame_rate:
            kwargs["frame_rate"] = first.fps
        kwargs.update(dict(family.fixed_call))
        kwargs.update(dict(self.preset.extra_call))
        if self.preset.second_guidance:  # two experts: the low-noise one's guidance too (1: none)
            kwargs["guidance_scale_2"] = self.preset.second_guidance if guided(first.guidance) else 1.0
        if len(self.preset.timesteps) == first.steps:  # the distillation's own schedule
            kwargs["timesteps"] = list(self.preset.timesteps)
        negative = (first.negative or None) if one else [p.negative for p in batch]
        kwargs.update(guidance_call(family, first.guidance, negative))  # guidance 1: no negative pass
        return kwargs
