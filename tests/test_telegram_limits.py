"""The Telegram rate limiter: Telegram's budgets, answers to people first, decoration dropped.

Driven through python-telegram-bot's real `Bot` against the loopback fake Bot API, with a
manual clock so the budgets' refills happen when the test says.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

import pytest
import pytest_asyncio
from telegram.constants import ChatAction
from telegram.ext import ApplicationBuilder, ExtBot

from bot.telegrambot.limits import ANSWER, WORK, LaneRateLimiter
from tests.fakes.telegram_api import FakeTelegram
from tests.harness.clock import ManualClock
from tests.harness.polling import eventually

GROUP = -100123
PERSON = 42


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as tg:
        yield tg


def bot_for(fake: FakeTelegram, limiter: LaneRateLimiter) -> ExtBot[Any]:
    app = ApplicationBuilder().token(fake.token).base_url(fake.base_url).rate_limiter(limiter).build()
    return app.bot


def sent_texts(fake: FakeTelegram) -> list[str]:
    return [
        str(call.params.get("text"))
        for call in fake.calls
        if call.method in {"sendMessage", "editMessageText"}
    ]


def has_sent(fake: FakeTelegram, count: int) -> bool:
    return len(sent_texts(fake)) == count


@pytest.mark.asyncio
async def test_an_answer_to_a_person_overtakes_work_already_waiting(fake: FakeTelegram) -> None:
    clock = ManualClock(1000.0)
    limiter = LaneRateLimiter(overall_per_s=1, clock=clock)
    async with bot_for(fake, limiter) as bot:
        first = await bot.send_message(PERSON, "first")  # spends the second's budget
        work = [
            asyncio.create_task(bot.edit_message_text(f"edit {n}", PERSON, first.message_id)) for n in (1, 2)
        ]
        await eventually(lambda: len(limiter.waiting) == 2)
        answer = asyncio.create_task(bot.send_message(PERSON, "queued #7"))
        await eventually(lambda: len(limiter.waiting) == 3)
        for sent in (2, 3, 4):
            clock.advance(1.0)
            limiter.changed.set()
            await eventually(partial(has_sent, fake, sent))
        await asyncio.gather(answer, *work)
    assert sent_texts(fake) == ["first", "queued #7", "edit 1", "edit 2"]


@pytest.mark.asyncio
async def test_the_caller_says_the_lane_and_the_endpoint_is_only_a_fallback(fake: FakeTelegram) -> None:
    """`rate_limit_args` names the lane per call: a message said to be work waits its turn behind
    earlier work, and an edit said to be an answer overtakes both (the endpoints say the opposite)."""
    clock = ManualClock(1000.0)
    limiter = LaneRateLimiter(overall_per_s=1, clock=clock)
    async with bot_for(fake, limiter) as bot:
        first = await bot.send_message(PERSON, "first")  # spends the second's budget
        board = asyncio.create_task(bot.send_message(PERSON, "board", rate_limit_args=WORK))
        await eventually(lambda: len(limiter.waiting) == 1)
        edit = asyncio.create_task(bot.edit_message_text("edit", PERSON, first.message_id))
        await eventually(lambda: len(limiter.waiting) == 2)
        answer = asyncio.create_task(
            bot.edit_message_text("answer", PERSON, first.message_id, rate_limit_args=ANSWER)
        )
        await eventually(lambda: len(limiter.waiting) == 3)
        for sent in (2, 3, 4):
            clock.advance(1.0)
            limiter.changed.set()
            await eventually(partial(has_sent, fake, sent))
        await asyncio.gather(board, edit, answer)
    assert sent_texts(fake) == ["first", "answer", "board", "edit"]


@pytest.mark.asyncio
async def test_part_of_the_budget_is_kept_for_answers(fake: FakeTelegram) -> None:
    """3 calls a second: work may spend 2 of the burst; the third is an answer's, at once."""
    clock = ManualClock(1000.0)
    limiter = LaneRateLimiter(overall_per_s=3, clock=clock)
    async with bot_for(fake, limiter) as bot:
        first = await bot.send_video(PERSON, b"clip")
        await bot.edit_message_caption(PERSON, first.message_id, caption="one")
        held = asyncio.create_task(bot.edit_message_caption(PERSON, first.message_id, caption="two"))
        await eventually(lambda: len(limiter.waiting) == 1)
        answer = await bot.send_message(PERSON, "queued #8")  # no clock change needed
        assert answer.text == "queued #8" and not held.done()
        clock.advance(1.0)
        limiter.changed.set()
        await held


