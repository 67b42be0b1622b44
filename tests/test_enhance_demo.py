"""`videobot demo … --enhance` (#36): the prompt writer rewrites the prompt before the render, the
demo prints the rewrite and renders it, and the MP4's tags keep both texts; a writer that writes
garbage (the random `tiny-qwen3` of `--tiny`) keeps the typed prompt and says so."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from bot.enhance.tiny import scripted
from tests.harness.console import write_config
from tests.harness.media import decode

REWRITE = "A ginger cat surfs turquoise waves at golden sunset, camera tracking slowly beside the board."
TYPED = "un gatto che fa surf"
Run = Callable[..., subprocess.CompletedProcess[str]]


def demo(videobot_run: Run, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    out = tmp_path / "cat.mp4"
    args = ["demo", TYPED, "--enhance", "--frames", "8", "--steps", "2", "--out", str(out), *extra]
    return videobot_run(*args, "--config", "config.toml", cwd=tmp_path, timeout=300)


def test_demo_enhance_prints_the_rewrite_renders_it_and_tags_keep_both_texts(
    videobot_run: Run, tmp_path: Path
) -> None:
    model, tokenizer = scripted(REWRITE)  # a writer on disk that writes REWRITE, loaded offline
    folder = tmp_path / "writer"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    write_config(tmp_path, enhance={"model": "scripted-writer", "path": str(folder)})

    result = demo(videobot_run, tmp_path)

    assert result.returncode == 0, result.stderr
    assert f"Rewritten by scripted-writer:\n{REWRITE}" in result.stdout
    tags = decode((tmp_path / "cat.mp4").read_bytes()).metadata
    assert tags["videobot_prompt"] == REWRITE, "what the model saw"
    assert tags["videobot_prompt_original"] == TYPED, "what the person typed"
    assert tags["videobot_prompt_writer"] == "scripted-writer"


def test_demo_tiny_enhance_uses_tiny_qwen3_and_keeps_the_typed_prompt_when_it_writes_garbage(
    videobot_run: Run, tmp_path: Path
) -> None:
    write_config(tmp_path, enhance={"model": "not-on-this-machine/writer"})  # --tiny: never loaded

    result = demo(videobot_run, tmp_path, "--tiny")

    assert result.returncode == 0, result.stderr
    assert "The prompt writer tiny-qwen3 kept your prompt (garbage" in result.stdout
    tags = decode((tmp_path / "cat.mp4").read_bytes()).metadata
    assert tags["videobot_prompt"] == TYPED and "videobot_prompt_original" not in tags
    assert "not-on-this-machine" not in result.stdout + result.stderr
