"""`videobot console` with the built-in `tiny-qwen3` writer: `--enhance` shows what the writer made
of the prompt (random weights: nothing usable, so the typed words) and `/render` renders it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bot.encode import read_clip
from tests.harness.console import CLIP_READY, Child, write_config


def test_the_console_shows_the_rewrite_first_and_renders_on_render(
    tmp_path: Path, children: Callable[..., Child]
) -> None:
    write_config(tmp_path, enhance={"mode": "ask", "model": "tiny-qwen3", "every_s": 0})
    bot = children("console", "--config", "config.toml", cwd=tmp_path)
    bot.wait_for("Type /video")

    bot.send("/video un gatto che fa surf --enhance --seed 3")
    bot.wait_for("The prompt writer wrote nothing usable; your words as typed:")
    bot.wait_for("[▶ Render] [✏️ Use mine] [🔁 Again]")
    bot.send("/again")
    bot.wait_for("The prompt writer wrote nothing usable")
    bot.send("/render")
    ready = bot.wait_for(CLIP_READY.search, timeout=60)
    match = CLIP_READY.search(ready)
    assert match is not None
    _, _, tags = read_clip(Path(match.group(1)))
    assert tags["videobot_prompt"] == "un gatto che fa surf" and tags["videobot_seed"] == "3"
    assert "videobot_prompt_original" not in tags
    bot.send("/render")
    bot.wait_for("That rewrite is gone")  # rendered: no draft of theirs is left

    bot.send("/quit")
    assert bot.wait(20) == 0
    assert "Traceback" not in bot.stderr + bot.stdout
