"""The models `videobot console` and `videobot demo` render with: never a surprise download.

A configured model whose weights are not on this machine (every model, with `--tiny`) is stood
in for by the tiny random build of its family, saying so.  Where only tiny models render, tiny
models for what none of them does are added beside them (`tiny-ltx` animates pictures, loops
and extends; `tiny-ltx2` makes sound), so every feature can be tried without a GPU or a config
edit.
"""

from __future__ import annotations

import asyncio
import dataclasses

from bot.domain import RenderParams
from bot.pipelines.registry import TINY_PRESETS
from bot.render import ModelUnavailable, check_weights_on_disk
from bot.settings.enhance import TINY_WRITER
from bot.settings.models import ModelSettings, resolve
from bot.settings.root import Config
from bot.settings.sections import ModelEntry

PICTURES_AND_LOOPS = "tiny-ltx"
SOUND = "tiny-ltx2"


class UnknownModel(Exception):
    """`--model NAME` names neither a configured model nor a built-in tiny one."""


def tiny_of(settings: ModelSettings) -> str:
    """The built-in tiny model of the same family as `settings` (same pipeline class)."""
    return next(name for name, preset in TINY_PRESETS.items() if preset.family is settings.preset.family)


def stand_ins(config: Config, force_tiny: bool) -> dict[str, str]:
    """Configured model name → the tiny model that renders in its place (weights not here)."""
    found: dict[str, str] = {}
    for name, settings in config.model_settings.items():
        if settings.preset.tiny:
            continue
        if not force_tiny:
            try:
                check_weights_on_disk(settings.source)
                continue
            except ModelUnavailable:
                pass
        found[name] = tiny_of(settings)
    return found


def fallback_note(settings: ModelSettings, tiny: str) -> str:
    """What to tell the person when `tiny` renders in place of a model whose weights are missing."""
    return (
        f"The model {settings.source} is not on this machine (`videobot pull {settings.name}` fetches "
        f"it); falling back to the tiny random model {tiny}, at its own small size: clips show noise, "
        "not your prompt."
    )


def own_shape(config: Config, tiny: str, *, default: bool = False) -> ModelEntry:
    """A tiny model's entry at its family's shape and limits, whatever `[video]` sets for the others."""
    v = resolve(tiny, ModelEntry(id=tiny), config.video, frozenset(), config.source).limits
    return ModelEntry(
        id=tiny,
        default=default,
        width=v.width,
        height=v.height,
        fps=v.fps,
        default_frames=v.default_frames,
        min_frames=v.min_frames,
        max_frames=v.max_frames,
        default_steps=v.default_steps,
        min_steps=v.min_steps,
        max_steps=v.max_steps,
        default_guidance=v.default_guidance,
        min_guidance=v.min_guidance,
        max_guidance=v.max_guidance,
    )


def tiny_models(config: Config, replaced: dict[str, str]) -> Config:
    """`config` with the stand-ins in place, plus tiny models for pictures, loops and sound when
    only tiny models render and none of them does these."""
    if not replaced and not all(s.preset.tiny for s in config.model_settings.values()):
        return config  # real weights render here: the owner's own models, as configured
    entries: list[tuple[str, ModelEntry]] = []
    for name, entry in config.models:
        tiny = replaced.get(name)
        if config.model_table:  # a lone [model] is named after what really renders ("default" says nothing)
            renders = tiny or config.model_settings[name].source
            entries.append((renders, own_shape(config, tiny, default=True) if tiny else entry))
        elif tiny is None:
            entries.append((name, entry))
        else:
            entries.append((name, ModelEntry(id=tiny, default=entry.default)))
    config = dataclasses.replace(config, models=tuple(entries), model_table=False)
    settings = list(config.model_settings.values())
    extras = []
    takes = any(s.preset.pictures.taken for s in settings)
    if not (takes and any(s.preset.loops for s in settings)):
        extras.append(PICTURES_AND_LOOPS)
    if not any(s.preset.family.makes_audio for s in settings):
        extras.append(SOUND)
    added = tuple((name, own_shape(config, name)) for name in extras if name not in config.model_settings)
    return dataclasses.replace(config, models=config.models + added)


def with_default(config: Config, name: str) -> Config:
    """`--model NAME`: a configured model, or a built-in tiny one added, becomes the default."""
    wanted = name.strip().lower()
    if wanted not in config.model_settings:
        if wanted not in TINY_PRESETS:
            known = ", ".join(dict.fromkeys([*config.model_settings, *TINY_PRESETS]))
            raise UnknownModel(f"there is no model called {name!r}; pick one of {known}")
        config = dataclasses.replace(config, models=(*config.models, (wanted, own_shape(config, wanted))))
    models = tuple((n, dataclasses.replace(entry, default=n == wanted)) for n, entry in config.models)
    return dataclasses.replace(config, models=models, model_table=False)


def extras_note(config: Config, trying: Config) -> str | None:
    """Which tiny models were added for the features the configured ones lack, and how to try them."""
    added = [
        n
        for n in (PICTURES_AND_LOOPS, SOUND)
        if n in trying.model_settings and n not in config.model_settings
    ]
    if not added:
        return None
    what = {
        PICTURES_AND_LOOPS: f"{PICTURES_AND_LOOPS} animates a picture (--image photo.jpg), makes "
        "loops (--loop) and extends its clips (/extend)",
        SOUND: f"{SOUND} adds sound (--model {SOUND})",
    }
    return "Tiny models to try the rest: " + "; ".join(what[n] for n in added) + "."


def demo_rewrite(
    config: Config, params: RenderParams, family: str, *, tiny: bool
) -> tuple[RenderParams, str]:
    """`demo --enhance`: `params` with the writer's paragraph (`[enhance]`'s writer; `tiny-qwen3`
    with `--tiny`), and the lines that say what it wrote or why the typed prompt stays."""
    from bot.enhance import PromptWriter, WriterSlot

    settings = dataclasses.replace(config.enhance, model=TINY_WRITER, path="") if tiny else config.enhance
    slot = WriterSlot(PromptWriter(settings))
    try:
        rewrite = asyncio.run(slot.rewrite("demo", params.prompt, family, paced=False))
    finally:
        slot.pool.shutdown(wait=True)
    if not rewrite.rewritten:
        return params, f"The prompt writer {settings.model} kept your prompt ({rewrite.kept}: {rewrite.why})."
    written = dataclasses.replace(
        params, prompt=rewrite.text, prompt_original=params.prompt, prompt_writer=rewrite.writer
    )
    return written, f"Rewritten by {rewrite.writer}:\n{rewrite.text}"
