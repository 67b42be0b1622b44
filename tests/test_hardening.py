"""What a hostile or unlucky user finds: each finding of the review, checked through the core."""

from __future__ import annotations

import pytest

from bot.core.types import ChatRef, UserRef
from bot.render import Renderer
from tests.harness.clock import ManualClock
from tests.harness.config import MakeConfig
from tests.harness.core import CoreBot, MakeBot

GROUP = ChatRef("telegram", "-100700", is_group=True)
OTHER_CHAT = ChatRef("telegram", "-100800", is_group=True)
PRIVATE = ChatRef("telegram", "55")
MALLORY = UserRef("telegram", "66", "Mallory")
VICTIM = UserRef("telegram", "55", "Vic")
OWNER = UserRef("telegram", "99", "Olga")


async def idle_bot(make_bot: MakeBot, make_config: MakeConfig, **sections: dict[str, object]) -> CoreBot:
    """Admission only: no worker, so jobs stay in line."""
    config = make_config(admin={"owners": [OWNER.key]}, **sections)  # type: ignore[arg-type]
    return await make_bot(config=config, renderer=Renderer("tiny"), worker=False, clock=ManualClock())


# 1. free challenges ---------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_free_challenge_entries_skip_the_daily_count_but_not_the_queue_cap(
    make_bot: MakeBot, make_config: MakeConfig
) -> None:
    bot = await idle_bot(make_bot, make_config, quota={"daily": 20, "max_queued": 3})
    own_group = bot.req(MALLORY, GROUP, admin=True)  # anyone can make a group and be its admin
    entered = 0
    for round_ in range(10):
        await bot.service.challenge(own_group, f"start round {round_} 2h 10 --free")
        for _ in range(10):
            before = len(bot.store.jobs.queued_of(MALLORY.key))
            await bot.service.challenge(own_group, "enter a cat")
            entered += len(bot.store.jobs.queued_of(MALLORY.key)) - before
        await bot.service.challenge(own_group, "end")
    assert entered == 3  # max_queued, whatever the challenges say
    assert any("waiting (at most 3)" in text for text in bot.outbox.texts)
    assert bot.used_today(MALLORY) == 0  # free entries are free of the daily count


@pytest.mark.asyncio
async def test_free_entries_obey_the_rate_limit(make_bot: MakeBot, make_config: MakeConfig) -> None:
    bot = await idle_bot(make_bot, make_config, quota={"per_minute": 1.0, "burst": 1, "max_queued": 10})
    own_group = bot.req(MALLORY, GROUP, admin=True)
    await bot.service.challenge(own_group, "start cats 2h 10 --free")
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
