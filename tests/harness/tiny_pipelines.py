"""Tiny pipelines built once per test session, handed out as pristine copies.

The tiny builders are deterministic (random weights from a fixed seed), so building one again
for each test only costs time.  `bot.pipelines.tiny.build_tiny` is replaced for the session by
`cached_build_tiny`: the first call for a (name, seed, layers, dtype) builds it, every call gets
its own deep copy, so no test can change what the next one receives (LoRAs fused, weights cast,
schedulers shifted, hooks registered).  `tests/test_harness.py` proves it.

The copy is `copy.deepcopy` but for torch modules: each of a module's ~10 hook dictionaries is
almost always empty, and `deepcopy` reconstructs every empty `OrderedDict` through
`__reduce_ex__` (8,000 of them in the ModelScope build); a module is copied here attribute by
attribute, an empty container made anew.  Three times faster (median 22 ms, not 72, for `tiny`),
the same weights, no object shared.
"""

from __future__ import annotations

import copy
import gc
import threading
from collections import OrderedDict
from typing import Any

import pytest
import torch

import bot.pipelines.tiny as tiny
import bot.rendering.tuning as tuning
from tests.harness.lanes import check_lane

_build = tiny.build_tiny
_built: dict[tuple[str, int, int, str], Any] = {}
_lock = threading.Lock()
stats = {"built": 0, "copied": 0}


def tiny_pipeline(name: str, seed: int = 0, layers: int = 1, dtype: Any = None) -> Any:
    """A fresh copy of the tiny pipeline `name`, its components in `dtype` (float32 when None)."""
    check_lane("render", f"builds the tiny pipeline {name!r}")
    key = (name, seed, layers, str(dtype))
    with _lock:
        if key not in _built:
            pipe = _build(name, seed=seed, layers=layers)
            if dtype is not None:
                pipe.to(dtype=dtype)
            _built[key] = pipe
            stats["built"] += 1
            # the cache lives as long as the session: out of the cyclic collector, it is not walked
            # again by every full collection (the renderer makes one on each unload: 70 → 50 ms).
            # What else is alive (or cyclic garbage) now is frozen too: see `pytest_runtest_teardown`
            gc.freeze()
        stats["copied"] += 1
        return _copy_pipeline(_built[key])


_EMPTY_KINDS = (OrderedDict, dict, set, list)


def _copy_pipeline(pipe: Any) -> Any:
    """A deep copy of a diffusers pipeline: shares nothing with `pipe` (`deepcopy`'s memo keeps
    tied weights tied)."""
    memo: dict[int, Any] = {}
    kind: Any = type(pipe)
    made = kind.__new__(kind)
    memo[id(pipe)] = made
    made.__dict__.update({key: _copy(value, memo) for key, value in pipe.__dict__.items()})
    return made


def _copy(value: Any, memo: dict[int, Any]) -> Any:
    if id(value) in memo:
        return memo[id(value)]
    if not isinstance(value, torch.nn.Module) or hasattr(value, "__deepcopy__"):
        return copy.deepcopy(value, memo)
    made = type(value).__new__(type(value))
    memo[id(value)] = made
    copy._keep_alive(value, memo)  # type: ignore[attr-defined]  # as deepcopy does: ids stay unique
    for key, attribute in value.__dict__.items():
        if type(attribute) in _EMPTY_KINDS and not attribute:
            made.__dict__[key] = type(attribute)()
        elif key == "_modules":
            made.__dict__[key] = type(attribute)(
                (name, _copy(child, memo)) for name, child in attribute.items()
            )
        else:
            made.__dict__[key] = copy.deepcopy(attribute, memo)
    return made


def cached_build_tiny(name: str, seed: int = 0, layers: int = 1) -> Any:
    """`build_tiny`'s signature, served from the session's cache."""
    return tiny_pipeline(name, seed=seed, layers=layers)


def pytest_configure(config: pytest.Config) -> None:
    tiny.build_tiny = cached_build_tiny


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown() -> None:
    """A test's prompt writers are no longer asked to give way once it ends.

    The registry holds them weakly, but a writer in a reference cycle lives until the collector
    runs, or for good if a cache build froze it (`gc.freeze`): another test's out-of-memory render
    then saw it give way and retried, where the test expected none (once, in CI)."""
    tuning._GIVERS.clear()  # the bot keeps no other handle to unregister with: one service a process
