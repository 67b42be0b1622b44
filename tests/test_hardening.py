"""What a hostile or unlucky user finds: each finding of the review, checked through the core."""

from __future__ import annotations

import os
import sqlite3
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bot.core import messages
from bot.domain import ChatRef, ChatSettings, Delivery, JobStatus, Undeliverable, UserRef
from bot.pipelines.clip import RenderedClip
from bot.render import Renderer
from bot.store import DB_FILE, Store
from tests.harness.clock import ManualClock
from tests.harness.config import MakeConfig
from tests.harness.console import ChildProcesses
from tests.harness.core import COLD, CoreBot, MakeBot
from tests.harness.outbox import RecordingOutbox
from tests.harness.polling import eventually

GROUP = ChatRef("telegram", "-100700", is_group=True)
OTHER_CHAT = ChatRef("telegram", "-100800", is_group=True)
PRIVATE = ChatRef("telegram", "55")
MALLORY = UserRef("telegram", "66", "Mallory")
VICTIM = UserRef("telegram", "55", "Vic")
OWNER = UserRef("telegram", "99", "Olga")
BOB_ = UserRef("telegram", "77", "Bob")


async def idle_bot(make_bot: MakeBot, make_config: MakeConfig, **sections: dict[str, object]) -> CoreBot:
    """Admission only: no worker, so jobs stay in line."""
    config = make_config(admin={"owners": [OWNER.key]}, **sections)  # type: ignore[arg-type]
    return await make_bot(
        config=config, renderer=Renderer("tiny", tuning=COLD), worker=False, clock=ManualClock()
    )


# 1. free challenges ---------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_free_challenge_entries_skip_the_daily_count_but_not_the_queue_cap(
    make_bot: MakeBot, make_config: MakeConfig
) -> None:
    bot = await idle_bot(make_bot, make_config, quota={"daily": 20, "max_queued": 3})
    own_group = bot.req(MALLORY, GROUP, admin=True)  # anyone can make a group and be its admin
    await bot.service.challenge(own_group, "start round 0 2h 10 --free")
    assert bot.last_text.startswith("Only the bot's owners can start a --free challenge")
    owner = bot.req(OWNER, GROUP, admin=True)
    entered = 0
    for round_ in range(10):
        await bot.service.challenge(owner, f"start round {round_} 2h 10 --free")
        for _ in range(10):
            before = len(bot.store.jobs.queued_of(MALLORY.key))
            await bot.service.challenge(own_group, "enter a cat")
            entered += len(bot.store.jobs.queued_of(MALLORY.key)) - before
        await bot.service.challenge(owner, "end")
    assert entered == 3  # max_queued, whatever the challenges say
    assert any("waiting (at most 3)" in text for text in bot.outbox.texts)
    assert bot.used_today(MALLORY) == 0  # free entries are free of the daily count


@pytest.mark.asyncio
async def test_free_entries_obey_the_rate_limit(make_bot: MakeBot, make_config: MakeConfig) -> None:
    bot = await idle_bot(make_bot, make_config, quota={"per_minute": 1.0, "burst": 1, "max_queued": 10})
    own_group = bot.req(MALLORY, GROUP, admin=True)
    await bot.service.challenge(bot.req(OWNER, GROUP, admin=True), "start cats 2h 10 --free")
    await bot.service.challenge(own_group, "enter a cat")
    await bot.service.challenge(own_group, "enter another cat")
    assert len(bot.store.jobs.queued_of(MALLORY.key)) == 1
    assert "slow down" in bot.last_text.lower() or "per minute" in bot.last_text.lower()


@pytest.mark.asyncio
async def test_a_full_queue_says_so_with_its_length(make_bot: MakeBot, make_config: MakeConfig) -> None:
    bot = await idle_bot(make_bot, make_config, queue={"max_total": 4})
    for n in range(4):
        await bot.video("a cat", UserRef("telegram", str(200 + n)))
    refused = await bot.service.video_text(bot.req(MALLORY), "one more")
    assert refused is None
    assert bot.last_text == "⏳ The queue is full (4 videos waiting); try again in a few minutes."
    assert bot.used_today(MALLORY) == 0


# 2. other people's jobs ---------------------------------------------------------------------


