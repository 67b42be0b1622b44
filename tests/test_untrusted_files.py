"""Files people send the bot (`/verify`): a crafted MP4 is refused before c2pa reads it, the
checks run in a pool of their own with a bounded backlog and a pace per person, and a
render goes on whatever they send; every damaged signed clip still gets a verdict."""

from __future__ import annotations

import asyncio
import random
import struct
import threading
from pathlib import Path

import pytest

from bot.core.credentials import CredentialsCheck, CredentialsState, Upload
from bot.core.types import JobStatus, UserRef
from bot.provenance import check_clip
from bot.provenance.boxes import MAX_BOXES, TooManyBoxes, count_boxes
from bot.provenance.identity import ensure_local_identity
from tests.harness.core import PLATFORM, MakeBot
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
