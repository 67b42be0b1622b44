"""The core, as people in a chat live it: queue, progress, delivery, cancel, quota, buttons,
and what happens when the model, the GPU or the platform lets them down."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bot.core import messages
from bot.domain import ChatRef, JobStatus, UserRef
from bot.encode import read_clip
from bot.pipelines.clip import RenderedClip
from bot.render import OutOfMemory, Renderer
from bot.store import DB_FILE
from tests.harness.clock import ManualClock
from tests.harness.config import MakeConfig
from tests.harness.core import ALICE, BOB, CAROL, CHAT, COLD, GROUP, PLATFORM, CoreBot, MakeBot, crash_state
from tests.harness.outbox import RecordingOutbox
from tests.harness.polling import eventually

LONG = 400  # steps: a render long enough to act on while it runs (the tests stop it early)


class FailingRenderer(Renderer):
    """A renderer whose GPU throws `error` on every clip."""

    def __init__(self, error: Exception) -> None:
        super().__init__("tiny")
        self.error = error

    def load(self) -> None:
        self.pipe = object()

    def render_batch(self, batch: Any, on_step: Any = None, should_stop: Any = ()) -> list[Any]:
        raise self.error


class BurstRenderer(Renderer):
    """A very fast model on a busy event loop: every step's report arrives in one burst."""

    loop: asyncio.AbstractEventLoop

    def load(self) -> None:
        self.pipe = object()

    def render_batch(self, batch: Any, on_step: Any = None, should_stop: Any = ()) -> list[Any]:
        (params,) = batch
        reported = threading.Event()
        self.loop.call_soon_threadsafe(reported.wait)  # the loop is busy until all steps are in
        for step in range(1, params.steps + 1):
            on_step(0, step, params.steps)
        reported.set()
        return [
            RenderedClip(
                np.zeros((params.frames, params.height, params.width, 3), dtype=np.uint8), params.fps
            )
        ]


class CountingRenderer(Renderer):
    """Counts load attempts (each failing while the weights are missing)."""

    loads = 0

    def load(self) -> None:
        self.loads += 1
        super().load()


# the happy path ------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_video_request_is_queued_shows_progress_and_is_delivered_once(
    make_bot: MakeBot, tiny_renderer: Renderer
) -> None:
    """End to end with a real tiny render: the clip's own tags say what was asked."""
    bot = await make_bot(renderer=tiny_renderer)

    job = await bot.video("a cat surfing --seed 7")
    video = await bot.outbox.wait_for_video()
    done = await bot.outbox.wait_for_text("Done", kind="edit")

    ack = bot.outbox.records[0]
    assert ack.kind == "text" and ack.text.startswith("⏳ Queued: place 1 in line")
    assert ack.reply_to == "cmd-1" and not ack.private
    edits = [r for r in bot.outbox.records if r.kind == "edit"]
    assert all(r.ref == ack.ref for r in edits), "progress edits the queued message"
    kinds = [r.text.split()[1] for r in edits]
    assert kinds == ["Rendering", "Rendering", "Rendering", "Encoding", "Sending", "Done:"]
    assert [r.text.split()[-2] for r in edits[:3]] == ["1/3", "2/3", "3/3"]
    order = bot.outbox.records
    assert order.index(ack) < order.index(edits[0]) < order.index(video) < order.index(done)

    assert len(bot.outbox.videos) == 1
    assert video.text == f"a cat surfing\nseed 7 · 8 frames · 3 steps · #{job.id}\n🤖 AI-generated"
    assert [(b.action, b.job_id) for b in video.buttons] == [
        ("reroll", job.id),
        ("variation", job.id),
        ("smooth", job.id),
        ("hd", job.id),
        ("info", job.id),
        ("delete", job.id),
    ]
    assert [b.label for b in video.buttons] == [
        "🔁 Reroll",
        "🎲 Variation",
        "🎞 Smooth",
        "🔍 HD",
        "ℹ Info",
        "🗑 Delete",
    ]
    assert video.reply_to == "cmd-1" and video.status_message == ack.ref and video.user == ALICE

    row = bot.job(job.id)
    assert (row.status, row.attempts, row.result_message) == (JobStatus.DONE, 1, video.ref)
    assert video.clip is not None and row.clip_path == video.clip.path
    frames, fps, tags = read_clip(Path(video.clip.path))
    assert frames.shape == (8, 64, 64, 3) and fps == 8
    assert tags["videobot_seed"] == "7" and tags["videobot_prompt"] == "a cat surfing"
    assert bot.used_today() == 1