@pytest.mark.asyncio
async def test_info_reroll_and_variation_of_a_job_are_for_its_chat_its_owner_and_the_bot_owners(
    make_bot: MakeBot, make_config: MakeConfig
) -> None:
    bot = await idle_bot(make_bot, make_config)
    secret = await bot.video("my secret prompt --seed 4242 --neg something private", VICTIM, chat=PRIVATE)
    snoop = bot.req(MALLORY, OTHER_CHAT)

    await bot.service.info(snoop, str(secret.id))
    assert bot.last_text == f"There is no video #{secret.id} here."
    for action in ("info", "reroll", "variation"):  # crafted button data, pressed elsewhere
        await bot.service.button(snoop, action, secret.id)
        assert bot.last_text == f"There is no video #{secret.id} here."
    await bot.service.info(snoop, "999")
    assert bot.last_text == "There is no video #999 here."  # the same words: nothing to tell them apart
    assert "secret" not in bot.outbox.everything_said().replace("my secret prompt --seed", "")
    assert [j.user.key for j in bot.store.jobs.with_status(JobStatus.QUEUED)] == [VICTIM.key]

    await bot.service.info(bot.req(VICTIM, OTHER_CHAT), str(secret.id))  # its owner, anywhere
    assert "my secret prompt" in bot.last_text
    await bot.service.info(bot.req(OWNER, OTHER_CHAT), str(secret.id))  # the bot's owners
    assert "my secret prompt" in bot.last_text


@pytest.mark.asyncio
@pytest.mark.parametrize("job_id", [10**24, 2**63])
async def test_a_job_id_past_what_sqlite_holds_is_answered_in_words(
    make_bot: MakeBot, make_config: MakeConfig, job_id: int
) -> None:
    bot = await idle_bot(make_bot, make_config)
    await bot.service.button(bot.req(MALLORY), "info", job_id)
    assert "is not a video number" in bot.last_text


# 12. database files ---------------------------------------------------------------------------


