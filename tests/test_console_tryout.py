"""Everything tryable without a GPU, a config edit or a model name (#34): `console --tiny`,
`console --model`, `demo --image`, and one sentence (never a traceback) for each mistake."""

from __future__ import annotations

import re
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import av

from bot.encode import read_clip
from tests.harness.console import CLIP_READY, Child, VideobotRun, write_config
from tests.harness.pictures import encode, gradient


def clip_of(line: str, folder: Path) -> Path:
    match = CLIP_READY.search(line)
    assert match is not None
    return folder / match.group(1)


def has_sound(path: Path) -> bool:
    with av.open(str(path)) as container:
        return bool(container.streams.audio)


def test_console_tiny_animates_loops_extends_and_makes_sound_without_model_names(
    tmp_path: Path, children: Callable[..., Child]
) -> None:
    (tmp_path / "photo.png").write_bytes(encode(gradient(), "PNG"))
    bot = children("console", "--tiny", cwd=tmp_path)  # no config: the real default, not downloaded
    bot.wait_for("Type /video")
    assert "tiny-ltx animates a picture" in bot.stderr and "tiny-ltx2 adds sound" in bot.stderr

    bot.send("/models")
    bot.wait_for("🖼 Pictures and --loop without --model go to tiny-ltx.")

    bot.send("/video steam rises --image photo.png --steps 2")
    picture_clip = clip_of(bot.wait_for(CLIP_READY.search, timeout=120), tmp_path)
    assert read_clip(picture_clip)[2]["videobot_model"] == "tiny-ltx"

    bot.send("/video a spinning top --loop --steps 2")
    bot.wait_for(lambda line: "clip ready" in line and "/2.mp4" in line, timeout=120)

    bot.send("/extend 2")
    extended = clip_of(
        bot.wait_for(lambda line: "clip ready" in line and "/3.mp4" in line, timeout=120), tmp_path
    )
    assert len(read_clip(extended)[0]) > len(read_clip(picture_clip)[0])

    bot.send("/video drums in the rain --model tiny-ltx2 --steps 2")
    sound = clip_of(
        bot.wait_for(lambda line: "clip ready" in line and "/4.mp4" in line, timeout=120), tmp_path
    )
    assert has_sound(sound)

    bot.send("/video x --image missing.png")
    bot.wait_for("There is no picture at missing.png")
    bot.send("/quit")
    assert bot.wait(120) == 0  # after the model load, which a stop cannot interrupt
    assert "Traceback" not in bot.stdout + bot.stderr


def test_console_answers_cancel_once(tmp_path: Path, children: Callable[..., Child]) -> None:
    write_config(tmp_path)
    bot = children("console", "--config", "config.toml", cwd=tmp_path)
    bot.wait_for("Type /video")
    bot.send("/video a cat --steps 50 --frames 16")
    bot.wait_for("Queued")
    bot.send("/cancel")
    bot.wait_for("Cancelled video #1")
    bot.send("/quota")  # a later answer: everything /cancel said is printed by then
    bot.wait_for("today")
    bot.send("/quit")
    assert bot.wait(120) == 0  # after the model's load, which a stop cannot interrupt
    assert sum("Cancelled video #1" in line for line in bot.out) == 1, bot.stdout


def test_console_model_picks_the_default_and_an_unknown_one_is_one_line(
    tmp_path: Path, children: Callable[..., Child]
) -> None:
    write_config(tmp_path)
    bot = children("console", "--config", "config.toml", "--model", "tiny-ltx2", cwd=tmp_path)
    bot.send("/help")
    bot.wait_for("Clips are made by tiny-ltx2")
    bot.send("/quit")
    assert bot.wait(120) == 0  # after the model load, which a stop cannot interrupt

    wrong = children("console", "--config", "config.toml", "--model", "nosuch", cwd=tmp_path)
    assert wrong.wait(60) == 2
    assert wrong.err[-1].startswith("videobot: there is no model called 'nosuch'; pick one of tiny, ")
    assert "Traceback" not in wrong.stderr


def test_console_web_with_its_port_taken_is_one_line_and_exit_2(
    tmp_path: Path, children: Callable[..., Child]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        write_config(tmp_path, web={"port": port})
        bot = children("console", "--web", "--config", "config.toml", cwd=tmp_path)
        assert bot.wait(60) == 2
    assert "Traceback" not in bot.stderr
    assert re.fullmatch(rf"videobot: .*\[web\] cannot listen on 127\.0\.0\.1:{port} \(.+\)", bot.err[-1])


def demo(videobot_run: VideobotRun, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return videobot_run("demo", *args, cwd=tmp_path, timeout=180)


def test_demo_animates_a_picture_without_a_model_name(tmp_path: Path, videobot_run: VideobotRun) -> None:
    (tmp_path / "photo.png").write_bytes(encode(gradient(), "PNG"))
    result = demo(
        videobot_run, tmp_path, "steam rises", "--image", "photo.png", "--steps", "2", "--out", "x.mp4"
    )
    assert result.returncode == 0, result.stderr
    assert "Using the tiny random model tiny-ltx" in result.stderr
    assert read_clip(tmp_path / "x.mp4")[2]["videobot_model"] == "tiny-ltx"

    (tmp_path / "notes.txt").write_text("not a picture", encoding="utf-8")
    not_a_picture = demo(videobot_run, tmp_path, "steam", "--image", "notes.txt", "--out", "z.mp4")
    assert not_a_picture.returncode == 2
    assert not_a_picture.stderr.splitlines()[-1] == "videobot: That file is not a JPEG, PNG or WebP picture."

    refused = demo(
        videobot_run, tmp_path, "steam", "--image", "photo.png", "--model", "tiny", "--out", "y.mp4"
    )
    assert refused.returncode == 2
    assert refused.stderr.strip() == (
        "videobot: tiny makes clips from text only; give --model one that animates pictures: tiny-ltx"
    )
