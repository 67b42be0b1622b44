"""/queue before any clip is timed says when an ETA comes, never "ETA ~?" (#34)."""

from __future__ import annotations

import pytest

from tests.harness.core import MakeBot


@pytest.mark.asyncio
async def test_queue_before_the_first_clip_is_timed_has_no_question_mark(make_bot: MakeBot) -> None:
    bot = await make_bot(worker=False)
    job = await bot.video("a cat")
    await bot.service.queue_status(bot.req())
    assert f"Your video #{job.id}: #1 in line · ETA after the first clip is timed" in bot.last_text
    assert "?" not in bot.last_text
