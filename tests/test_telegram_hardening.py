"""Telegram's sharp edges, each found by a security review: who a sender really is (channels,
anonymous admins), forum topics, stale admin rights, crafted button data, tokens in logs and
the webhook's secret. Driven through the real python-telegram-bot against the fake Bot API."""

from __future__ import annotations

import hmac
import io
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
import telegram

from bot import cli, telegram_adapter
from bot.domain import JobStatus, UserRef
from bot.logs import RedactSecrets
from bot.settings.sections import Secrets
from bot.telegram_adapter import WEBHOOK_PATH
from tests.fakes.telegram_api import CHANNEL_BOT, GROUP_ANONYMOUS_BOT, ApiCall, FakeTelegram
from tests.harness.config import MakeConfig, tiny_settings, to_toml
from tests.harness.polling import eventually
from tests.harness.telegram import TelegramBot, in_topic, replying_to, start_bot

GROUP = -1003
FORUM = -1004
CHANNEL, OTHER_CHANNEL = -100111, -100222
ANN, BOB, ADA, CAL = 11, 22, 33, 44
ADMIN_ONLY = "Only admins of this chat can use /admin."


@pytest.fixture
def fake(telegram_fake: FakeTelegram) -> FakeTelegram:
    """The fake Telegram, where Ada administers the group and the forum."""
    telegram_fake.admins[GROUP] = {ADA}
    telegram_fake.admins[FORUM] = {ADA}
    return telegram_fake


@pytest_asyncio.fixture
async def bot(fake: FakeTelegram, make_config: MakeConfig) -> AsyncIterator[TelegramBot]:
    # Long enough that only a chat_member update can change what the adapter believes.
    async with start_bot(fake, make_config, telegram={"admin_cache_s": 3600}) as running:
        yield running


async def answer_to(bot: TelegramBot, message_id: int) -> str:
    call = await bot.fake.wait_for_call("sendMessage", replying_to(message_id))
    return str(call.params["text"])


def member_asks(fake: FakeTelegram, user_id: int | None = None) -> list[ApiCall]:
    return [
        c for c in fake.calls_of("getChatMember") if user_id is None or int(c.params["user_id"]) == user_id
    ]


# 1. sender_chat ------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_each_channel_posting_in_a_group_is_its_own_user_with_its_own_ban(bot: TelegramBot) -> None:
    fake = bot.fake
    post = fake.send_message(GROUP, ANN, "/video a cat", sender_chat=CHANNEL)
    assert (await answer_to(bot, post)).startswith("⏳ Queued")
    (job,) = bot.service.store.jobs.of_user(UserRef("telegram", str(CHANNEL)))
    assert job.user.name == f"Test chat {CHANNEL}"
    assert bot.service.store.jobs.of_user(UserRef("telegram", str(CHANNEL_BOT["id"]))) == []

    ban = fake.send_message(GROUP, ADA, "/admin ban spamming", first_name="Ada", reply_to_message_id=post)
    assert (await answer_to(bot, ban)).startswith(f"⛔ telegram:{CHANNEL} is banned (spamming)")

    again = fake.send_message(GROUP, ANN, "/video another cat", sender_chat=CHANNEL)
    assert await answer_to(bot, again) == "You can't use this bot: an admin banned you (spamming)."
    stranger = fake.send_message(GROUP, BOB, "/video a dog", sender_chat=OTHER_CHANNEL)
    assert (await answer_to(bot, stranger)).startswith("⏳ Queued")
    assert member_asks(fake, CHANNEL_BOT["id"]) == [] and member_asks(fake, CHANNEL) == []


@pytest.mark.asyncio
async def test_an_anonymous_admin_administers_its_own_group_and_a_channel_nothing(bot: TelegramBot) -> None:
    fake = bot.fake
    as_group = fake.send_message(GROUP, ADA, "/admin queue", sender_chat=GROUP)
    assert await answer_to(bot, as_group) != ADMIN_ONLY
    as_channel = fake.send_message(GROUP, ADA, "/admin queue", sender_chat=CHANNEL)
    assert await answer_to(bot, as_channel) == ADMIN_ONLY
    assert member_asks(fake) == []  # not for GroupAnonymousBot, Channel_Bot or the chats
    assert GROUP_ANONYMOUS_BOT["id"] != CHANNEL_BOT["id"]