def test_a_file_that_is_not_a_database_stops_start_up_with_one_line(
    tmp_path: Path, child_processes: ChildProcesses
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / DB_FILE).write_bytes(b"this is not SQLite " * 100)
    config = tmp_path / "config.toml"
    config.write_text(f'[model]\nid = "tiny"\n[storage]\ndir = "{data}"\n')
    done = child_processes.run(
        [sys.executable, "-m", "bot", "admin", "--config", str(config), "audit"],
        capture_output=True, text=True, timeout=120, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "Traceback" not in done.stderr
    assert str(data / DB_FILE) in done.stderr and "not a videobot database" in done.stderr


def test_an_older_file_missing_columns_in_any_table_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / DB_FILE
    with sqlite3.connect(path) as old:  # an early file: chat settings without "enabled", bans without "at"
        old.execute("CREATE TABLE chat_settings (chat_key TEXT PRIMARY KEY, max_frames INTEGER)")
        old.execute(
            "CREATE TABLE bans (user_key TEXT, scope TEXT, reason TEXT, PRIMARY KEY (user_key, scope))"
        )
        old.execute("INSERT INTO chat_settings VALUES ('telegram:-1', 8)")
    store = Store(path)
    try:
        assert store.chats.get("telegram:-1").max_frames == 8
        store.chats.save("telegram:-1", ChatSettings(max_frames=8, enabled=False))
        store.bans.add("telegram:5", "*", "spam", "telegram:9", 1.0)
        assert not store.chats.get("telegram:-1").enabled and store.bans.reason("telegram:5") == "spam"
    finally:
        store.close()


# 8. deliveries that keep failing ------------------------------------------------------------


class GoneOutbox(RecordingOutbox):
    """The platform answers for good: the bot was removed, it may not send videos here."""

    async def send_video(self, delivery: Delivery) -> str:
        self.video_attempts += 1
        raise Undeliverable("Forbidden: not enough rights to send videos")


@pytest.mark.asyncio
@pytest.mark.parametrize("outbox", [RecordingOutbox(fail_videos=10**6), GoneOutbox()], ids=["flaky", "gone"])
async def test_a_clip_that_cannot_be_sent_is_given_up_refunded_told_and_deleted(
    make_bot: MakeBot, make_config: MakeConfig, outbox: RecordingOutbox
) -> None:
    config = make_config(queue={"delivery_tries": 1, "redeliver_every_s": 0.01, "delivery_rounds": 3})
    bot = await make_bot(config=config, outbox=outbox)
    job = await bot.video("a cat")
    failed = await bot.until_status(job.id, JobStatus.FAILED)
    assert failed.error == "failed_undeliverable" and failed.clip_path is None
    told = await outbox.wait_for_text(f"could not send video #{job.id}")
    assert "refunded" in told.text
    assert bot.used_today() == 0
    assert not list((config.data_dir / "clips").glob(f"{job.id}.*"))
    # a passing failure is tried in rounds (3 here), a final answer only once
    assert outbox.video_attempts == (1 if isinstance(outbox, GoneOutbox) else 3)


# 14. the shell's admin tools ----------------------------------------------------------------


@pytest.mark.asyncio
async def test_jobs_the_shell_cancels_are_told_to_their_owners_by_the_running_bot(
    make_bot: MakeBot, make_config: MakeConfig, tmp_path: Path, child_processes: ChildProcesses
) -> None:
    config = make_config(queue={"redeliver_every_s": 0.05})
    bot = await make_bot(config=config, renderer=Renderer("tiny", tuning=COLD), worker=False)
    job = await bot.video("a cat", VICTIM)
    toml = tmp_path / "shell.toml"
    toml.write_text(f'[model]\nid = "tiny"\n[storage]\ndir = "{config.data_dir}"\n')
    done = child_processes.run(
        [sys.executable, "-m", "bot", "admin", "--config", str(toml), "purge", VICTIM.key],
        capture_output=True, text=True, timeout=120, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert bot.job(job.id).status == JobStatus.CANCELLED
    await bot.service.rooms.housekeeping.round()
    notice = await bot.outbox.wait_for_text(f"An admin cancelled video #{job.id}")
    assert notice.ref == bot.job(job.id).status_message  # on its "queued" message
    await bot.service.rooms.housekeeping.round()
    assert len([r for r in bot.outbox.records if "An admin cancelled" in r.text]) == 1  # once


# 7. a locked database -----------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_long_lock_by_another_process_neither_freezes_the_bot_nor_loses_the_clip(
    make_bot: MakeBot, make_config: MakeConfig
) -> None:
    config = make_config(queue={"redeliver_every_s": 0.05})
    bot = await make_bot(config=config)
    job = await bot.video("a cat --steps 40")
    await bot.outbox.wait_for_text("Rendering")
    other = sqlite3.connect(config.data_dir / DB_FILE, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock while the clip finishes
    try:
        # The render ends and its reports are handled while the file is locked: the loop ran on
        # (with a long lock wait on the loop, this would never happen before the lock is let go).
        await eventually(
            lambda: job.id not in bot.service.rooms.running.jobs, timeout=30, what="the render's end"
        )
        assert bot.job(job.id).status == JobStatus.RUNNING  # its new state could not be written yet
        await bot.service.queue_status(bot.req(BOB_))  # reads still work; the answer comes at once
        assert "waiting" in bot.last_text
    finally:
        other.execute("ROLLBACK")
        other.close()
    done = await bot.until_status(job.id, JobStatus.DONE, timeout=30)
    assert done.result_message is not None
    assert len(bot.outbox.videos) == 1  # delivered once, when the database took the writes


# 9. replies within the platforms' limits ------------------------------------------------------


@pytest.mark.asyncio
async def test_an_error_echoes_the_input_cleaned_and_short(
    make_bot: MakeBot, make_config: MakeConfig
) -> None:
    bot = await idle_bot(make_bot, make_config)
    await bot.service.video_text(bot.req(MALLORY), "a cat --x" + "y" * 4000)
    answer = bot.last_text
    assert answer.startswith("Unknown option --xyyy") and len(answer) < 300
    await bot.service.video_text(bot.req(MALLORY), "a cat --frames 1\u202e2\ud800")
    assert "\u202e" not in bot.last_text and "\ud800" not in bot.last_text
    assert "12" in bot.last_text


@pytest.mark.asyncio
async def test_long_admin_lists_fit_one_message_and_say_how_many_more(
    make_bot: MakeBot, make_config: MakeConfig
) -> None:
    bot = await idle_bot(make_bot, make_config, quota={"max_queued": 100}, queue={"max_total": 1000})
    for n in range(40):
        await bot.video(
            "a very long prompt about a lighthouse in a storm at night " * 3, UserRef("telegram", str(n))
        )
    owner = bot.req(OWNER, admin=True)
    await bot.service.admin(owner, "queue")
    assert len(bot.last_text) <= messages.LIST_BUDGET and bot.last_text.endswith("more")
    assert f"…and {40 - (bot.last_text.count(chr(10)))} more" in bot.last_text
    for n in range(60):
        bot.store.audit.add(float(n), owner.chat.key, OWNER.key, "ban", f"telegram:{n}", "x" * 150)
    await bot.service.admin(owner, "audit 50")
    assert len(bot.last_text) <= messages.LIST_BUDGET and "more" in bot.last_text


def test_texts_are_cut_where_telegram_counts_utf16_units() -> None:
    emoji = "😀" * 3000  # two UTF-16 units each
    cut = messages.fit(emoji, 4096, utf16=True)
    assert messages.utf16_units(cut) <= 4096 and cut.endswith("…")
    assert messages.fit("short", 4096, utf16=True) == "short"


# 4. a Discord server is one place ------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_servers_bans_switch_and_limits_cover_its_other_channels_and_threads(
    make_bot: MakeBot, make_config: MakeConfig
) -> None:
    bot = await idle_bot(make_bot, make_config)
    general = ChatRef("discord", "1001", is_group=True, server="42")
    thread = ChatRef("discord", "1002", is_group=True, server="42")  # a thread in another channel
    elsewhere = ChatRef("discord", "2001", is_group=True, server="77")
    troll = UserRef("discord", "5", "Troll")
    admin = bot.req(UserRef("discord", "6", "Mod"), general, admin=True)

    await bot.service.admin(admin, "ban discord:5 spam")
    await bot.service.video_text(bot.req(troll, thread), "a cat")
    assert bot.last_text == "You can't use this bot: an admin banned you (spam)."
    assert await bot.service.video_text(bot.req(troll, elsewhere), "a cat") is not None  # not their server

    await bot.service.admin(admin, "settings max_frames 4")
    await bot.service.video_text(bot.req(MALLORY, thread), "a cat --frames 8")
    assert bot.last_text.startswith("--frames must be between")
    await bot.service.admin(admin, "settings enabled off")
    assert await bot.service.video_text(bot.req(MALLORY, thread), "a cat") is None
    # and the other server's admin reaches none of it
    await bot.service.admin(bot.req(UserRef("discord", "8"), elsewhere, admin=True), "unban discord:5")
    assert "not banned" in bot.last_text


# 17. a busy group is not throttled by the bot's own chatter ----------------------------------


class InstantRenderer(Renderer):
    """A stand-in GPU that renders at once: what is left to measure is the chat traffic."""

    def load(self) -> None:
        self.pipe = object()

    def render_batch(self, batch: Any, on_step: Any = None, should_stop: Any = ()) -> list[Any]:
        clips = []
        for index, params in enumerate(batch):
            for step in range(1, params.steps + 1):
                if on_step is not None:
                    on_step(index, step, params.steps)
            clips.append(
                RenderedClip(
                    np.zeros((params.frames, params.height, params.width, 3), dtype=np.uint8), params.fps
                )
            )
        return clips


@pytest.mark.asyncio
async def test_a_burst_in_one_group_costs_about_two_group_calls_a_clip(
    make_bot: MakeBot, make_config: MakeConfig
) -> None:
    config = make_config(queue={"board_interval_s": 0.2, "max_total": 100})
    bot = await make_bot(config=config, renderer=InstantRenderer("tiny", tuning=COLD))
    people = [UserRef("telegram", str(300 + n), f"P{n}") for n in range(20)]
    for person in people:
        await bot.service.video_text(bot.req(person, GROUP), "a cat")
    await eventually(lambda: len(bot.outbox.videos) == 20, timeout=60, what="all 20 clips")
    board = await bot.outbox.wait_for_text("All 20 videos are done")
    in_group = [r for r in bot.outbox.records if r.chat == GROUP]
    assert len(in_group) <= 2 * 20, [r.kind for r in in_group]
    assert sum(r.kind == "text" for r in in_group) <= 3 + 1  # acks before the group got busy, and the board
    assert board.kind in ("edit", "text")
    assert {r.kind for r in in_group} <= {"text", "edit", "video", "activity"}
    # a quiet chat keeps its own progress: a message and edits per job
    await bot.video("a dog", MALLORY, chat=PRIVATE)
    await eventually(lambda: len(bot.outbox.videos) == 21, what="the private clip")
    assert any(r.kind == "edit" and r.chat == PRIVATE for r in bot.outbox.records)


# 10. after the job is stored, nothing may look like a refusal ----------------------------------


@pytest.mark.asyncio
async def test_a_failure_after_the_job_is_stored_is_not_reported_as_nothing_charged(
    make_bot: MakeBot, make_config: MakeConfig
) -> None:
    config = make_config()
    others: list[sqlite3.Connection] = []

    def lock_when_acknowledged(chat: ChatRef, text: str) -> None:
        if text.startswith("⏳"):  # the job is in; now the ack's bookkeeping meets a locked file
            others.append(sqlite3.connect(config.data_dir / DB_FILE, isolation_level=None))
            others[0].execute("BEGIN IMMEDIATE")

    outbox = RecordingOutbox(on_send_text=lock_when_acknowledged)
    bot = await make_bot(config=config, renderer=Renderer("tiny", tuning=COLD), worker=False, outbox=outbox)
    try:
        job = await bot.service.video_text(bot.req(MALLORY), "a cat")
    finally:
        for other in others:
            other.execute("ROLLBACK")
            other.close()
    assert others, "the ack was sent, and the file locked after it"
    assert job is not None and bot.job(job.id).status == JobStatus.QUEUED
    assert "nothing was charged" not in bot.outbox.everything_said()
    assert bot.used_today(MALLORY) == 1  # charged once; a retry is not needed