@pytest.mark.asyncio
async def test_a_chat_action_that_would_wait_is_dropped_not_queued(fake: FakeTelegram) -> None:
    clock = ManualClock(1000.0)
    limiter = LaneRateLimiter(overall_per_s=1, clock=clock)
    async with bot_for(fake, limiter) as bot:
        assert await bot.send_chat_action(PERSON, ChatAction.UPLOAD_VIDEO)  # budget free: sent
        assert await bot.send_chat_action(PERSON, ChatAction.UPLOAD_VIDEO)  # none left: dropped
    assert len(fake.calls_of("sendChatAction")) == 1
    assert not limiter.waiting


@pytest.mark.asyncio
async def test_a_group_over_its_minute_budget_waits_without_holding_back_other_chats(
    fake: FakeTelegram,
) -> None:
    clock = ManualClock(1000.0)
    limiter = LaneRateLimiter(overall_per_s=100, group_per_min=2, clock=clock)
    async with bot_for(fake, limiter) as bot:
        await bot.send_message(GROUP, "g1")
        await bot.send_message(GROUP, "g2")
        third = asyncio.create_task(bot.send_message(GROUP, "g3"))
        await eventually(lambda: len(limiter.waiting) == 1)
        await bot.send_message(PERSON, "private")  # another chat: not held by the group's budget
        assert sent_texts(fake) == ["g1", "g2", "private"]
        clock.advance(30.0)  # one call's worth of the group's minute
        limiter.changed.set()
        await third
    assert sent_texts(fake) == ["g1", "g2", "private", "g3"]


@pytest.mark.asyncio
async def test_a_flood_answer_pauses_and_retries(fake: FakeTelegram) -> None:
    fake.inject_fault("sendMessage", 429, retry_after=1)
    async with bot_for(fake, LaneRateLimiter(max_retries=2)) as bot:
        message = await bot.send_message(PERSON, "after flood")
    assert message.text == "after flood"
    assert [call.status for call in fake.calls_of("sendMessage")] == [429, 200]


@pytest.mark.asyncio
async def test_without_retries_a_flood_answer_reaches_the_caller(fake: FakeTelegram) -> None:
    from telegram.error import RetryAfter

    fake.inject_fault("sendMessage", 429, retry_after=1)
    async with bot_for(fake, LaneRateLimiter(max_retries=0)) as bot:
        with pytest.raises(RetryAfter):
            await bot.send_message(PERSON, "flood")


class _Recording(LaneRateLimiter):
    """The real limiter, noting what each caller said about its call."""

    def __init__(self) -> None:
        super().__init__()
        self.said: list[tuple[str, object]] = []

    async def process_request(
        self, callback: Any, args: Any, kwargs: Any, endpoint: str, data: Any, rate_limit_args: Any
    ) -> Any:  # type: ignore[override]
        self.said.append((endpoint, rate_limit_args))
        return await super().process_request(callback, args, kwargs, endpoint, data, rate_limit_args)


@pytest.mark.asyncio
async def test_the_outbox_says_which_sends_answer_a_person(fake: FakeTelegram) -> None:
    """A reply is an answer, a text of its own and an edit are work, "uploading…" is decoration."""
    from bot.domain import ChatRef
    from bot.telegram_adapter import TelegramOutbox
    from bot.telegrambot.limits import DECORATION

    limiter = _Recording()
    app = ApplicationBuilder().token(fake.token).base_url(fake.base_url).rate_limiter(limiter).build()
    outbox = TelegramOutbox(app, 1_000_000)
    chat = ChatRef("telegram", str(PERSON), False)
    async with app.bot:
        own = await outbox.send_text(chat, "board")
        assert own is not None
        await outbox.send_text(chat, "answer", reply_to=own)
        await outbox.edit_text(chat, own, "board, later")
        await outbox.show_activity(chat)
    said = [(endpoint, lane) for endpoint, lane in limiter.said if endpoint != "getMe"]
    assert said == [
        ("sendMessage", WORK),
        ("sendMessage", ANSWER),
        ("editMessageText", WORK),
        ("sendChatAction", DECORATION),
    ]
