"""Shared test set-up: the environment, the lanes, and the harness's fixtures (see `tests.harness`)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("PTB_TIMEDELTA", "true")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Spinning OpenMP threads on shared cores turn 0.1 s tiny renders into seconds.
os.environ.setdefault("OMP_NUM_THREADS", "1")

# Fixture names are unique across these (`telegram_fake`, `discord_fake`): a test module whose
# stories happen on one platform may alias its fake as `fake`.
pytest_plugins = ["tests.harness.lanes"]  # light: it says whether tests run in this process
HARNESS = (
    "tests.harness.tiny_pipelines",
    "tests.harness.config",
    "tests.harness.core",
    "tests.harness.telegram",
    "tests.harness.discord",
    "tests.harness.console",
    "tests.harness.saq",
    "tests.harness.web",
)


def pytest_configure(config: pytest.Config) -> None:
    """The harness (its fixtures and hooks) is registered where tests run, not in pytest-xdist's
    controller, which only hands tests out: importing torch and the bot there held every worker's
    start back ~2.5 s."""
    from tests.harness.lanes import runs_tests_here

    if runs_tests_here(config):
        for name in HARNESS:
            config.pluginmanager.import_plugin(name)


def pytest_collection_finish(session: object) -> None:
    """Every module the tests use is imported now, and none of it is garbage: frozen out of the
    cyclic collector, it is not walked again by each full `gc.collect()` (the renderer calls one
    when it unloads a model or retries after running out of memory: 0.26 s each over this heap)."""
    import gc

    gc.freeze()
