"""Group prompt challenges, driven through the real python-telegram-bot and the fake Bot API."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bot.core.challenges import check_start, parse_duration, parse_start
from bot.core.parsing import CommandError
from bot.core.quota import quota_day
from bot.domain import ChatRef, JobStatus
from bot.settings.sections import ChallengeConfig
from tests.fakes.telegram_api import ApiCall, FakeTelegram
from tests.harness.clock import ManualClock
from tests.harness.config import MakeConfig
from tests.harness.polling import eventually
from tests.harness.telegram import TelegramBot, replying_to, start_bot

GROUP = -1002
GROUP_CHAT = ChatRef("telegram", str(GROUP), True)
ADA, BEN, CAL, DEE = 41, 42, 43, 44


@pytest.fixture
def fake(telegram_fake: FakeTelegram) -> FakeTelegram:
    """The fake Telegram, where Ada is the group's admin."""
    telegram_fake.admins[GROUP] = {ADA}
    return telegram_fake


def text_call(fragment: str) -> Callable[[ApiCall], bool]:
    return lambda call: fragment in str(call.params.get("text", ""))


async def entry(bot: TelegramBot, user: int, prompt: str, name: str) -> ApiCall:
    """Enter and wait for the entry's clip."""
    bot.fake.send_message(GROUP, user, f"/challenge enter {prompt}", first_name=name)
    return await bot.fake.wait_for_call("sendVideo", lambda c: prompt in c.params["caption"], timeout=20)


def vote_label(call: ApiCall) -> str:
    return str(call.params["reply_markup"]["inline_keyboard"][0][0]["text"])


@pytest.mark.parametrize(
    ("argument", "theme", "duration", "entries", "words"),
    [
        ("robots 2h", "robots", 7200, 1, ()),
        ("space cats 1d12h 3 neon, moon", "space cats", 129600, 3, ("neon", "moon")),
        ('"the 90s" 30m 2', "the 90s", 1800, 2, ()),
        ("just a theme", "just a theme", 86400, 1, ()),
        ("the 90s 2h", "the 90s", 7200, 1, ()),
        ("robots in 3d 2h 2", "robots in 3d", 7200, 2, ()),
    ],
)
def test_start_arguments_are_parsed(
    argument: str, theme: str, duration: float, entries: int, words: tuple[str, ...]
) -> None:
    parsed = check_start(parse_start(argument), ChallengeConfig())
    assert (parsed.theme, parsed.duration_s, parsed.max_entries_per_user, parsed.required_words) == (
        theme,
        duration,
        entries,
        words,
    )


@pytest.mark.parametrize(
    ("argument", "key"),
    [("", "challenge_usage"), ("robots 45d", "challenge_bad_duration"), ("robots 2h 99", "out_of_range")],
)
def test_bad_start_arguments_name_the_problem(argument: str, key: str) -> None:
    with pytest.raises(CommandError) as error:
        check_start(parse_start(argument), ChallengeConfig())
    assert error.value.key == key


def test_durations() -> None:
    assert parse_duration("90s") == 90 and parse_duration("1h30m") == 5400 and parse_duration("soon") is None


