"""The test harness's own promises: the stub backend speaks the port as a real backend does, the
tiny-pipeline cache hands out pristine copies, and the lanes catch a test that starts something
outside its lane."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bot.core.ports import Cancelled, Encoding, FailureKind, Progress, Rendered, RenderEvent, Started
from bot.domain import JobStatus
from bot.pipelines.tiny import build_tiny
from tests.harness.core import MakeBot
from tests.harness.lanes import LaneError
from tests.harness.media import decode
from tests.harness.stub_backend import StubBackend
from tests.harness.tiny_pipelines import stats

# the stub backend -------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_the_stub_sends_a_real_backends_events_and_a_clip_that_decodes_at_the_jobs_shape(
    make_bot: MakeBot,
) -> None:
    bot = await make_bot()
    assert isinstance(bot.stub, StubBackend)
    events: list[RenderEvent] = []
    bot.service.rooms.events.subscribe(events.append)

    job = await bot.video("a cat --frames 12 --steps 4")
    video = await bot.outbox.wait_for_video()

    mine = [type(event) for event in events if event.job_id == job.id]
    assert mine == [Started, Progress, Progress, Progress, Progress, Encoding, Rendered]
    steps = [(e.step, e.total) for e in events if isinstance(e, Progress)]
    assert steps == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert video.clip is not None
    decoded = decode(Path(video.clip.path).read_bytes())
    assert (decoded.frames, decoded.width, decoded.height) == (12, 64, 64)
    assert (video.clip.frames, video.clip.fps) == (12, 8)


@pytest.mark.asyncio
async def test_the_stub_holds_a_render_cancels_it_between_steps_and_fails_on_request(
    make_bot: MakeBot,
) -> None:
    bot = await make_bot()
    stub = bot.stub
    assert stub is not None
    stub.hold()
    held = await bot.video("a cat --steps 5")
    await stub.wait_paused()
    assert bot.job(held.id).status == JobStatus.RUNNING
    await bot.service.cancel(bot.req(), str(held.id))
    stub.release()
    assert (await bot.until_status(held.id, JobStatus.CANCELLED)).status == JobStatus.CANCELLED

    stub.fail_next(FailureKind.OUT_OF_MEMORY)
    failed = await bot.video("a dog")
    await bot.until_status(failed.id, JobStatus.FAILED)
    assert bot.used_today() == 0, "both refunded"
    assert [job.job_id for job in stub.submitted] == [held.id, failed.id]


def test_the_stub_reports_a_model_that_cannot_load_as_a_real_backend_does(tmp_path: Path) -> None:
    stub = StubBackend(tmp_path, models=("default",), problem="the weights are missing")
    assert not stub.loaded and stub.free_slots() == 0
    assert stub.model_state().broken == frozenset({"default"})
    stub.set_problem(None)
    assert stub.loaded and stub.free_slots() == 1 and stub.model_state().resident == frozenset({"default"})


def test_a_cancelled_event_type_exists_for_every_ending_the_stub_sends() -> None:
    assert {Cancelled, Rendered} <= set(RenderEvent.__args__)  # type: ignore[attr-defined]


# the tiny-pipeline cache ------------------------------------------------------------------------


def test_a_second_user_of_the_cache_gets_pristine_weights_after_the_first_changed_its_copy(
    renders: None,
) -> None:
    first = build_tiny("tiny-wan")
    pristine = {name: p.detach().clone() for name, p in first.transformer.named_parameters()}
    built = stats["built"]
    with torch.no_grad():
        for parameter in first.transformer.parameters():
            parameter.add_(1.0)  # what a fused LoRA or an in-place cast would do
    first.scheduler.register_to_config(shift=9.0)
    first.transformer.blocks[0].register_forward_hook(lambda *_: None)  # what a step cache does
    first.transformer.blocks[0].tag = "changed"

    second = build_tiny("tiny-wan")

    assert stats["built"] == built, "the second user was served from the cache, not a new build"
    assert second.transformer is not first.transformer
    for name, parameter in second.transformer.named_parameters():
        assert torch.equal(parameter, pristine[name]), name
    assert second.scheduler.config.get("shift") != 9.0
    assert not second.transformer.blocks[0]._forward_hooks and not hasattr(
        second.transformer.blocks[0], "tag"
    )
    assert [type(m) for m in second.transformer.modules()] == [type(m) for m in first.transformer.modules()]


def test_a_cached_copy_renders_the_same_frames_as_a_fresh_build(renders: None) -> None:
    from tests.harness.tiny_pipelines import _build

    fresh = _build("tiny-ltx")
    cached = build_tiny("tiny-ltx")
    for component in (fresh.transformer, fresh.text_encoder, fresh.vae):
        component.eval()
    kwargs = {
        "prompt": "a cat",
        "num_frames": 9,
        "height": 32,
        "width": 32,
        "num_inference_steps": 2,
        "output_type": "np",
    }
    a = fresh(**kwargs, generator=torch.Generator().manual_seed(3)).frames
    b = cached(**kwargs, generator=torch.Generator().manual_seed(3)).frames
    assert (a == b).all()


# the lanes --------------------------------------------------------------------------------------


def test_a_test_outside_the_render_lane_cannot_build_a_pipeline() -> None:
    with pytest.raises(LaneError, match="render"):
        build_tiny("tiny")


def test_a_test_outside_the_process_lane_cannot_start_videobot(tmp_path: Path) -> None:
    with pytest.raises(LaneError, match="process"):
        subprocess.run([sys.executable, "-m", "bot", "--help"], cwd=tmp_path, check=False)


def test_the_lanes_are_marked_from_the_fixtures_a_test_uses(request: pytest.FixtureRequest) -> None:
    assert request.node.get_closest_marker("render") is None
    assert request.node.get_closest_marker("process") is None


def test_a_test_that_takes_a_renderer_is_in_the_render_lane(
    request: pytest.FixtureRequest, tiny_renderer: object
) -> None:
    assert request.node.get_closest_marker("render") is not None