@pytest.mark.asyncio
async def test_the_queued_reply_is_sent_only_after_the_job_row_is_committed(
    make_bot: MakeBot, make_config: MakeConfig
) -> None:
    config = make_config()
    seen: list[int] = []

    def check_committed(chat: ChatRef, text: str) -> None:
        if text.startswith("⏳"):
            # a second connection only sees committed rows
            with contextlib.closing(sqlite3.connect(config.data_dir / DB_FILE)) as other:
                seen.append(other.execute("SELECT count(*) FROM jobs WHERE prompt = 'a cat'").fetchone()[0])

    bot = await make_bot(config=config, outbox=RecordingOutbox(on_send_text=check_committed), worker=False)
    await bot.video("a cat")

    assert seen == [1]


@pytest.mark.asyncio
async def test_progress_reaches_the_queued_message_even_when_the_platform_answers_slowly(
    make_bot: MakeBot,
) -> None:
    """Real platforms take a moment to answer; the idle worker must not race the ack."""
    bot = await make_bot(outbox=RecordingOutbox(network_yields=5))

    job = await bot.video("a cat")
    video = await bot.outbox.wait_for_video()
    await bot.until_status(job.id, JobStatus.DONE)

    ack = bot.outbox.records[0]
    assert video.status_message == ack.ref, "the upload should know which message to replace"
    assert any("Rendering" in text for text in bot.outbox.edits), "no progress was shown"
    await bot.outbox.wait_for_text("Done", kind="edit", timeout=2)


# cancel --------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_the_owner_cancels_a_waiting_video_and_gets_the_quota_back(make_bot: MakeBot) -> None:
    bot = await make_bot(worker=False)
    job = await bot.video("a cat")
    assert bot.used_today() == 1

    await bot.service.cancel(bot.req(ALICE), str(job.id))

    assert bot.job(job.id).status == JobStatus.CANCELLED
    assert bot.used_today() == 0
    assert f"🛑 Cancelled video #{job.id}." in bot.outbox.texts
    assert f"🛑 Cancelled video #{job.id}." in bot.outbox.edits, "the queued message says so too"
    assert bot.service.rooms.queue.ordered() == []


@pytest.mark.asyncio
async def test_cancel_without_a_number_cancels_my_latest_waiting_video(make_bot: MakeBot) -> None:
    bot = await make_bot(worker=False)
    first = await bot.video("a cat")
    second = await bot.video("a dog")

    await bot.service.cancel(bot.req(ALICE))

    assert bot.job(second.id).status == JobStatus.CANCELLED
    assert bot.job(first.id).status == JobStatus.QUEUED


@pytest.mark.asyncio
async def test_cancel_with_nothing_waiting_says_so(make_bot: MakeBot) -> None:
    bot = await make_bot(worker=False)
    await bot.service.cancel(bot.req(BOB))
    assert bot.outbox.texts == ["You have no video waiting or rendering."]
    assert bot.outbox.records[0].private


@pytest.mark.asyncio
async def test_the_owner_cancels_a_rendering_video_and_it_stops_between_steps(make_bot: MakeBot) -> None:
    bot = await make_bot()
    job = await bot.video(f"a slow cat --steps {LONG}")
    await bot.outbox.wait_for_text("Rendering", kind="edit")

    await bot.service.cancel(bot.req(ALICE), f"#{job.id}")
    row = await bot.until_status(job.id, JobStatus.CANCELLED)

    steps = [int(t.split()[-2].split("/")[0]) for t in bot.outbox.edits if "Rendering" in t]
    assert max(steps) < LONG, "the render stopped early"
    assert row.finished_at is not None
    assert bot.outbox.videos == []
    assert bot.used_today() == 0
    await bot.outbox.wait_for_text(f"Cancelled video #{job.id}", kind="edit")

    # the worker carries on with the next job
    nxt = await bot.video("a quick cat")
    await bot.until_status(nxt.id, JobStatus.DONE)


@pytest.mark.asyncio
async def test_a_cancel_that_arrives_while_the_clip_is_encoding_sends_no_clip(make_bot: MakeBot) -> None:
    """The user was told "Cancelled", so no clip may follow (and the quota comes back)."""
    bots: list[CoreBot] = []

    async def cancel_during_encoding(chat: ChatRef, message: str, text: str) -> None:
        if "Encoding" in text:
            (job,) = bots[0].store.jobs.of_user(ALICE)
            await bots[0].service.cancel(bots[0].req(ALICE), str(job.id))

    bots.append(await make_bot(outbox=RecordingOutbox(on_edit=cancel_during_encoding)))
    bot = bots[0]

    job = await bot.video("a cat")
    row = await bot.until_status(job.id, JobStatus.CANCELLED, JobStatus.DONE, JobStatus.FAILED)

    assert f"🛑 Cancelled video #{job.id}." in bot.outbox.texts
    assert bot.outbox.videos == [], "a clip was sent after the user was told it was cancelled"
    assert row.status == JobStatus.CANCELLED
    assert bot.used_today() == 0