@pytest.mark.asyncio
async def test_a_full_challenge_with_a_restart_in_the_middle(
    fake: FakeTelegram, make_config: MakeConfig
) -> None:
    clock = ManualClock(start=None)  # wall time, moved on by hand: deadlines pass without waiting

    async with start_bot(fake, make_config, clock, admin={"owners": [f"telegram:{ADA}"]}) as bot:
        start = fake.send_message(
            GROUP, ADA, "/challenge start robots at the beach 1h 2 robot --free", first_name="Ada"
        )
        announcement = await fake.wait_for_call("sendMessage", replying_to(start))
        assert "New challenge: “robots at the beach”" in announcement.params["text"]
        assert (
            "must contain: robot" in announcement.params["text"]
            and "Voting closes in 1 h." in announcement.params["text"]
        )
        announcement_id = announcement.result["message_id"]

        refused = fake.send_message(GROUP, BEN, "/challenge start another 1h", first_name="Ben")
        answer = await fake.wait_for_call("sendMessage", replying_to(refused))
        assert answer.params["text"] == "Only admins of this chat can start or end a challenge."

        missing = fake.send_message(GROUP, BEN, "/challenge enter a dog surfing", first_name="Ben")
        answer = await fake.wait_for_call("sendMessage", replying_to(missing))
        assert answer.params["text"] == "This challenge needs these words in the prompt: robot."

        ben_clip = await entry(bot, BEN, "a robot building sandcastles", "Ben")
        assert ben_clip.params["reply_parameters"]["message_id"] == announcement_id
        assert vote_label(ben_clip) == "👍 0"
        cal_clip = await entry(bot, CAL, "a robot surfing at dawn", "Cal")
        assert "Cal's entry for “robots at the beach”" in cal_clip.params["caption"]
        await eventually(lambda: len(bot.service.store.jobs.with_status(JobStatus.DONE)) == 2)
        ben_job, cal_job = (j.id for j in bot.service.store.jobs.with_status(JobStatus.DONE))

        fake.press_button(GROUP, BEN, ben_clip.result["message_id"], f"v:vote:{ben_job}", first_name="Ben")
        self_vote = await fake.wait_for_call("answerCallbackQuery", lambda c: "text" in c.params)
        assert self_vote.params["text"] == "You can't vote for your own entry."

        for voter in (CAL, DEE):
            fake.press_button(GROUP, voter, ben_clip.result["message_id"], f"v:vote:{ben_job}")
            counted = await fake.wait_for_call("answerCallbackQuery", lambda c: "text" in c.params)
            assert counted.params["text"].startswith("👍 Vote counted")
        fake.press_button(GROUP, BEN, cal_clip.result["message_id"], f"v:vote:{cal_job}")
        await fake.wait_for_call("answerCallbackQuery", lambda c: "text" in c.params)
        fake.press_button(GROUP, DEE, cal_clip.result["message_id"], f"v:vote:{cal_job}")
        await fake.wait_for_call("answerCallbackQuery", lambda c: "text" in c.params)
        # Pressing again takes the vote back: one vote per user per entry.
        fake.press_button(GROUP, DEE, cal_clip.result["message_id"], f"v:vote:{cal_job}")
        taken_back = await fake.wait_for_call("answerCallbackQuery", lambda c: "text" in c.params)
        assert taken_back.params["text"] == "Vote taken back (1 left)."
        relabel = await fake.wait_for_call(
            "editMessageReplyMarkup", lambda c: c.params["message_id"] == ben_clip.result["message_id"]
        )
        assert vote_label(relabel).startswith("👍 ")

        status = fake.send_message(GROUP, DEE, "/challenge status")
        answer = await fake.wait_for_call("sendMessage", replying_to(status))
        assert "2 entries" in answer.params["text"] and "1. Ben · " in answer.params["text"]
        assert f"#{ben_job} · 👍 2" in answer.params["text"]
    assert fake.calls_of("sendMessage")[-1].params["text"] != "🏆"

    # The bot is down while the deadline passes; it closes the challenge when it is back.
    clock.advance(3601)
    async with start_bot(fake, make_config, clock) as bot:
        winner = await fake.wait_for_call("sendMessage", text_call("is over"))
        assert (
            winner.params["text"]
            == "🏆 “robots at the beach” is over! The winner is Ben with 2 votes (entry #1)."
        )
        assert winner.params["reply_parameters"]["message_id"] == ben_clip.result["message_id"]

        late = fake.send_message(GROUP, DEE, "/challenge enter a robot too late")
        answer = await fake.wait_for_call("sendMessage", replying_to(late))
        assert answer.params["text"] == "There is no challenge running in this chat."
        fake.press_button(GROUP, DEE, cal_clip.result["message_id"], f"v:vote:{cal_job}")
        closed = await fake.wait_for_call("answerCallbackQuery", lambda c: "text" in c.params)
        assert closed.params["text"] == "Voting for this challenge is closed."

        board = fake.send_message(GROUP, DEE, "/leaderboard")
        answer = await fake.wait_for_call("sendMessage", replying_to(board))
        assert answer.params["text"] == "🏆 Leaderboard\n1. Ben · 1 win · 2 votes\n2. Cal · 0 wins · 1 vote"
        assert (
            bot.service.store.quota.used_today(
                f"telegram:{BEN}", quota_day(bot.service.clock(), bot.service.config.quota)
            )
            == 0
        )
    assert len([c for c in fake.calls_of("sendMessage") if "is over" in c.params["text"]]) == 1


