"""The renderer: deterministic frames, progress for every step, cancel between steps,
and the production loading path (`from_pretrained`) with clear advice when weights are missing."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

from bot.domain import RenderParams
from bot.pipelines.tiny import build_tiny_pipeline
from bot.render import ModelMissing, RenderCancelled, Renderer, cpu_render_threads
from tests.harness.config import SMALL
from tests.harness.core import COLD

pytestmark = pytest.mark.usefixtures("renders")  # every test here renders with diffusers


def params(seed: int = 7, *, frames: int = 8, steps: int = 3, prompt: str = "a cat surfing") -> RenderParams:
    return RenderParams(
        prompt=prompt,
        negative="",
        seed=seed,
        frames=frames,
        steps=steps,
        guidance=9.0,
        width=SMALL,
        height=SMALL,
        fps=8,
    )


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    tiny = Renderer("tiny", tuning=COLD)
    tiny.load()
    return tiny


def test_same_seed_gives_identical_frames_and_another_seed_does_not(renderer: Renderer) -> None:
    first = renderer.render(params(seed=7)).frames
    again = renderer.render(params(seed=7)).frames
    other = renderer.render(params(seed=8)).frames

    assert first.shape == (8, SMALL, SMALL, 3)
    assert first.dtype == np.uint8
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)
    assert first.std() > 0, "a clip of one flat colour means the pipeline output was lost"


def test_frame_count_follows_the_request(renderer: Renderer) -> None:
    assert renderer.render(params(frames=4, steps=1)).frames.shape == (4, SMALL, SMALL, 3)


def test_progress_is_reported_for_every_step(renderer: Renderer) -> None:
    reported: list[tuple[int, int]] = []

    renderer.render(params(steps=5), on_step=lambda step, total: reported.append((step, total)))

    assert reported == [(1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]


def test_cancel_stops_after_the_current_step_and_the_renderer_keeps_working(renderer: Renderer) -> None:
    before = renderer.render(params(seed=11, steps=4)).frames
    steps: list[int] = []

    with pytest.raises(RenderCancelled):
        renderer.render(
            params(seed=11, steps=20),
            on_step=lambda step, total: steps.append(step),
            should_stop=lambda: len(steps) >= 2,
        )

    assert steps == [1, 2], "the render should stop right after the step that saw the cancel"
    after = renderer.render(params(seed=11, steps=4)).frames
    assert np.array_equal(before, after), "a cancelled render must not disturb the next one"


def test_a_render_cancelled_before_it_starts_reports_no_steps(renderer: Renderer) -> None:
    steps: list[int] = []
    with pytest.raises(RenderCancelled):
        renderer.render(params(), on_step=lambda step, total: steps.append(step), should_stop=lambda: True)
    assert steps == []


def test_a_saved_pipeline_folder_loads_through_from_pretrained(tmp_path: Path, renderer: Renderer) -> None:
    """The path real weights take: a folder written by save_pretrained, loaded by from_pretrained."""
    folder = tmp_path / "weights"
    # mypy resolves diffusers' lazy export to its dummy placeholder, which lacks the method.
    build_tiny_pipeline().save_pretrained(str(folder))  # type: ignore[attr-defined]
    assert (folder / "model_index.json").exists()

    from_folder = Renderer(str(folder), device="cpu", tuning=COLD)
    from_folder.load()

    assert from_folder.loaded and not from_folder.is_tiny
    assert type(from_folder.pipe).__name__ == "TextToVideoSDPipeline"
    assert np.array_equal(
        from_folder.render(params(seed=3)).frames, renderer.render(params(seed=3)).frames
    ), "the saved-and-reloaded tiny pipeline should render exactly what the in-memory one does"


def test_a_hub_model_that_is_not_downloaded_says_how_to_download_it() -> None:
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    started = time.monotonic()

    with pytest.raises(ModelMissing) as missing:
        Renderer("videobot-tests/not-a-cached-model", tuning=COLD).load()

    message = str(missing.value)
    assert time.monotonic() - started < 10, "offline loading must fail fast, not hang"
    assert "download videobot-tests/not-a-cached-model" in message
    assert "[model] path" in message
    assert "\n" not in message


def test_a_missing_model_folder_names_the_folder_and_the_setting(tmp_path: Path) -> None:
    folder = tmp_path / "no-such-weights"

    with pytest.raises(ModelMissing) as missing:
        Renderer(str(folder), tuning=COLD).load()

    message = str(missing.value)
    assert str(folder) in message
    assert "no such folder" in message
    assert "[model] path" in message


def test_a_folder_without_a_pipeline_is_reported_as_missing_weights(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()

    with pytest.raises(ModelMissing) as missing:
        Renderer(str(empty), tuning=COLD).load()

    assert str(empty) in str(missing.value)


def test_cpu_renders_leave_a_core_for_the_chats() -> None:
    import threading

    import torch

    assert cpu_render_threads(3) == 3
    assert cpu_render_threads(0) == max(1, (os.cpu_count() or 1) - 1)
    seen: list[int] = []
    tiny = Renderer(
        "tiny", cpu_threads=2, tuning=COLD
    )  # not the 1 thread the tests run with (OMP_NUM_THREADS)

    def render_in_a_worker_thread() -> None:  # as the backend does
        tiny.render(params(steps=1), lambda step, total: seen.append(torch.get_num_threads()))

    worker = threading.Thread(target=render_in_a_worker_thread)
    worker.start()
    worker.join()
    assert seen == [2]