@pytest.mark.asyncio
async def test_a_stranger_cannot_cancel_someone_elses_video(make_bot: MakeBot) -> None:
    bot = await make_bot(worker=False)
    job = await bot.video("a cat")

    await bot.service.cancel(bot.req(BOB), str(job.id))

    assert bot.job(job.id).status == JobStatus.QUEUED
    refusal = bot.outbox.records[-1]
    assert refusal.text == f"Only the person who asked for video #{job.id} (or an admin) can cancel it."
    assert refusal.private and refusal.user == BOB
    assert bot.used_today() == 1


@pytest.mark.asyncio
@pytest.mark.parametrize("how", ["chat admin", "configured owner"])
async def test_an_admin_may_cancel_anyones_video(
    make_bot: MakeBot, make_config: MakeConfig, how: str
) -> None:
    config = make_config(admin={"owners": [CAROL.key]})
    bot = await make_bot(config=config, worker=False)
    job = await bot.video("a cat")

    admin = bot.req(BOB, admin=True) if how == "chat admin" else bot.req(CAROL)
    await bot.service.cancel(admin, str(job.id))

    assert bot.job(job.id).status == JobStatus.CANCELLED
    assert bot.used_today(ALICE) == 0


@pytest.mark.asyncio
async def test_cancelling_a_finished_video_says_it_has_finished(make_bot: MakeBot) -> None:
    bot = await make_bot()
    job = await bot.video("a cat")
    await bot.until_status(job.id, JobStatus.DONE)

    await bot.service.cancel(bot.req(ALICE), str(job.id))

    assert bot.outbox.texts[-1] == f"Video #{job.id} has already finished."
    assert bot.job(job.id).status == JobStatus.DONE


@pytest.mark.asyncio
async def test_cancel_with_a_bad_or_unknown_number_gets_a_sentence(make_bot: MakeBot) -> None:
    bot = await make_bot(worker=False)
    await bot.service.cancel(bot.req(ALICE), "abc")
    await bot.service.cancel(bot.req(ALICE), "999")
    assert bot.outbox.texts == [
        "“abc” is not a video number; use the number shown with the clip, like 12.",
        "There is no video #999 here.",
    ]


# quota ---------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_over_quota_user_is_told_when_the_next_slot_frees(
    make_bot: MakeBot, make_config: MakeConfig
) -> None:
    evening = datetime(2024, 5, 1, 21, 47, tzinfo=UTC).timestamp()
    config = make_config(quota={"daily": 2, "max_queued": 5})
    bot = await make_bot(config=config, worker=False, clock=ManualClock(evening))
    await bot.video("one")
    await bot.video("two")

    refused = await bot.service.video_text(bot.req(ALICE), "three")

    assert refused is None
    assert bot.outbox.texts[-1] == "Daily limit of 2 clips reached; resets in 2 h 13 min."
    assert bot.outbox.records[-1].private
    assert len(bot.store.jobs.of_user(ALICE)) == 2, "nothing was queued"
    assert bot.used_today() == 2
    # someone else still has their own quota
    assert await bot.service.video_text(bot.req(BOB), "bob's turn") is not None


@pytest.mark.asyncio
async def test_the_quota_resets_at_the_configured_hour_in_the_configured_zone(
    make_bot: MakeBot, make_config: MakeConfig
) -> None:
    clock = ManualClock(datetime(2024, 1, 10, 5, 30, tzinfo=UTC).timestamp())  # 06:30 in Rome
    config = make_config(quota={"daily": 1, "reset_hour": 7, "timezone": "Europe/Rome"})
    bot = await make_bot(config=config, worker=False, clock=clock)
    await bot.video("before the reset")

    await bot.service.video_text(bot.req(ALICE), "still before")
    assert bot.outbox.texts[-1] == "Daily limit of 1 clip reached; resets in 30 min."

    clock.advance(31 * 60)
    assert await bot.service.video_text(bot.req(ALICE), "after the reset") is not None