@pytest.mark.asyncio
async def test_the_deadline_timer_closes_voting_and_ties_share_the_win(
    fake: FakeTelegram, make_config: MakeConfig
) -> None:
    clock = ManualClock(start=None)  # wall time, moved on by hand: deadlines pass without waiting
    async with start_bot(fake, make_config, clock, challenges={"check_every_s": 0.05}) as bot:
        fake.send_message(GROUP, ADA, "/challenge start tiny worlds 1h 1", first_name="Ada")
        await fake.wait_for_call("sendMessage", text_call("New challenge"))
        ben_clip = await entry(bot, BEN, "a tiny forest", "Ben")
        cal_clip = await entry(bot, CAL, "a tiny city", "Cal")
        too_many = fake.send_message(GROUP, CAL, "/challenge enter another tiny city", first_name="Cal")
        answer = await fake.wait_for_call("sendMessage", replying_to(too_many))
        assert answer.params["text"] == "You already entered 1 time, the most this challenge allows."
        for clip, voter in ((ben_clip, CAL), (cal_clip, BEN)):
            job = bot.service.job_for_message(GROUP_CHAT, str(clip.result["message_id"]))
            assert job is not None
            fake.press_button(GROUP, voter, clip.result["message_id"], f"v:vote:{job.id}")
            await fake.wait_for_call("answerCallbackQuery", lambda c: "text" in c.params)
        assert not any("is over" in c.params["text"] for c in fake.calls_of("sendMessage"))
        clock.advance(3600)  # the running timer sees the deadline pass; no restart involved
        result = await fake.wait_for_call("sendMessage", text_call("is over"))
        assert result.params["text"] == "🏆 “tiny worlds” is over! A tie at 1 vote: Ben, Cal share the win."


@pytest.mark.asyncio
async def test_only_the_bots_owners_start_free_challenges(
    fake: FakeTelegram, make_config: MakeConfig
) -> None:
    """Free entries skip the daily quota: a group of one's own must not make it unlimited."""
    async with start_bot(fake, make_config) as bot:
        start = fake.send_message(GROUP, ADA, "/challenge start robots 1h 5 --free", first_name="Ada")
        answer = await fake.wait_for_call("sendMessage", replying_to(start))
        assert answer.params["text"].startswith("Only the bot's owners can start a --free challenge")
        assert bot.service.store.challenges.all_open() == []


@pytest.mark.asyncio
async def test_admins_end_or_cancel_early_and_quota_counts_unless_free(
    fake: FakeTelegram, make_config: MakeConfig
) -> None:
    async with start_bot(fake, make_config) as bot:
        fake.send_message(GROUP, ADA, "/challenge start sunsets 2h", first_name="Ada")
        await fake.wait_for_call("sendMessage", text_call("New challenge"))
        await entry(bot, BEN, "a sunset over the sea", "Ben")
        assert (
            bot.service.store.quota.used_today(
                f"telegram:{BEN}", quota_day(bot.service.clock(), bot.service.config.quota)
            )
            == 1
        )
        stranger = fake.send_message(GROUP, BEN, "/challenge end")
        answer = await fake.wait_for_call("sendMessage", replying_to(stranger))
        assert answer.params["text"] == "Only admins of this chat can start or end a challenge."
        fake.send_message(GROUP, ADA, "/challenge cancel")
        cancelled = await fake.wait_for_call("sendMessage", text_call("was cancelled"))
        assert "“sunsets”" in cancelled.params["text"]

        fake.send_message(GROUP, ADA, "/challenge start moons 2h")
        await fake.wait_for_call("sendMessage", text_call("New challenge: “moons”"))
        fake.send_message(GROUP, ADA, "/challenge end")
        ended = await fake.wait_for_call("sendMessage", text_call("is over"))
        assert ended.params["text"] == "🏁 “moons” is over, with no votes cast: no winner this time."
        audit = [e.action for e in bot.service.store.audit.entries(10)]
        assert audit[:4] == ["challenge end", "challenge start", "challenge cancel", "challenge start"]
        await eventually(lambda: bot.service.store.challenges.all_open() == [])