# 2. forum topics -----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_in_a_forum_topic_a_bare_admin_ban_bans_nobody_but_a_real_reply_does(bot: TelegramBot) -> None:
    fake = bot.fake
    topic = fake.create_topic(FORUM, CAL, "clips", first_name="Cal")
    bare = fake.send_message(FORUM, ADA, "/admin ban spamming", first_name="Ada", topic=topic)
    assert (await answer_to(bot, bare)).startswith("Say which user")
    assert bot.service.store.audit.entries(5) == []

    bob = fake.send_message(FORUM, BOB, "hello", first_name="Bob", topic=topic)
    ban = fake.send_message(
        FORUM, ADA, "/admin ban spamming", first_name="Ada", topic=topic, reply_to_message_id=bob
    )
    assert (await answer_to(bot, ban)).startswith(f"⛔ telegram:{BOB} is banned")
    (entry,) = bot.service.store.audit.entries(5)
    assert entry.target == f"telegram:{BOB}"


@pytest.mark.asyncio
async def test_answers_and_clips_stay_in_their_forum_topic(bot: TelegramBot) -> None:
    fake = bot.fake
    topic = fake.create_topic(FORUM, ANN, "clips")
    command = fake.send_message(FORUM, ANN, "/video a quiet lake", topic=topic)
    ack = await fake.wait_for_call("sendMessage", replying_to(command))
    assert in_topic(topic)(ack)
    video = await fake.wait_for_call("sendVideo")
    assert in_topic(topic)(video)
    (job,) = await eventually(lambda: bot.service.store.jobs.with_status(JobStatus.DONE), what="delivery")
    assert job.params.prompt == "a quiet lake"  # the topic's creation message is no clip to reuse

    # The command is deleted before the answer: a reply to nothing would land in General.
    gone = fake.send_message(FORUM, ANN, "/help", topic=topic)
    fake.forget_message(FORUM, gone)
    answer = await fake.wait_for_call("sendMessage", lambda c: "/video <prompt>" in c.params["text"])
    assert in_topic(topic)(answer)

    fake.press_button(FORUM, BOB, video.result["message_id"], f"v:reroll:{job.id}", first_name="Bob")
    rerolled = await fake.wait_for_call("sendVideo")
    assert in_topic(topic)(rerolled)


@pytest.mark.asyncio
async def test_an_answer_still_arrives_when_its_topic_is_gone(bot: TelegramBot) -> None:
    fake = bot.fake
    topic = fake.create_topic(FORUM, ANN, "clips")
    command = fake.send_message(FORUM, ANN, "/help", topic=topic)
    fake.disable_topics(FORUM)
    answer = await fake.wait_for_call("sendMessage", lambda c: c.status == 200 and replying_to(command)(c))
    assert "/video <prompt>" in answer.params["text"] and "message_thread_id" not in answer.params
    (refused,) = [c for c in fake.calls_of("sendMessage") if c.status == 400]
    assert refused.params["message_thread_id"] == topic


# 3. admin cache ------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_demoted_admin_loses_admin_at_once(bot: TelegramBot) -> None:
    fake = bot.fake
    first = fake.send_message(GROUP, ADA, "/admin queue", first_name="Ada")
    assert await answer_to(bot, first) != ADMIN_ONLY
    assert "chat_member" in fake.calls_of("getUpdates")[-1].params["allowed_updates"]

    fake.set_member_status(GROUP, ADA, "member", first_name="Ada")
    await fake.wait_until_polling()
    demoted = fake.send_message(GROUP, ADA, "/admin queue", first_name="Ada")
    assert await answer_to(bot, demoted) == ADMIN_ONLY
    assert len(member_asks(fake, ADA)) == 1