@pytest.mark.asyncio
async def test_the_quota_command_shows_whats_left(make_bot: MakeBot, make_config: MakeConfig) -> None:
    evening = datetime(2024, 5, 1, 21, 47, tzinfo=UTC).timestamp()
    bot = await make_bot(config=make_config(quota={"daily": 5}), worker=False, clock=ManualClock(evening))
    await bot.video("one")

    await bot.service.quota(bot.req(ALICE))

    assert bot.outbox.texts[-1] == (
        "🎟 4 of 5 clips left today; resets in 2 h 13 min. 1 of 3 queue slots in use."
    )


@pytest.mark.asyncio
async def test_a_cancelled_video_gives_the_quota_back(make_bot: MakeBot, make_config: MakeConfig) -> None:
    bot = await make_bot(config=make_config(quota={"daily": 1}), worker=False)
    job = await bot.video("one")
    await bot.service.cancel(bot.req(ALICE), str(job.id))

    assert await bot.service.video_text(bot.req(ALICE), "another") is not None


@pytest.mark.asyncio
async def test_a_failed_render_gives_the_quota_back(make_bot: MakeBot, make_config: MakeConfig) -> None:
    bot = await make_bot(config=make_config(quota={"daily": 1}), renderer=FailingRenderer(RuntimeError("x")))
    job = await bot.video("one")
    await bot.until_status(job.id, JobStatus.FAILED)

    assert bot.used_today() == 0
    assert await bot.service.video_text(bot.req(ALICE), "another") is not None


@pytest.mark.asyncio
async def test_too_many_waiting_videos_are_refused_without_using_quota(
    make_bot: MakeBot, make_config: MakeConfig
) -> None:
    bot = await make_bot(config=make_config(quota={"max_queued": 2}), worker=False)
    await bot.video("one")
    await bot.video("two")

    assert await bot.service.video_text(bot.req(ALICE), "three") is None

    assert bot.outbox.texts[-1] == "You already have 2 videos waiting (at most 2); wait for one to finish."
    assert bot.used_today() == 2
    assert await bot.service.video_text(bot.req(BOB), "bob's") is not None


# ETA, queue, info, help -----------------------------------------------------------------


@pytest.mark.asyncio
async def test_the_eta_appears_once_a_clip_has_been_timed(make_bot: MakeBot) -> None:
    bot = await make_bot()
    key = "tiny:64x64"  # jobs of a lone [model] name it by its id
    assert bot.store.timings.get(key) is None

    started = time.monotonic()
    first = await bot.video("a cat")
    await bot.until_status(first.id, JobStatus.DONE)
    elapsed = time.monotonic() - started

    assert bot.outbox.texts[0] == "⏳ Queued: place 1 in line · ETA after the first clip is timed"
    per_step_frame = bot.store.timings.get(key)
    assert per_step_frame is not None and 0 < per_step_frame * 8 * 3 <= elapsed

    await bot.video("a dog")
    expected = messages.duration(per_step_frame * 8 * 3)
    assert bot.outbox.texts[-1] == f"⏳ Queued: place 1 in line · ETA ~{expected}"


@pytest.mark.asyncio
async def test_the_eta_is_measured_time_per_step_times_the_work_ahead(make_bot: MakeBot) -> None:
    bot = await make_bot(worker=False)
    bot.store.timings.record("tiny:64x64", 0.25)  # a clip was timed at 0.25 s per step per frame

    await bot.video("a cat --frames 8 --steps 3")  # 6 s of work
    await bot.video("a dog --frames 16 --steps 10", user=BOB)  # 40 s more
    await bot.video("a slow one --frames 16 --steps 45", user=CAROL)  # 180 s more

    assert bot.outbox.texts == [
        "⏳ Queued: place 1 in line · ETA ~6 s",
        "⏳ Queued: place 2 in line · ETA ~46 s",
        "⏳ Queued: place 3 in line · ETA ~4 min",
    ]

    bot.store.timings.record("tiny:64x64", 2.25, weight=1.0)  # a slower GPU: ETAs follow
    await bot.video("another cat --frames 8 --steps 3")
    assert bot.outbox.texts[-1] == "⏳ Queued: place 4 in line · ETA ~35 min"  # 928 step·frames × 2.25 s


@pytest.mark.asyncio
async def test_the_queue_command_shows_my_place_in_line(make_bot: MakeBot) -> None:
    bot = await make_bot(worker=False)
    bot.store.timings.record("tiny:64x64", 0.25)
    mine = await bot.video("a cat")
    await bot.video("a dog", user=BOB)
    later = await bot.video("a cow")

    await bot.service.queue_status(bot.req(ALICE))

    assert bot.outbox.texts[-1] == (
        f"📋 3 waiting, 0 rendering.\nYour video #{mine.id}: #1 in line · ETA ~6 s\n"
        f"Your video #{later.id}: #3 in line · ETA ~18 s"
    )
    await bot.service.queue_status(bot.req(CAROL))
    assert bot.outbox.texts[-1] == "📋 3 waiting, 0 rendering.\nYou have nothing queued."


