"""`videobot console` and `videobot demo` as a new user meets them: real child processes."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable
from pathlib import Path

from bot.encode import AI_LABEL, read_clip
from tests.harness.console import CLIP_READY, VIDEOBOT, Child, ChildProcesses, child_env, write_config


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

    assert queued.startswith("⏳ Queued: place 1 in line")
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
    bot.wait_for("--frames must be between 2 and 16 for tiny (0.2–2.0 s at 8 fps); you gave 99.")
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


def test_the_console_user_owns_the_bot_verifies_clips_and_reads_done_before_the_clip(
    tmp_path: Path, children: Callable[..., Child]
) -> None:
    write_config(tmp_path, quota={"per_minute": 2.0, "burst": 3, "max_queued": 10})
    bot = children("console", "--config", "config.toml", cwd=tmp_path)
    bot.wait_for("Type /video")

    for n in range(4):  # the chat rate limit (3 at once, 2 a minute) is not for the only user
        bot.send(f"/video clip {n} --seed {n} --model tiny")  # the name /models shows for [model]
    ready = [bot.wait_for(f"clips/{n + 1}.mp4", timeout=90) for n in range(4)]
    assert "wait" not in bot.stdout.lower().replace("waiting", "")
    lines = bot.out
    first_done = lines.index("✅ Done: clip #1 below.")
    assert lines[first_done + 1] == ready[0], "the done line comes right before its clip"
    assert lines.count("✅ Done: clip #1 below.") == 1 and not any("  ✅ Done" in line for line in lines)

    clip = CLIP_READY.search(ready[0])
    assert clip is not None
    bot.send(f"/verify {clip.group(1)}")
    bot.wait_for("Content Credentials")
    bot.send("/verify nowhere.mp4")
    bot.wait_for("There is no file at nowhere.mp4.")
    bot.send("/verify")
    bot.wait_for("Type /verify and the path of an MP4")

    bot.send("/admin model tiny")  # owner-only; the name /models shows
    bot.wait_for("New videos now use")

    bot.send("/quit")
    assert bot.wait(20) == 0
    assert "I don't know that command" not in bot.stdout
    assert not [line for line in bot.out + bot.err if " INFO " in line], "INFO logs go to the log file"
    assert "videobot" in (tmp_path / "data" / "videobot.log").read_text(encoding="utf-8")


def test_with_the_tiny_fallback_the_console_credits_clips_to_the_tiny_model_everywhere(
    tmp_path: Path, children: Callable[..., Child]
) -> None:
    """No config (the real default model, not downloaded): /models, /help and /info must say what
    the clip's tags and signed manifest say, never ModelScope and its licence."""
    bot = children("console", cwd=tmp_path)
    bot.wait_for("Type /video")
    bot.send("/video a cat --steps 2")
    bot.wait_for(CLIP_READY.search, timeout=90)
    bot.send("/models")
    bot.wait_for("• tiny")
    bot.send("/info")
    bot.wait_for("model: tiny")
    bot.send("/help")
    bot.wait_for("Clips are made by tiny")
    bot.send("/quit")
    assert bot.wait(30) == 0
    assert "text-to-video-ms" not in bot.stdout and "CC-BY-NC" not in bot.stdout
    assert "falling back to the tiny random model" in bot.stderr


def test_console_web_shows_the_console_clips_in_the_gallery(
    tmp_path: Path, children: Callable[..., Child], unused_tcp_port: int
) -> None:
    write_config(tmp_path, web={"port": unused_tcp_port})
    bot = children("console", "--web", "--config", "config.toml", cwd=tmp_path)
    bot.wait_for(f"http://127.0.0.1:{unused_tcp_port}/")
    bot.send("/video a lighthouse in the fog --seed 3")
    bot.wait_for(CLIP_READY.search, timeout=90)
    with urllib.request.urlopen(f"http://127.0.0.1:{unused_tcp_port}/", timeout=30) as page:
        front = page.read().decode("utf-8")
    assert "a lighthouse in the fog" in front, "the console's clip is in the gallery"
    bot.send("/quit")
    assert bot.wait(30) == 0


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


def test_videobot_demo_writes_a_clip_with_provenance(tmp_path: Path, child_processes: ChildProcesses) -> None:
    write_config(tmp_path)

    result = child_processes.run(
        [
            str(VIDEOBOT),
            "demo",
            "a cat",
            "--out",
            "x.mp4",
            "--tiny",
            "--config",
            "config.toml",
            "--seed",
            "11",
        ],
        cwd=tmp_path,
        env=child_env(),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
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


def test_videobot_demo_without_the_real_weights_falls_back_to_the_tiny_model(
    tmp_path: Path, child_processes: ChildProcesses
) -> None:
    """The default config names the real model, which is not downloaded here (offline)."""
    result = child_processes.run(
        [str(VIDEOBOT), "demo", "a cat", "--out", "x.mp4", "--frames", "8", "--steps", "2"],
        cwd=tmp_path,
        env=child_env(),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(
        "The model damo-vilab/text-to-video-ms-1.7b is not on this machine (`videobot pull default` fetches it); "
        "falling back to the tiny random model tiny, at its own small size"
    )
    assert "Jobs wait in the queue" not in result.stderr, "no queue in a demo"
    assert result.stderr.count("Signed with Content Credentials") == 1
    lines = [line for line in result.stderr.splitlines() if not line.startswith("step ")]
    assert len(lines) == 2, result.stderr  # the fallback, the signing: said once each
    frames, _, tags = read_clip(tmp_path / "x.mp4")
    assert frames.shape == (8, 64, 64, 3), "the tiny model's own size, not the real model's 256²"
    assert tags["videobot_model"] == "tiny", "the clip says which model really made it"


def test_videobot_demo_with_a_bad_option_says_what_is_allowed(
    tmp_path: Path, child_processes: ChildProcesses
) -> None:
    write_config(tmp_path)
    result = child_processes.run(
        [str(VIDEOBOT), "demo", "a cat", "--frames", "99", "--tiny", "--config", "config.toml"],
        cwd=tmp_path,
        env=child_env(),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
    )
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == "--frames must be between 2 and 16 for tiny (0.2–2.0 s at 8 fps); you gave 99."
    )
    assert not (tmp_path / "clip.mp4").exists()