@pytest.mark.asyncio
async def test_a_promotion_is_believed_without_asking_telegram(bot: TelegramBot) -> None:
    fake = bot.fake
    fake.set_member_status(GROUP, BOB, "administrator", first_name="Bob")
    await fake.wait_until_polling()
    promoted = fake.send_message(GROUP, BOB, "/admin queue", first_name="Bob")
    assert await answer_to(bot, promoted) != ADMIN_ONLY
    assert member_asks(fake, BOB) == []


@pytest.mark.asyncio
async def test_chat_administrators_are_asked_once_per_chat_and_user(bot: TelegramBot) -> None:
    fake = bot.fake
    for _ in range(3):
        await answer_to(bot, fake.send_message(GROUP, ANN, "/quota"))
    await answer_to(bot, fake.send_message(FORUM, ANN, "/quota"))
    assert [(int(c.params["chat_id"]), int(c.params["user_id"])) for c in member_asks(fake)] == [
        (GROUP, ANN),
        (FORUM, ANN),
    ]


@pytest.mark.asyncio
async def test_the_admin_cache_is_bounded_and_drops_the_oldest(
    fake: FakeTelegram, make_config: MakeConfig
) -> None:
    async with start_bot(fake, make_config, telegram={"admin_cache_s": 3600, "admin_cache_max": 2}) as bot:
        for user in (ANN, BOB, CAL, ANN, CAL):
            await answer_to(bot, fake.send_message(GROUP, user, "/quota"))
    asked = [int(c.params["user_id"]) for c in member_asks(fake)]
    assert asked == [ANN, BOB, CAL, ANN]  # Ann had been dropped for Cal; Cal was still known


# 4. crafted callback data --------------------------------------------------------------------

CRAFTED = [
    "v:info:²",  # str.isdigit() says yes, int() says no
    "v:info:٣",  # an Arabic-Indic digit, which int() would take
    "v:info:1234567890123456789012345",
    "v:info:9223372036854775808",  # 2**63: past SQLite's integers
    "v:info:0",
    "v:info:-1",
    "v:info: 5",
    "v:info:5\n",
    "v:info",
    "v:",
    "nonsense",
    "",
]


def answering(query_id: str) -> Callable[[ApiCall], bool]:
    return lambda call: call.params["callback_query_id"] == query_id


@pytest.mark.asyncio
async def test_every_button_press_is_answered_and_crafted_data_gets_no_traceback(
    bot: TelegramBot, caplog: pytest.LogCaptureFixture
) -> None:
    fake = bot.fake
    for data in CRAFTED:
        query = fake.press_button(GROUP, BOB, 1, data, first_name="Bob")
        answer = await fake.wait_for_call("answerCallbackQuery", answering(query), timeout=5)
        assert "text" not in answer.params, data  # silent: nothing a person pressed
    unknown = fake.press_button(GROUP, BOB, 1, "v:info:999", first_name="Bob")
    answer = await fake.wait_for_call("answerCallbackQuery", answering(unknown))
    assert answer.params["text"].startswith("There is no video #999")
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert len(fake.calls_of("answerCallbackQuery")) == len(CRAFTED) + 1


def test_callback_data_is_parsed_strictly() -> None:
    parse = telegram_adapter.parse_callback
    assert parse("v:info:7") == ("info", 7)
    assert parse(f"v:reroll:{2**63 - 1}") == ("reroll", 2**63 - 1)
    assert [parse(data) for data in CRAFTED] == [None] * len(CRAFTED)
    assert parse(None) is None


# 5. tokens in logs ---------------------------------------------------------------------------

TELEGRAM_TOKEN = "4242:AAH-secret_Telegram-token"
DISCORD_TOKEN = "MTIz.discord.secret-token"