@pytest.mark.asyncio
async def test_info_shows_the_settings_model_and_provenance(make_bot: MakeBot) -> None:
    bot = await make_bot(worker=False)
    job = await bot.video("a cat surfing --seed 42 --neg blurry --frames 12 --steps 5 --guidance 7.5")

    await bot.service.info(bot.req(BOB), str(job.id))
    await bot.service.info(bot.req(ALICE))  # no number: my latest

    expected = (
        f"ℹ Video #{job.id} · queued\nprompt: a cat surfing\nnegative: blurry\n"
        "seed 42 · 12 frames · 5 steps · guidance 7.5 · 64×64 @ 8 fps\n"
        "model: tiny · licence none (random weights)\n"
        "AI-generated by videobot "
    )
    assert bot.outbox.texts[-2].startswith(expected)
    assert bot.outbox.texts[-1].startswith(expected)


@pytest.mark.asyncio
async def test_info_for_someone_with_no_videos_suggests_one(make_bot: MakeBot) -> None:
    bot = await make_bot(worker=False)
    await bot.service.info(bot.req(BOB))
    assert bot.outbox.texts == ["You have no videos yet; try /video a cat surfing."]


@pytest.mark.asyncio
async def test_help_lists_the_commands_and_the_limits_in_force(
    make_bot: MakeBot, make_config: MakeConfig
) -> None:
    bot = await make_bot(config=make_config(quota={"daily": 7, "max_queued": 2}), worker=False)

    await bot.service.help(bot.req(ALICE))

    text = bot.outbox.texts[-1]
    for part in (
        "/video <prompt>",
        "--frames 2-16",
        "--steps 1-400",
        "--guidance 1.0-20.0",
        "/cancel",
        "7 clips a day",
        "2 waiting at once",
        "300 characters",
        "tiny",
    ):
        assert part in text, part


@pytest.mark.asyncio
async def test_help_is_in_italian_for_an_italian_user(make_bot: MakeBot) -> None:
    bot = await make_bot(worker=False)
    await bot.service.help(bot.req(UserRef(PLATFORM, "9", "Gio", "it")))
    assert "Trasformo un testo" in bot.outbox.texts[-1]


# buttons -------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_reroll_makes_a_new_clip_with_a_new_seed(make_bot: MakeBot) -> None:
    bot = await make_bot(worker=False)
    job = await bot.video("a cat surfing --seed 5 --neg dark --frames 6 --steps 4 --guidance 8")

    await bot.service.button(bot.req(BOB), "reroll", job.id)

    (reroll,) = bot.store.jobs.of_user(BOB)
    assert reroll.parent_id == job.id
    assert reroll.params.seed != 5
    assert reroll.params.prompt == "a cat surfing"
    assert (reroll.params.negative, reroll.params.frames, reroll.params.steps, reroll.params.guidance) == (
        "dark",
        6,
        4,
        8.0,
    )
    assert bot.outbox.texts[-1].startswith("⏳ Queued: place 2 in line")


@pytest.mark.asyncio
async def test_variation_keeps_the_seed_and_nudges_the_guidance(make_bot: MakeBot) -> None:
    bot = await make_bot(worker=False)
    job = await bot.video("a cat surfing --seed 5 --guidance 8")

    await bot.service.button(bot.req(ALICE), "variation", job.id)

    variation = bot.store.jobs.of_user(ALICE)[0]
    assert variation.id != job.id and variation.parent_id == job.id
    assert variation.params.seed == 5
    assert abs(variation.params.guidance - 8.0) <= 1.5
    assert 1.0 <= variation.params.guidance <= 20.0


@pytest.mark.asyncio
async def test_reroll_does_not_pile_up_the_forced_negative_prompt(
    make_bot: MakeBot, make_config: MakeConfig
) -> None:
    bot = await make_bot(config=make_config(video={"forced_negative": "nsfw"}), worker=False)
    job = await bot.video("a cat --neg blurry")
    assert bot.job(job.id).params.negative == "blurry, nsfw"

    await bot.service.button(bot.req(ALICE), "reroll", job.id)

    reroll = bot.store.jobs.of_user(ALICE)[0]
    assert reroll.params.negative == "blurry, nsfw"


@pytest.mark.asyncio
async def test_the_info_button_answers_privately(make_bot: MakeBot) -> None:
    bot = await make_bot(worker=False)
    job = await bot.video("a cat --seed 9")
    await bot.service.button(bot.req(BOB), "info", job.id)
    info = bot.outbox.records[-1]
    assert info.private and info.user == BOB and "seed 9" in info.text


