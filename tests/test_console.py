"""`videobot console` and `videobot demo` as a new user meets them: real child processes."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.encode import AI_LABEL, read_clip
from tests.conftest import tiny_settings, to_toml

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
    }
    env.pop("VIDEOBOT_CONFIG", None)
    return env


class Child:
    """A `videobot` child process fed through a stdin pipe, its output collected as it comes."""

    def __init__(self, *args: str, cwd: Path) -> None:
        self.proc = subprocess.Popen(
            [str(VIDEOBOT), *args], cwd=cwd, env=child_env(), stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8", bufsize=1,
        )
        self.out: list[str] = []
        self.err: list[str] = []
        self._changed = threading.Condition()
        self._readers = [
            threading.Thread(target=self._pump, args=(self.proc.stdout, self.out), daemon=True),
            threading.Thread(target=self._pump, args=(self.proc.stderr, self.err), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _pump(self, stream: object, into: list[str]) -> None:
        for line in stream:  # type: ignore[attr-defined]
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

    def wait_for(self, check: Callable[[str], bool] | str, *, timeout: float = 30.0) -> str:
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
def children() -> Iterator[Callable[..., Child]]:
    started: list[Child] = []

    def start(*args: str, cwd: Path) -> Child:
        child = Child(*args, cwd=cwd)
        started.append(child)
        return child

    yield start
    for child in started:
        child.kill()


def write_config(folder: Path, **sections: dict[str, object]) -> Path:
    path = folder / "config.toml"
    path.write_text(to_toml(tiny_settings(folder / "data", **sections)), encoding="utf-8")
    return path


def test_a_console_user_queues_a_clip_watches_it_render_and_gets_the_file(
    tmp_path: Path, children: Callable[..., Child]
) -> None:
    write_config(tmp_path)
    bot = children("console", "--config", "config.toml", cwd=tmp_path)
    bot.wait_for("Type /video")

    bot.send("/video a cat surfing --seed 7")
    queued = bot.wait_for("Queued")
    rendering = bot.wait_for("Rendering")
    ready = bot.wait_for(CLIP_READY.search)

    assert queued.startswith("⏳ Queued #1")
    assert "1/3 steps" in rendering
    match = CLIP_READY.search(ready)
    assert match is not None
    clip = Path(match.group(1))
    assert clip.is_file() and clip.is_relative_to(tmp_path / "data" / "clips")
    frames, fps, tags = read_clip(clip)
    assert frames.shape == (8, 64, 64, 3) and fps == 8
    assert tags["videobot_seed"] == "7" and tags["videobot_prompt"] == "a cat surfing"
    bot.wait_for("seed 7 · 8 frames · 3 steps")

    bot.send("/video a cat --frames 99")
    bot.wait_for("--frames must be between 2 and 16; you gave 99.")
    bot.send("/video")
    bot.wait_for("Please describe the video after /video")
    bot.send("/dance")
    bot.wait_for("I don't know that command")
    bot.send("/info 1")
    bot.wait_for("seed 7 · 8 frames · 3 steps · guidance 9.0")

    bot.send("/quit")
    assert bot.wait(20) == 0
    assert "Traceback" not in bot.stderr + bot.stdout
    assert sum("clip ready" in line for line in bot.out) == 1


def test_at_end_of_input_the_console_finishes_the_queued_clip_then_exits(
    tmp_path: Path, children: Callable[..., Child]
) -> None:
    write_config(tmp_path)
    bot = children("console", "--config", "config.toml", cwd=tmp_path)
    bot.send("/video a dog --seed 3 --frames 4")
    bot.close_stdin()

    assert bot.wait(60) == 0
    ready = [line for line in bot.out if "clip ready" in line]
    assert len(ready) == 1
    match = CLIP_READY.search(ready[0])
    assert match is not None
    assert len(read_clip(Path(match.group(1)))[0]) == 4


def test_videobot_demo_writes_a_clip_with_provenance(tmp_path: Path) -> None:
    write_config(tmp_path)

    result = subprocess.run(
        [str(VIDEOBOT), "demo", "a cat", "--out", "x.mp4", "--tiny", "--config", "config.toml",
         "--seed", "11"],
        cwd=tmp_path, env=child_env(), capture_output=True, text=True, encoding="utf-8", timeout=120,
    )

    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "tiny random model" in result.stderr
    assert result.stdout.startswith("Wrote x.mp4: 8 frames 64x64 @ 8 fps")
    frames, fps, tags = read_clip(tmp_path / "x.mp4")
    assert frames.shape == (8, 64, 64, 3) and fps == 8
    assert tags["comment"] == AI_LABEL
    assert (tags["videobot_model"], tags["videobot_seed"], tags["videobot_prompt"]) == ("tiny", "11", "a cat")
    assert (tags["videobot_steps"], tags["videobot_frames"], tags["videobot_guidance"]) == ("3", "8", "9.0")
    assert tags["videobot_version"]


def test_videobot_demo_without_the_real_weights_falls_back_to_the_tiny_model(tmp_path: Path) -> None:
    """The default config names the real model, which is not downloaded here (offline)."""
    result = subprocess.run(
        [str(VIDEOBOT), "demo", "a cat", "--out", "x.mp4", "--frames", "8", "--steps", "2"],
        cwd=tmp_path, env=child_env(), capture_output=True, text=True, encoding="utf-8", timeout=120,
    )

    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "damo-vilab/text-to-video-ms-1.7b" in result.stderr
    assert "hf download damo-vilab/text-to-video-ms-1.7b" in result.stderr
    assert "Falling back to the tiny random model" in result.stderr
    frames, _, tags = read_clip(tmp_path / "x.mp4")
    assert frames.shape == (8, 256, 256, 3)
    assert tags["videobot_model"] == "tiny", "the clip says which model really made it"


def test_videobot_demo_with_a_bad_option_says_what_is_allowed(tmp_path: Path) -> None:
    write_config(tmp_path)
    result = subprocess.run(
        [str(VIDEOBOT), "demo", "a cat", "--frames", "99", "--tiny", "--config", "config.toml"],
        cwd=tmp_path, env=child_env(), capture_output=True, text=True, encoding="utf-8", timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "--frames must be between 2 and 16; you gave 99."
    assert not (tmp_path / "clip.mp4").exists()
