"""The scale-out harness: a real `redis-server` on a free loopback port and `videobot worker`
child processes (`python -m bot worker`), for tests and `bench/scaleout.py`.

Redis runs with `--save '' --appendonly no`: a restart loses every key, as a crashed
Redis without persistence would.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness.config import tiny_settings, to_toml
from tests.harness.lanes import starts
from tests.harness.polling import eventually_blocking

REPO = Path(__file__).resolve().parents[2]
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
SECRET = "test-worker-secret-0123456789abcdef"  # at least 32 characters


def redis_missing() -> str | None:
    """Why Redis tests cannot run here, or None."""
    if not os.access(REDIS_SERVER, os.X_OK):
        return f"redis-server is not installed ({REDIS_SERVER} missing; apt-get install redis-server)"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One `redis-server` child; `restart()` kills it (data gone) and starts it on the same port."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        proc = self.proc
        eventually_blocking(
            lambda: _ping(self.port) or proc.poll() is not None,
            timeout=10,
            what=f"redis-server on port {self.port}",
        )
        if proc.poll() is not None:
            raise RuntimeError(f"redis-server did not start on port {self.port}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def restart(self) -> None:
        self.kill()
        self.start()

    def command(self, *words: str) -> bytes:
        """One raw command and its first reply line (for flushing between tests)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
            parts = [f"*{len(words)}\r\n".encode()]
            for word in words:
                parts.append(f"${len(word.encode())}\r\n{word}\r\n".encode())
            sock.sendall(b"".join(parts))
            return sock.recv(4096)


def saq_settings(data_dir: Path, redis_url: str, **sections: dict[str, Any]) -> dict[str, Any]:
    """Tiny-model settings with the SAQ backend and timings short enough for tests."""
    queue = {
        "backend": "saq",
        "redis_url": redis_url,
        "heartbeat_s": 3.0,  # shorter sweeps live jobs (each a wasted attempt) when the shared cores are busy
        "sweep_s": 1.0,
        "poll_s": 0.1,
        "upload_port": 0,
        "upload_timeout_s": 20.0,
        **sections.pop("queue", {}),
    }
    return tiny_settings(data_dir, queue=queue, **sections)


def write_saq_config(folder: Path, redis_url: str, **sections: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.toml"
    path.write_text(to_toml(saq_settings(folder / "data", redis_url, **sections)), encoding="utf-8")
    return path


class WorkerProcess:
    """`python -m bot worker --config PATH` as a child; its log lines collected as they come."""

    def __init__(self, config: Path, *, secret: str = SECRET, name: str = "", threads: int = 1) -> None:
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "HF_HUB_OFFLINE": "1",
            "PYTHONUNBUFFERED": "1",
            "OMP_NUM_THREADS": str(threads),
            "VIDEOBOT_WORKER_SECRET": secret,
        }
        env.pop("VIDEOBOT_CONFIG", None)
        self.name = name
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "worker", "--config", str(config)],
            cwd=config.parent,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
        )
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._pump, daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    def wait_for_line(self, check: Callable[[str], bool] | str, timeout: float = 30.0) -> str:
        test = (lambda line: check in line) if isinstance(check, str) else check
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines:
                    if test(line):
                        return line
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    raise AssertionError(f"worker never logged {check!r}; its log:\n{self.log}")
                self._changed.wait(min(left, 0.2))

    def exit_code(self, timeout: float = 30.0) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(5)
        return code

    def kill(self) -> None:
        """kill -9: no goodbye to Redis, the job it holds stays "active" until swept."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self._reader.join(5)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(10)
        self.kill()


StartRedis = Callable[[Path], RedisServer]
StartWorker = Callable[..., WorkerProcess]


@pytest.fixture
@starts("redis")
def start_redis() -> Iterator[Callable[[Path], RedisServer]]:
    """`start_redis(folder)`: a running `redis-server`, killed afterwards."""
    servers: list[RedisServer] = []

    def start(folder: Path) -> RedisServer:
        if redis_missing():
            pytest.skip(redis_missing() or "")
        server = RedisServer(folder)
        servers.append(server)
        server.start()
        return server

    yield start
    for server in servers:
        server.kill()


@pytest.fixture
@starts("process")
def start_worker() -> Iterator[Callable[..., WorkerProcess]]:
    """`start_worker(config_path, secret=, name=)`: a `videobot worker` child, stopped afterwards."""
    workers: list[WorkerProcess] = []

    def start(config: Path, **options: Any) -> WorkerProcess:
        worker = WorkerProcess(config, **options)
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()