@pytest.mark.asyncio
async def test_only_the_requester_or_an_admin_may_delete_a_clip(make_bot: MakeBot) -> None:
    bot = await make_bot()
    job = await bot.video("a cat")
    video = await bot.outbox.wait_for_video()
    await bot.until_status(job.id, JobStatus.DONE)

    await bot.service.button(bot.req(BOB), "delete", job.id)
    assert bot.outbox.of_kind("delete") == []
    assert bot.outbox.texts[-1] == "Only the person who asked for this clip (or an admin) can delete it."

    await bot.service.button(bot.req(ALICE), "delete", job.id)
    (deleted,) = bot.outbox.of_kind("delete")
    assert (deleted.chat, deleted.ref) == (CHAT, video.ref)
    assert bot.outbox.texts[-1] == "🗑 Deleted."

    assert bot.service.store.audit.entries(10) == [], "deleting one's own clip is no admin action"
    await bot.service.button(bot.req(BOB, admin=True), "delete", job.id)
    assert len(bot.outbox.of_kind("delete")) == 2
    (entry,) = bot.service.store.audit.entries(10)
    assert (entry.actor, entry.action, entry.target, entry.detail) == (
        BOB.key,
        "delete",
        ALICE.key,
        f"#{job.id}",
    )
    assert entry.chat == CHAT.scope_key


@pytest.mark.asyncio
async def test_an_unknown_button_gets_a_sentence_not_an_error(make_bot: MakeBot) -> None:
    bot = await make_bot(worker=False)
    job = await bot.video("a cat")
    await bot.service.button(bot.req(ALICE), "explode", job.id)
    assert bot.outbox.texts[-1] == "I don't know that command; /help lists what I can do."


# when things go wrong ---------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_render_crash_apologises_refunds_and_shows_no_traceback(make_bot: MakeBot) -> None:
    crash = RuntimeError("CUDA error: an illegal memory access\nTraceback (most recent call last)")
    bot = await make_bot(renderer=FailingRenderer(crash))

    job = await bot.video("a cat")
    await bot.outbox.wait_for_text("Something went wrong")

    assert bot.outbox.edits[-1] == f"❌ Something went wrong with video #{job.id}; your quota was refunded."
    said = bot.outbox.everything_said()
    assert "Traceback" not in said and "CUDA" not in said and "illegal" not in said
    row = bot.job(job.id)
    assert row.status == JobStatus.FAILED and row.error == "failed_internal"
    assert bot.used_today() == 0
    assert bot.outbox.videos == []


@pytest.mark.asyncio
async def test_running_out_of_gpu_memory_suggests_fewer_frames(make_bot: MakeBot) -> None:
    bot = await make_bot(renderer=FailingRenderer(OutOfMemory("CUDA out of memory. Tried to allocate 2 GiB")))

    job = await bot.video("a cat --frames 16")
    await bot.outbox.wait_for_text("out of memory")

    assert bot.outbox.edits[-1] == (
        f"❌ The GPU ran out of memory for video #{job.id}; try fewer frames. Your quota was refunded."
    )
    assert "GiB" not in bot.outbox.everything_said()
    assert bot.used_today() == 0


@pytest.mark.asyncio
async def test_without_the_model_jobs_wait_in_line_told_why_and_run_once_it_loads(
    make_bot: MakeBot, make_config: MakeConfig, tmp_path: Path, renders: None
) -> None:
    renderer = CountingRenderer(str(tmp_path / "weights-not-downloaded"), tuning=COLD)
    bot = await make_bot(renderer=renderer, config=make_config(queue={"model_retry_s": 0.5}), worker=False)
    job = await bot.video("a cat")  # queued before the load was tried
    await bot.video("a dog")
    await bot.start_worker()
    await eventually(lambda: bot.service.backend.problem, what="the model load to fail", timeout=60)
    assert "weights-not-downloaded" in (bot.service.backend.problem or "")

    tries = renderer.loads
    # G9 (#32): once the model is known not to load, new jobs for it are refused, free, rather
    # than fill the queue for everyone; the ones already waiting keep their place
    assert await bot.service.video_text(bot.req(), "a fish") is None
    assert bot.last_text == (
        "The model default does not load on this server right now, so I can't queue clips for it; "
        "the bot's owner can see why in the log. Nothing was charged."
    )
    assert renderer.loads <= tries + 1, "a model known to be broken is not reloaded for every arrival"

    row = bot.job(job.id)
    assert (row.status, row.attempts) == (JobStatus.QUEUED, 0)
    assert bot.outbox.videos == [] and "wrong" not in bot.outbox.everything_said()
    assert bot.used_today() == 2

    # the owner fixes the setting; the next retry (model_retry_s) loads the model and the jobs run
    renderer.source = "tiny"
    await bot.outbox.wait_for_video(timeout=60)  # the retry, then a first load of diffusers
    assert bot.job(job.id).status == JobStatus.DONE


