"""Each mode's pipeline over the loaded model's own components (picture, continuation, loop).

diffusers' `from_pipe(pipe)` builds the same thing but then casts every shared component to
one dtype in place (float32 when none is given): the first picture job would turn a bf16 model
to fp32 for good, text jobs too, and no single dtype is right for Wan (its VAE stays fp32).
`mode_pipeline` passes the very module objects to the class's constructor and changes nothing:
every component keeps its dtype, device, hooks (offload, FP8 storage, step cache), fused LoRAs
and compiled blocks.
"""

from __future__ import annotations

import inspect
from typing import Any


class NoSuchMode(Exception):
    """The loaded pipeline lacks a component the mode's class needs (a picture-only checkpoint
    asked for text, a text checkpoint for a class that needs an image encoder)."""


def mode_pipeline(pipe: Any, class_name: str) -> Any:
    """`class_name` over `pipe`'s components (`pipe` itself when it is of that class): each argument
    of the class's constructor is the loaded module of that name, or the loaded pipeline's config
    value (`expand_timesteps`, `boundary_ratio`), or left to its default."""
    if type(pipe).__name__ == class_name:
        return pipe
    import diffusers

    pipeline_class = getattr(diffusers, class_name)
    components, config = pipe.components, pipe.config
    kwargs: dict[str, Any] = {}
    missing = []
    for name, parameter in inspect.signature(pipeline_class.__init__).parameters.items():
        if name == "self" or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        if components.get(name) is not None:
            kwargs[name] = components[name]
        elif name not in components and name in config:
            kwargs[name] = config[name]
        elif parameter.default is parameter.empty:
            missing.append(name)
    if missing:
        raise NoSuchMode(f"{type(pipe).__name__} has no {', '.join(missing)} for {class_name}")
    made = pipeline_class(**kwargs)
    made.set_progress_bar_config(disable=True)
    return made
