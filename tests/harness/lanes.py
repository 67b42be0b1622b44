"""Test lanes: what a test starts decides which lane it runs in, and the fixture that starts it says so.

| lane | the test starts | fixtures |
|---|---|---|
| `render` | real diffusers pipelines (tiny random weights) | `renders`, `tiny_renderer`, `tiny_pipe` |
| `process` | a child process: `videobot`, a worker, mypy, several Python processes | `children`, `videobot_run`, `child_processes`, `start_worker`, `process_context` |
| `redis` | a real `redis-server` | `start_redis` (and modules' own `redis_server`) |
| `browser` | headless Chromium | `browser` (tests/test_web_browser.py) |
| `bench` | a benchmark script's quick mode | `quick`, `bench`, `bench_processes` |

A fixture that starts one of these is declared with `@starts(lane)`; collection marks every test
that uses it (directly or through another fixture), so a new test cannot forget its lane.  And a
test that starts one *without* such a fixture fails at once: a `videobot` or `redis-server` child,
or a diffusers pipeline built outside its lane, raises `LaneError` naming the way to do it.

`scripts/test.sh --fast` leaves out `process`, `redis`, `browser` and `bench`; CI runs them all.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

LANES = (
    "render",
    "process",
    "redis",
    "browser",
    "bench",
)  # registered, with what each means, in pyproject.toml
FAST_SKIPS = ("process", "redis", "browser", "bench")  # `scripts/test.sh --fast` leaves these out

F = TypeVar("F", bound=Callable[..., Any])
_ATTRIBUTE = "_videobot_lanes"


def starts(*lanes: str) -> Callable[[F], F]:
    """Declare that the fixture below starts what `lanes` name (put it under `@pytest.fixture`)."""
    for lane in lanes:
        assert lane in LANES, f"unknown lane {lane!r}"

    def declare(function: F) -> F:
        setattr(function, _ATTRIBUTE, frozenset(lanes) | getattr(function, _ATTRIBUTE, frozenset()))
        return function

    return declare


def _lanes_of(item: pytest.Item) -> set[str]:
    """The lanes of every fixture `item` uses, through other fixtures too."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return set()
    found: set[str] = set()
    for definitions in info.name2fixturedefs.values():
        for definition in definitions:
            function = definition.func
            for candidate in (function, getattr(function, "__wrapped__", None)):
                found |= set(getattr(candidate, _ATTRIBUTE, frozenset()))
    return found


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each collected test with the lanes of the fixtures it uses."""
    for item in items:
        for lane in sorted(_lanes_of(item)):
            item.add_marker(getattr(pytest.mark, lane))


class LaneError(AssertionError):
    """A test started something outside its lane."""


_current: set[str] = set(LANES)  # outside a test (collection, benches importing the harness): anything


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before any fixture of `item` (session ones included) starts: what it may start."""
    _current.clear()
    _current.update(mark.name for mark in item.iter_markers() if mark.name in LANES)


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    _current.clear()
    _current.update(LANES)


def in_lane(lane: str) -> bool:
    """Whether the running test is in `lane` (harness defaults follow it: a test in the `render`
    lane renders for real, any other uses the stub backend)."""
    return lane in _current


def check_lane(lane: str, what: str) -> None:
    """Refuse `what` unless the running test is in `lane`."""
    if lane not in _current:
        raise LaneError(
            f"this test {what} outside the {lane!r} lane: do it through a fixture declared with "
            f"@starts({lane!r}) (tests/harness/lanes.py), or use the stub backend for core rules"
        )


def _command_words(args: Any) -> list[str]:
    if isinstance(args, str | bytes):
        return [str(args)]
    return [str(word) for word in args]


def lane_of_command(words: list[str]) -> str | None:
    """The lane a child process belongs to, from its command line."""
    joined = " ".join(words)
    if "redis-server" in joined:
        return "redis"
    if "bench/" in joined:
        return "bench"
    if any(word.endswith("videobot") for word in words) or " -m bot" in f" {joined}":
        return "process"
    return None


def runs_tests_here(config: pytest.Config) -> bool:
    """False in pytest-xdist's controller, which only hands tests to its workers."""
    return hasattr(config, "workerinput") or not getattr(config.option, "numprocesses", None)


def pytest_configure(config: pytest.Config) -> None:
    """Guard what the lanes are for: child processes, and diffusers pipelines."""
    if not runs_tests_here(config):
        return
    popen_init = subprocess.Popen.__init__
    spawn = asyncio.create_subprocess_exec

    def checked_popen(self: Any, args: Any, *rest: Any, **options: Any) -> None:
        words = _command_words(args)
        lane = lane_of_command(words)
        if lane is not None:
            check_lane(lane, f"starts {' '.join(words[:4])!r}")
        popen_init(self, args, *rest, **options)

    async def checked_spawn(program: Any, *args: Any, **options: Any) -> Any:
        words = _command_words([program, *args])
        lane = lane_of_command(words)
        if lane is not None:
            check_lane(lane, f"starts {' '.join(words[:4])!r}")
        return await spawn(program, *args, **options)

    subprocess.Popen.__init__ = checked_popen  # type: ignore[method-assign]
    asyncio.create_subprocess_exec = checked_spawn  # type: ignore[assignment]

    from diffusers import DiffusionPipeline

    register = DiffusionPipeline.register_modules  # type: ignore[attr-defined]

    def checked_register(self: Any, **modules: Any) -> None:
        check_lane("render", f"builds a diffusers pipeline ({type(self).__name__})")
        register(self, **modules)

    DiffusionPipeline.register_modules = checked_register  # type: ignore[attr-defined]