@pytest.mark.asyncio
async def test_jobs_for_a_model_that_never_loads_fail_refunded_after_the_bounded_wait(
    make_bot: MakeBot, make_config: MakeConfig, tmp_path: Path
) -> None:
    clock = ManualClock()
    renderer = CountingRenderer(str(tmp_path / "weights-not-downloaded"), tuning=COLD)
    config = make_config(queue={"model_retry_s": 0.05, "model_missing_wait_s": 600.0})
    bot = await make_bot(renderer=renderer, config=config, clock=clock, worker=False)
    job = await bot.video("a cat")  # queued before anyone knew the model would not load
    assert bot.used_today() == 1
    await bot.start_worker()
    await eventually(lambda: bot.service.backend.problem, what="the model load to fail", timeout=60)
    assert await bot.service.video_text(bot.req(), "another cat") is None  # G9 (#32): no new jobs for it
    assert bot.last_text.startswith("The model default does not load on this server right now")
    assert bot.used_today() == 1

    clock.advance(599)
    await bot.service.rooms.runner.give_up_on_broken_models()
    assert bot.job(job.id).status == JobStatus.QUEUED, "within the wait, the job keeps its place"

    clock.advance(2)
    await eventually(lambda: bot.job(job.id).status == JobStatus.FAILED, what="the job to give up")
    await bot.outbox.wait_for_text("could not be made")
    assert (
        bot.outbox.everything_said().count(
            f"❌ Video #{job.id} could not be made: the server's video model is still not installed "
            "(or does not load). Your quota was refunded."
        )
        == 1
    )
    assert bot.used_today() == 0


@pytest.mark.asyncio
async def test_stopping_the_bot_mid_render_puts_the_job_back_without_counting_the_try(
    make_bot: MakeBot,
) -> None:
    bot = await make_bot()
    job = await bot.video(f"a slow cat --steps {LONG}")
    await bot.outbox.wait_for_text("Rendering", kind="edit")
    assert bot.job(job.id).attempts == 1

    bot.service.stop()
    assert bot.worker is not None
    await asyncio.wait_for(bot.worker, 10)

    row = bot.job(job.id)
    assert (row.status, row.attempts, row.started_at) == (JobStatus.QUEUED, 0, None)
    assert bot.used_today() == 1, "the job will still run: its quota stays charged"
    assert bot.outbox.videos == []
    assert not any("Cancelled" in text for text in bot.outbox.edits), "the user's job was not cancelled"


@pytest.mark.asyncio
async def test_stopping_an_idle_bot_ends_the_worker_promptly(make_bot: MakeBot) -> None:
    bot = await make_bot()
    assert bot.worker is not None

    bot.service.stop()

    done, _ = await asyncio.wait({bot.worker}, timeout=3)
    assert done, "service.stop() should end a worker waiting on an empty queue"


@pytest.mark.asyncio
async def test_a_clip_whose_upload_fails_twice_is_delivered_exactly_once(make_bot: MakeBot) -> None:
    bot = await make_bot(outbox=RecordingOutbox(fail_videos=2))

    job = await bot.video("a cat")
    await bot.until_status(job.id, JobStatus.DONE)

    assert bot.outbox.video_attempts == 3
    assert len(bot.outbox.videos) == 1
    assert bot.job(job.id).result_message == bot.outbox.videos[0].ref


@pytest.mark.asyncio
async def test_a_clip_too_big_for_the_platform_is_shrunk_before_upload(make_bot: MakeBot) -> None:
    bot = await make_bot(outbox=RecordingOutbox(upload_limit=12_000))

    job = await bot.video("a cat --frames 16 --seed 1")  # about 20 kB as encoded
    video = await bot.outbox.wait_for_video()

    assert video.clip is not None and video.clip.size_bytes <= 12_000
    assert Path(bot.job(job.id).clip_path or "").stat().st_size > 12_000, "the original is kept"
    frames, _, _ = read_clip(Path(video.clip.path))
    assert len(frames) == 16


