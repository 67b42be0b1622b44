"""Files people send the bot (`/verify`): a crafted MP4 is refused before c2pa reads it, the
checks run in a pool of their own with a bounded backlog and a pace per person, and a
render goes on whatever they send; every damaged signed clip still gets a verdict."""

from __future__ import annotations

import asyncio
import random
import struct
import threading
from pathlib import Path
from typing import Any

import pytest

from bot.core.credentials import CredentialsCheck, CredentialsState, Upload
from bot.domain import JobStatus, UserRef
from bot.provenance import check_clip
from bot.provenance.boxes import MAX_BOXES, TooManyBoxes, count_boxes
from bot.provenance.identity import ensure_local_identity
from tests.harness.core import ALICE, BOB, PLATFORM, CoreBot, MakeBot
from tests.harness.pictures import coffee_jpeg, encode, photo
from tests.harness.polling import eventually
from tests.test_pictures import pictures_config
from tests.test_provenance import signed_clip


def upload(data: bytes) -> Upload:
    async def fetch() -> bytes:
        return data

    return Upload(len(data), fetch)


def box_flood(boxes: int) -> bytes:
    """An `ftyp` and then `boxes` empty `free` boxes: c2pa's reader is quadratic in them."""
    ftyp = struct.pack(">I4s4sI4s", 20, b"ftyp", b"isom", 0, b"isom")
    return ftyp + struct.pack(">I4s", 8, b"free") * boxes


def test_a_file_of_absurdly_many_boxes_is_refused_before_c2pa_reads_it(tmp_path: Path) -> None:
    flood = box_flood(50_000)  # 400 KB: 22 s in c2pa's reader
    with pytest.raises(TooManyBoxes):
        count_boxes(flood)
    assert check_clip(flood) == CredentialsCheck(CredentialsState.UNREADABLE)
    clip = signed_clip(tmp_path / "ok.mp4", ensure_local_identity(tmp_path / "data"))
    assert count_boxes(clip.read_bytes()) < MAX_BOXES // 10  # our own clips are far below the limit
    assert check_clip(clip.read_bytes()).state == CredentialsState.VALID


def test_every_bit_flipped_signed_clip_gets_a_verdict(tmp_path: Path) -> None:
    data = bytearray(signed_clip(tmp_path / "ok.mp4", ensure_local_identity(tmp_path / "data")).read_bytes())
    rng = random.Random(7)
    verdicts = []
    for _ in range(150):
        flipped = bytearray(data)
        for _ in range(4):
            flipped[rng.randrange(len(flipped))] ^= 1 << rng.randrange(8)
        verdicts.append(check_clip(bytes(flipped)).state)  # never raises
    assert len(verdicts) == 150 and CredentialsState.ALTERED in verdicts


@pytest.mark.asyncio
async def test_checks_people_send_cannot_stall_a_render_and_are_paced(make_bot: MakeBot) -> None:
    bot = await make_bot()
    release = threading.Event()
    started = 0

    def stuck_check(data: Path | bytes) -> CredentialsCheck:
        nonlocal started
        started += 1
        release.wait(60)  # a file that takes c2pa forever
        return CredentialsCheck(CredentialsState.MISSING)

    bot.service.rooms.check_clip = stuck_check
    people = [UserRef(PLATFORM, str(n), f"P{n}") for n in range(100, 110)]
    checks = [asyncio.ensure_future(bot.service.verify(bot.req(p), upload(b"x" * 100))) for p in people]
    try:
        job = await bot.video("renders meanwhile --frames 8 --steps 2")
        await bot.until_status(job.id, JobStatus.DONE, timeout=60)
        limit = bot.config.provenance.verify_threads + bot.config.provenance.verify_backlog
        busy = [t for t in bot.outbox.texts if "checking other people's files" in t]
        assert len(busy) == len(people) - limit
        await bot.service.verify(bot.req(people[0]), upload(b"again"))
        assert "One check at a time" in bot.last_text
    finally:
        release.set()
        await asyncio.gather(*checks)
    assert started <= limit


# pictures to animate go through the same gate (#32, G5) ------------------------------------------


def counted_upload(data: bytes, fetched: list[bytes]) -> Upload:
    async def fetch() -> bytes:
        fetched.append(data)
        return data

    return Upload(len(data), fetch)


def kept_pictures(bot: CoreBot) -> list[Path]:
    folder = bot.config.data_dir / "pictures"
    return sorted(folder.iterdir()) if folder.is_dir() else []


@pytest.mark.asyncio
async def test_a_picture_over_quota_is_refused_before_a_byte_is_downloaded(
    make_bot: MakeBot, tmp_path: Path
) -> None:
    bot = await make_bot(config=pictures_config(tmp_path, quota={"daily": 1}))
    await bot.video("the day's one clip --model ltx")
    fetched: list[bytes] = []
    assert (
        await bot.service.video_text(
            bot.req(), "it moves --model ltx", picture=counted_upload(coffee_jpeg(), fetched)
        )
        is None
    )
    assert bot.last_text.startswith("Daily limit of 1 clip reached"), bot.last_text
    assert fetched == [] and kept_pictures(bot) == []


@pytest.mark.asyncio
async def test_pictures_are_paced_per_person_before_they_are_downloaded(
    make_bot: MakeBot, tmp_path: Path
) -> None:
    bot = await make_bot(config=pictures_config(tmp_path, video={"picture_every_s": 60}))
    fetched: list[bytes] = []
    assert await bot.service.video_text(
        bot.req(), "one --model ltx", picture=counted_upload(coffee_jpeg(), fetched)
    )
    again = counted_upload(encode(photo("chelsea")), fetched)
    assert await bot.service.video_text(bot.req(), "two --model ltx", picture=again) is None
    assert (
        bot.last_text.startswith("One picture at a time, please") and "Nothing was charged" in bot.last_text
    )
    assert len(fetched) == 1 and len(kept_pictures(bot)) == 1
    other = await bot.service.video_text(
        bot.req(BOB), "hers --model ltx", picture=counted_upload(coffee_jpeg(), fetched)
    )
    assert other is not None  # the pace is each person's own


@pytest.mark.asyncio
async def test_one_persons_hostile_pictures_do_not_hold_up_anothers(
    make_bot: MakeBot, tmp_path: Path
) -> None:
    bot = await make_bot(config=pictures_config(tmp_path))
    gate = bot.service.rooms.admission.pictures
    assert gate is not None
    hostile, release = encode(photo("moon")), threading.Event()
    real_inspect, started = gate.inspect, threading.Event()

    def inspect(data: bytes, sizes: Any) -> Any:
        if data == hostile:  # a file that keeps its check busy for as long as it can
            started.set()
            release.wait(60)
        return real_inspect(data, sizes)

    gate.inspect = inspect
    bob = asyncio.ensure_future(
        bot.service.video_text(bot.req(BOB), "night sky --model ltx", picture=upload(hostile))
    )
    try:
        await eventually(started.is_set, what="Bob's hostile picture to be in its check")
        fetched: list[bytes] = []
        more = counted_upload(hostile + b"\0", fetched)
        assert await bot.service.video_text(bot.req(BOB), "more sky --model ltx", picture=more) is None
        assert bot.last_text.startswith("One picture at a time, please") and fetched == []
        alice = await bot.service.video_text(
            bot.req(ALICE), "steam --model ltx", picture=upload(coffee_jpeg())
        )
        assert alice is not None and not bob.done()  # answered while Bob's check still runs
    finally:
        release.set()
        await bob
    assert bob.result() is not None
