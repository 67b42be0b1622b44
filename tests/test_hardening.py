"""What a hostile or unlucky user finds: each finding of the review, checked through the core."""

from __future__ import annotations

import pytest

from bot.core.types import ChatRef, JobStatus, UserRef
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
