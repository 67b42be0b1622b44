"""Shared test set-up: the environment, the lanes, and the harness's fixtures (see `tests.harness`)."""

from __future__ import annotations

import os

os.environ.setdefault("PTB_TIMEDELTA", "true")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Spinning OpenMP threads on shared cores turn 0.1 s tiny renders into seconds.
os.environ.setdefault("OMP_NUM_THREADS", "1")

# Fixture names are unique across these (`telegram_fake`, `discord_fake`): a test module whose
# stories happen on one platform may alias its fake as `fake`.
pytest_plugins = [
    "tests.harness.lanes",
    "tests.harness.tiny_pipelines",
    "tests.harness.config",
    "tests.harness.core",
    "tests.harness.telegram",
    "tests.harness.discord",
    "tests.harness.console",
    "tests.harness.saq",
    "tests.harness.web",
]


def pytest_collection_finish(session: object) -> None:
    """Every module the tests use is imported now, and none of it is garbage: frozen out of the
    cyclic collector, it is not walked again by each full `gc.collect()` (the renderer calls one
    when it unloads a model or retries after running out of memory: 0.26 s each over this heap)."""
    import gc

    gc.freeze()
