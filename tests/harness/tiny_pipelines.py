"""Tiny pipelines built once per test session, handed out as pristine copies.

The tiny builders are deterministic (random weights from a fixed seed), so building one again
for each test only costs time.  `bot.pipelines.tiny.build_tiny` is replaced for the session by
`cached_build_tiny`: the first call for a (name, seed, layers, dtype) builds it, every call gets
its own deep copy, so no test can change what the next one receives (LoRAs fused, weights cast,
schedulers shifted).  `tests/test_tiny_cache.py` proves it.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

import pytest

import bot.pipelines.tiny as tiny
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
        stats["copied"] += 1
        return copy.deepcopy(_built[key])


def cached_build_tiny(name: str, seed: int = 0, layers: int = 1) -> Any:
    """`build_tiny`'s signature, served from the session's cache."""
    return tiny_pipeline(name, seed=seed, layers=layers)


def pytest_configure(config: pytest.Config) -> None:
    tiny.build_tiny = cached_build_tiny
