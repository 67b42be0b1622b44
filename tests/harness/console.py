"""The console harness: `videobot` as a child process, fed through stdin, its output read as it comes."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from multiprocessing.context import SpawnContext
from pathlib import Path
from typing import IO, Any

import pytest

from tests.harness.config import tiny_settings, to_toml
from tests.harness.lanes import starts

VIDEOBOT = Path(sys.executable).with_name("videobot")
CLIP_READY = re.compile(r"clip ready: (\S+\.mp4)")


def child_env() -> dict[str, str]:
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "PYTHONIOENCODING": "utf-8",
        "PYTHONUNBUFFERED": "1",
        # other processes share this machine's cores; spinning OpenMP threads would make
        # a 0.1 s tiny render take seconds
        "OMP_NUM_THREADS": "1",
        # the `videobot` script imports `bot` from the venv's editable install (the main
        # checkout); this checkout's code comes first
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent.parent),
    }
    env.pop("VIDEOBOT_CONFIG", None)
    return env


class Child:
    """A `videobot` child process fed through a stdin pipe, its output collected as it comes."""

    def __init__(self, *args: str, cwd: Path) -> None:
        self.proc = subprocess.Popen(
            [str(VIDEOBOT), *args],
            cwd=cwd,
            env=child_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            bufsize=1,
        )
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self.out: list[str] = []
        self.err: list[str] = []
        self._changed = threading.Condition()
        self._readers = [
            threading.Thread(target=self._pump, args=(self.proc.stdout, self.out), daemon=True),
            threading.Thread(target=self._pump, args=(self.proc.stderr, self.err), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _pump(self, stream: IO[str], into: list[str]) -> None:
        for line in stream:
            with self._changed:
                into.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    @property
    def stdout(self) -> str:
        return "\n".join(self.out)

    @property
    def stderr(self) -> str:
        return "\n".join(self.err)

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def close_stdin(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()

    def wait_for(self, check: Callable[[str], object] | str, *, timeout: float = 30.0) -> str:
        """The first output line passing `check` (or containing it), waiting up to `timeout`."""
        test = (lambda line: check in line) if isinstance(check, str) else check
        deadline = time.monotonic() + timeout
        seen = 0
        with self._changed:
            while True:
                for line in self.out[seen:]:
                    if test(line):
                        return line
                seen = len(self.out)
                left = deadline - time.monotonic()
                ended = self.proc.poll() is not None and not any(r.is_alive() for r in self._readers)
                if left <= 0 or ended:
                    raise AssertionError(
                        f"no line matching {check!r} within {timeout} s; stdout:\n{self.stdout}\n"
                        f"stderr:\n{self.stderr}"
                    )
                self._changed.wait(min(left, 0.5))

    def wait(self, timeout: float = 30.0) -> int:
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"videobot did not exit within {timeout} s; stdout:\n{self.stdout}\nstderr:\n{self.stderr}"
            ) from None
        for reader in self._readers:
            reader.join(5)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        for reader in self._readers:
            reader.join(5)
        if self.proc.stdin and not self.proc.stdin.closed:
            with contextlib.suppress(BrokenPipeError):
                self.proc.stdin.close()


@pytest.fixture
@starts("process")
def children() -> Iterator[Callable[..., Child]]:
    """`children(*args, cwd=...)` starts a `videobot` child; all are killed afterwards."""
    started: list[Child] = []

    def start(*args: str, cwd: Path) -> Child:
        child = Child(*args, cwd=cwd)
        started.append(child)
        return child

    yield start
    for child in started:
        child.kill()


VideobotRun = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
@starts("process")
def videobot_run() -> Callable[..., subprocess.CompletedProcess[str]]:
    """`videobot_run(*args, cwd=, env=None, input=None, timeout=300)`: `videobot ARGS` run to its end
    (`env` is added to the child's environment; a value of None removes a variable)."""

    def run(
        *args: str,
        cwd: Path,
        env: dict[str, str | None] | None = None,
        input: str | None = None,
        timeout: float = 300,
    ) -> subprocess.CompletedProcess[str]:
        child = child_env()
        for name, value in (env or {}).items():
            if value is None:
                child.pop(name, None)
            else:
                child[name] = value
        return subprocess.run(
            [str(VIDEOBOT), *args], cwd=cwd, env=child, input=input, capture_output=True, text=True,
            encoding="utf-8", timeout=timeout, check=False,
        )  # fmt: skip

    return run


def write_config(folder: Path, **sections: dict[str, object]) -> Path:
    """A tiny-model config.toml in `folder`, its data folder beside it."""
    path = folder / "config.toml"
    path.write_text(to_toml(tiny_settings(folder / "data", **sections)), encoding="utf-8")
    return path


class ChildProcesses:
    """Child processes a test starts (`run`, `popen`, `spawn`, as `subprocess` and `asyncio` do),
    each killed at the end of the test if it is still running."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen[Any] | asyncio.subprocess.Process] = []

    def run(self, args: Any, **options: Any) -> subprocess.CompletedProcess[Any]:
        return subprocess.run(args, **options)

    def popen(self, args: Any, **options: Any) -> subprocess.Popen[Any]:
        child: subprocess.Popen[Any] = subprocess.Popen(args, **options)
        self.started.append(child)
        return child

    async def spawn(self, program: Any, *args: Any, **options: Any) -> asyncio.subprocess.Process:
        child = await asyncio.create_subprocess_exec(program, *args, **options)
        self.started.append(child)
        return child

    def kill_all(self) -> None:
        for child in self.started:
            if child.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    child.kill()


def _children() -> Iterator[ChildProcesses]:
    children = ChildProcesses()
    yield children
    children.kill_all()


@pytest.fixture
@starts("process")
def child_processes() -> Iterator[ChildProcesses]:
    """Start `videobot` (or other) child processes: the test runs in the `process` lane."""
    yield from _children()


@pytest.fixture
@starts("bench")
def bench_processes() -> Iterator[ChildProcesses]:
    """Start a benchmark script as a child process: the test runs in the `bench` lane."""
    yield from _children()


@pytest.fixture
@starts("process")
def process_context() -> SpawnContext:
    """`multiprocessing`'s spawn context, for a test that runs several Python processes at once."""
    return multiprocessing.get_context("spawn")