@pytest.mark.asyncio
async def test_a_clip_that_cannot_fit_the_platform_says_try_fewer_frames(make_bot: MakeBot) -> None:
    bot = await make_bot(outbox=RecordingOutbox(upload_limit=300))

    job = await bot.video("a cat")
    await bot.outbox.wait_for_text("too large")

    assert bot.job(job.id).status == JobStatus.FAILED
    assert bot.outbox.videos == []


@pytest.mark.asyncio
async def test_group_progress_edits_respect_the_interval_even_when_steps_come_in_a_burst(
    make_bot: MakeBot, make_config: MakeConfig
) -> None:
    config = make_config(queue={"group_progress_interval_s": 60.0})
    renderer = BurstRenderer("tiny")
    renderer.loop = asyncio.get_running_loop()
    renderer.load()
    bot = await make_bot(config=config, renderer=renderer)

    job = await bot.video("a cat --steps 50", chat=GROUP)
    await bot.until_status(job.id, JobStatus.DONE)

    rendering = [text for text in bot.outbox.edits if "Rendering" in text]
    assert len(rendering) <= 2, f"{len(rendering)} progress edits in one 60 s interval"
    assert rendering[-1].endswith("50/50 steps"), "the bar ends at its last step"


@pytest.mark.asyncio
async def test_the_progress_bar_always_ends_at_its_last_step(
    make_bot: MakeBot, make_config: MakeConfig
) -> None:
    """However long the interval between edits, a finished render never leaves "1/3" above "Done"."""
    bot = await make_bot(config=make_config(queue={"progress_interval_s": 600.0}))
    job = await bot.video("a cat --steps 3")
    await bot.until_status(job.id, JobStatus.DONE)
    await bot.outbox.wait_for_text("Done", kind="edit")
    rendering = [text.split()[-2] for text in bot.outbox.edits if "Rendering" in text]
    assert rendering == ["1/3", "3/3"]


# restart -------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_clip_interrupted_while_sending_is_sent_after_a_restart(
    make_bot: MakeBot, make_config: MakeConfig
) -> None:
    config = make_config()
    first = await make_bot(config=config)
    job = await first.video("a cat")
    await first.until_status(job.id, JobStatus.DONE)
    clip_path = first.job(job.id).clip_path
    # as if the process died between encoding and the upload
    crash_state(first.store, job.id, JobStatus.DELIVERING, result_message=None)

    again = await make_bot(config=config)

    video = await again.outbox.wait_for_video()
    assert video.clip is not None and video.clip.path == clip_path
    row = await again.until_status(job.id, JobStatus.DONE)
    assert row.attempts == 1, "the render was not repeated"
    assert len(again.outbox.videos) == 1


@pytest.mark.asyncio
async def test_a_job_interrupted_too_often_fails_with_a_message_and_a_refund(
    make_bot: MakeBot, make_config: MakeConfig
) -> None:
    config = make_config()
    first = await make_bot(config=config, worker=False)
    job = await first.video("a cat")
    crash_state(first.store, job.id, JobStatus.RUNNING, attempts=3)

    again = await make_bot(config=config)

    await again.outbox.wait_for_text("failed after 3 tries")
    assert again.job(job.id).status == JobStatus.FAILED
    assert again.used_today() == 0


# challenges end their waiting entries like every other cancel ---------------------------------


@pytest.mark.asyncio
async def test_cancelling_a_challenge_cancels_its_waiting_entries_refunds_and_tells_their_owners(
    make_bot: MakeBot,
) -> None:
    bot = await make_bot(worker=False)  # nothing renders: the entries stay in line
    admin = bot.req(CAROL, chat=GROUP, admin=True)
    await bot.service.challenge(admin, "start robots 2h")
    await bot.service.challenge(bot.req(ALICE, chat=GROUP), "enter a robot dancing")
    await bot.service.challenge(bot.req(BOB, chat=GROUP), "enter a robot sleeping")
    entries = bot.store.jobs.with_status(JobStatus.QUEUED)
    assert [job.user.key for job in entries] == [ALICE.key, BOB.key]
    assert bot.used_today(ALICE) == bot.used_today(BOB) == 1

    await bot.service.challenge(admin, "cancel")

    for entry in entries:
        row = bot.job(entry.id)
        assert row.status == JobStatus.CANCELLED and row.status_message is not None
        # its "⏳ Queued" message now says what happened, instead of waiting for ever
        notice = await bot.outbox.wait_for_edit(row.status_message)
        assert f"entry #{entry.id} will not be made" in notice.text and "refunded" in notice.text
    assert bot.used_today(ALICE) == bot.used_today(BOB) == 0
    assert bot.store.quota.refund(entries[0].id) is False  # refunded exactly once
