"""The fake Telegram Bot API works with the real python-telegram-bot client."""

from __future__ import annotations

import asyncio
import datetime as dtm
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, InvalidToken, NetworkError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
)

from tests.fakes.telegram_api import ApiCall, FakeTelegram

os.environ["PTB_TIMEDELTA"] = "true"

GROUP = -100123
USER = 42

AppType = Application[Any, Any, Any, Any, Any, Any]


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as tg:
        yield tg


def build_app(fake: FakeTelegram) -> AppType:
    return (
        ApplicationBuilder()
        .token(fake.token)
        .base_url(fake.base_url)
        .base_file_url(fake.base_file_url)
        .rate_limiter(AIORateLimiter(max_retries=3))
        .build()
    )


@pytest_asyncio.fixture
async def app(fake: FakeTelegram) -> AsyncIterator[AppType]:
    """A polling Application with a /hello command and a button handler."""
    application = build_app(fake)

    async def hello(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Again", callback_data="again")]])
        await update.effective_message.reply_text("hi " + " ".join(context.args or []), reply_markup=keyboard)

    async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.callback_query is not None
        await update.callback_query.answer("pressed " + str(update.callback_query.data))

    application.add_handler(CommandHandler("hello", hello))
    application.add_handler(CallbackQueryHandler(button))
    await application.initialize()
    await application.start()
    assert application.updater is not None
    await application.updater.start_polling(poll_interval=0, timeout=dtm.timedelta(seconds=5))
    try:
        yield application
    finally:
        await application.updater.stop()
        await application.stop()
        await application.shutdown()


@pytest.mark.asyncio
async def test_command_reply_is_recorded(fake: FakeTelegram, app: AppType) -> None:
    msg_id = fake.send_message(GROUP, USER, "/hello big world")
    call = await fake.wait_for_call("sendMessage")
    assert call.params["chat_id"] == GROUP
    assert call.params["text"] == "hi big world"
    assert call.params["reply_parameters"]["message_id"] == msg_id
    assert call.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "again"
    reply = call.result
    assert reply["reply_to_message"]["message_id"] == msg_id
    assert reply["message_id"] == msg_id + 1  # message ids are per chat and shared
    assert fake.messages[(GROUP, reply["message_id"])]["text"] == "hi big world"
    assert [c.method for c in fake.calls[:2]] == ["getMe", "deleteWebhook"]


@pytest.mark.asyncio
async def test_command_addressed_to_bot_matches_in_group(fake: FakeTelegram, app: AppType) -> None:
    fake.send_message(GROUP, USER, "/hello@other_bot ignored")
    fake.send_message(GROUP, USER, "/hello@VideoBot_Test_Bot there")
    call = await fake.wait_for_call("sendMessage")
    assert call.params["text"] == "hi there"
    assert len(fake.calls_of("sendMessage")) == 1


@pytest.mark.asyncio
async def test_callback_query_is_answered(fake: FakeTelegram, app: AppType) -> None:
    fake.send_message(GROUP, USER, "/hello")
    reply = (await fake.wait_for_call("sendMessage")).result
    query_id = fake.press_button(GROUP, USER, reply["message_id"], "again")
    call = await fake.wait_for_call("answerCallbackQuery")
    assert call.params == {"callback_query_id": query_id, "text": "pressed again"}


@pytest.mark.asyncio
async def test_polling_recovers_from_bad_gateway(fake: FakeTelegram, app: AppType) -> None:
    await fake.wait_until_polling()
    fake.fail_get_updates(1)  # ends the parked poll with a 502
    await fake.wait_for_call("getUpdates", lambda c: c.status == 502)
    fake.send_message(USER, USER, "/hello again", chat_type="private")
    call = await fake.wait_for_call("sendMessage")  # PTB retries after ~1 s
    assert call.params["text"] == "hi again"


@pytest.mark.asyncio
async def test_send_video_multipart_bytes_recorded(fake: FakeTelegram) -> None:
    async with build_app(fake).bot as bot:
        payload = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 10
        message = await bot.send_video(
            GROUP,
            payload,
            width=640,
            height=360,
            duration=4,
            caption="a cat",
            filename="clip.mp4",
        )
        assert message.video is not None
        assert (message.video.width, message.video.height) == (640, 360)
        assert message.caption == "a cat"
        call = fake.videos[0]
        assert call.files["video"] == payload
        assert call.params["width"] == 640 and call.params["caption"] == "a cat"
        # A file_id string is accepted too.
        again = await bot.send_video(GROUP, message.video.file_id)
        assert again.video is not None and again.video.file_id == message.video.file_id


@pytest.mark.asyncio
async def test_429_is_retried_by_rate_limiter(fake: FakeTelegram) -> None:
    fake.inject_fault("sendMessage", 429, retry_after=1)
    async with build_app(fake).bot as bot:
        message = await bot.send_message(USER, "after flood")
    assert message.text == "after flood"
    first, second = fake.calls_of("sendMessage")
    assert (first.status, first.result) == (429, None)
    assert second.status == 200 and second.result["text"] == "after flood"


@pytest.mark.asyncio
async def test_upload_over_limit_raises_network_error(fake: FakeTelegram) -> None:
    fake.max_upload_bytes = 1000
    async with build_app(fake).bot as bot:
        with pytest.raises(NetworkError, match="Request Entity Too Large"):
            await bot.send_video(GROUP, b"x" * 1001)
    assert fake.videos[0].status == 413


@pytest.mark.asyncio
async def test_edit_with_same_content_is_not_modified(fake: FakeTelegram) -> None:
    async with build_app(fake).bot as bot:
        message = await bot.send_message(GROUP, "10%")
        edited = await bot.edit_message_text("20%", GROUP, message.message_id)
        assert isinstance(edited, type(message)) and edited.text == "20%"
        with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
            await bot.edit_message_text("20%", GROUP, message.message_id)
        assert await bot.delete_message(GROUP, message.message_id)
    assert (GROUP, message.message_id) not in fake.messages


@pytest.mark.asyncio
async def test_chat_member_status_and_wrong_token(fake: FakeTelegram) -> None:
    fake.admins[GROUP] = {USER}
    async with build_app(fake).bot as bot:
        assert (await bot.get_chat_member(GROUP, USER)).status == "administrator"
        assert (await bot.get_chat_member(GROUP, USER + 1)).status == "member"
        assert (await bot.get_chat(GROUP)).id == GROUP
    wrong = Bot("1:WRONG", base_url=fake.base_url)
    try:
        with pytest.raises(InvalidToken, match="was rejected"):
            await wrong.initialize()  # getMe answers 401
    finally:
        await wrong.request.shutdown()  # a failed initialize() leaves the client open


@pytest.mark.asyncio
async def test_wait_for_call_consumes_and_times_out(fake: FakeTelegram) -> None:
    async with build_app(fake).bot as bot:
        waiter = asyncio.create_task(fake.wait_for_call("sendMessage", lambda c: c.params["text"] == "two"))
        await bot.send_message(USER, "one")
        await bot.send_message(USER, "two")
        assert (await waiter).params["text"] == "two"
        first: ApiCall = await fake.wait_for_call("sendMessage")
        assert first.params["text"] == "one"
        with pytest.raises(TimeoutError, match="getMe, sendMessage, sendMessage"):
            await fake.wait_for_call("sendMessage", timeout=0.05)


@pytest.mark.asyncio
async def test_edited_command_fires_again_and_commands_round_trip(fake: FakeTelegram, app: AppType) -> None:
    msg_id = fake.send_message(USER, USER, "/hello one", chat_type="private")
    await fake.wait_for_call("sendMessage")
    fake.edit_message(USER, USER, msg_id, "/hello two")
    call = await fake.wait_for_call("sendMessage")  # CommandHandler also sees edits
    assert call.params["text"] == "hi two"
    await app.bot.set_my_commands([("video", "Make a video")])
    assert [c.command for c in await app.bot.get_my_commands()] == ["video"]