@pytest.fixture
def root_output() -> Iterator[io.StringIO]:
    """What a handler on the root logger writes, at DEBUG; the redaction removed afterwards."""
    root = logging.getLogger()
    output = io.StringIO()
    handler = logging.StreamHandler(output)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield output
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        for each in root.handlers:
            for redactor in [f for f in each.filters if isinstance(f, RedactSecrets)]:
                each.removeFilter(redactor)


def test_videobot_redacts_tokens_from_every_library_log_at_every_level(
    root_output: io.StringIO, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "config.toml").write_text(to_toml(tiny_settings(tmp_path / "data")))
    monkeypatch.setenv("TELEGRAM_TOKEN", TELEGRAM_TOKEN)
    monkeypatch.setenv("DISCORD_TOKEN", DISCORD_TOKEN)
    assert cli.main(["-v", "admin", "--config", str(tmp_path / "config.toml"), "queue"]) == 0

    telegram.Bot(TELEGRAM_TOKEN, base_url="http://127.0.0.1:9/bot")  # logs "Set Bot API URL" at DEBUG
    logging.getLogger("telegram.ext").debug("url %s", "https://x/bot" + TELEGRAM_TOKEN)
    logging.getLogger("httpx").warning('HTTP Request: POST https://x/bot%s/getMe "200"', TELEGRAM_TOKEN)
    logging.getLogger("discord.http").info("token=%r", DISCORD_TOKEN)
    logging.getLogger("aiohttp").error("quoted: %s", "4242%3AAAH-secret_Telegram-token")
    try:
        raise RuntimeError(f"https://x/bot{TELEGRAM_TOKEN}/sendVideo failed")
    except RuntimeError:
        logging.getLogger("telegram.ext.Application").exception("update failed")

    written = root_output.getvalue()
    assert "Set Bot API URL: http://127.0.0.1:9/bot$TELEGRAM_TOKEN" in written
    assert "url https://x/bot$TELEGRAM_TOKEN" in written
    assert "token='$DISCORD_TOKEN'" in written and "quoted: $TELEGRAM_TOKEN" in written
    assert "RuntimeError: https://x/bot$TELEGRAM_TOKEN/sendVideo failed" in written
    for secret in (TELEGRAM_TOKEN, DISCORD_TOKEN, "AAH-secret", "discord.secret"):
        assert secret not in written


def test_a_log_call_with_the_wrong_arguments_is_scrubbed_too() -> None:
    """logging then prints msg and args raw ("--- Logging error ---"): both must be clean."""
    output = io.StringIO()
    handler = logging.StreamHandler(output)
    handler.addFilter(RedactSecrets(Secrets(telegram_token=TELEGRAM_TOKEN)))
    logger = logging.getLogger("tests.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("%s %s", "https://x/bot" + TELEGRAM_TOKEN)
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    assert "https://x/bot$TELEGRAM_TOKEN" in output.getvalue()
    assert TELEGRAM_TOKEN not in output.getvalue()


# 6. webhook secret ---------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_the_webhook_secret_is_compared_in_constant_time(
    fake: FakeTelegram, make_config: MakeConfig, unused_tcp_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    compared: list[tuple[Any, Any]] = []
    real: Callable[[Any, Any], bool] = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    url = f"http://127.0.0.1:{unused_tcp_port}"
    telegram = {"webhook_url": url, "webhook_listen": "127.0.0.1", "webhook_port": unused_tcp_port}
    async with start_bot(fake, make_config, telegram=telegram):
        hook = await fake.wait_for_call("setWebhook")
        assert "chat_member" in hook.params["allowed_updates"]
        secret = hook.params["secret_token"]
        async with aiohttp.ClientSession() as session:
            for wrong in ("", secret[:-1] + "x", "é" * len(secret)):
                headers = {"X-Telegram-Bot-Api-Secret-Token": wrong}
                refused = await session.post(url + WEBHOOK_PATH, json={"update_id": 1}, headers=headers)
                assert refused.status == 403, wrong
    assert len(compared) == 3
    assert all(isinstance(a, bytes) and b == secret.encode() for a, b in compared)
