"""`/video … --enhance` on both platforms' loopback fakes: the rewrite is shown with ▶ Render ·
✏️ Use mine · 🔁 Again, nothing is charged before a render, the buttons work after a restart and
only for the person who asked.  The writer is a tiny Qwen3 built in code (`scripted`)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.core.quota import quota_day
from bot.core.service import VideoService
from bot.domain import JobStatus, UserRef
from bot.enhance import PromptWriter, WriterSlot
from bot.enhance.tiny import scripted
from bot.settings.enhance import EnhanceConfig
from tests.fakes.telegram_api import FakeTelegram
from tests.harness.config import MakeConfig
from tests.harness.discord import OWNER, STRANGER, MakeWorld, custom_ids, ephemeral_text
from tests.harness.polling import eventually
from tests.harness.telegram import replying_to, start_bot

pytestmark = pytest.mark.asyncio

TYPED = "un gatto che fa surf"
REWRITE = "A ginger cat surfs turquoise waves at golden sunset, camera tracking slowly beside the board."
ENHANCE = {"mode": "ask", "model": "tiny-qwen3", "every_s": 0}
ANN, BOB = 11, 22


def scripted_writer(service: VideoService, script: str = REWRITE) -> None:
    """The bot's writer, as a tiny Qwen3 that writes `script` (random weights write garbage)."""
    writer = PromptWriter(EnhanceConfig(model="tiny-qwen3", every_s=0), build=lambda: scripted(script))
    writer.load()  # before the chat starts: importing transformers takes seconds on a busy machine
    service.rooms.admission.writer = WriterSlot(writer)


def used_today(service: VideoService, user: int) -> int:
    day = quota_day(service.clock(), service.config.quota)
    return service.store.quota.used_today(f"telegram:{user}", day)


def keyboard_data(call: Any) -> list[str]:
    markup = call.params.get("reply_markup") or {}
    markup = markup if isinstance(markup, dict) else json.loads(markup)
    return [button["callback_data"] for row in markup.get("inline_keyboard", []) for button in row]


async def test_telegram_shows_the_rewrite_first_and_renders_it_only_on_render(
    telegram_fake: FakeTelegram, make_config: MakeConfig
) -> None:
    fake = telegram_fake
    async with start_bot(fake, make_config, enhance=ENHANCE) as bot:
        scripted_writer(bot.service)
        command = fake.send_message(ANN, ANN, f"/video {TYPED} --enhance", chat_type="private")
        shown = await fake.wait_for_call("sendMessage", replying_to(command))
        assert REWRITE in shown.params["text"] and f"you typed: {TYPED}" in shown.params["text"]
        buttons = await fake.wait_for_call("editMessageReplyMarkup")
        assert keyboard_data(buttons) == ["v:render:1", "v:mine:1", "v:again:1"]
        assert bot.service.store.drafts.get(1) is not None
        assert bot.service.store.jobs.of_user(UserRef("telegram", str(ANN)), 10) == []  # nothing queued
        assert used_today(bot.service, ANN) == 0  # nothing charged before ▶ Render
        message = shown.result["message_id"]

    async with start_bot(fake, make_config, enhance=ENHANCE) as bot:  # a restart: the draft is a row
        scripted_writer(bot.service)
        fake.press_button(ANN, BOB, message, "v:render:1", first_name="Bob")
        refused = await fake.wait_for_call("answerCallbackQuery", lambda c: "text" in c.params)
        assert "Only the person who asked for this rewrite" in refused.params["text"]

        fake.press_button(ANN, ANN, message, "v:again:1")
        again = await fake.wait_for_call("editMessageText", lambda c: c.params["message_id"] == message)
        assert REWRITE in again.params["text"]
        assert bot.service.store.drafts.get(1).attempts == 2  # type: ignore[union-attr]

        fake.press_button(ANN, ANN, message, "v:render:1")
        await fake.wait_for_call("sendVideo")
        done = await eventually(lambda: bot.service.store.jobs.with_status(JobStatus.DONE))
        (job,) = done
        assert (job.params.prompt, job.params.prompt_original, job.params.prompt_writer) == (
            REWRITE, TYPED, "tiny-qwen3",
        )  # fmt: skip
        assert used_today(bot.service, ANN) == 1
        cleared = await fake.wait_for_call("editMessageReplyMarkup", lambda c: keyboard_data(c) == [])
        assert cleared.params["message_id"] == message

        fake.press_button(ANN, ANN, message, "v:render:1")  # an old button: one render only
        again_refused = await fake.wait_for_call(
            "answerCallbackQuery", lambda c: "already rendered" in c.params.get("text", "")
        )
        assert again_refused is not None


async def test_use_mine_renders_the_typed_prompt_and_off_refuses_enhance(
    telegram_fake: FakeTelegram, make_config: MakeConfig
) -> None:
    fake = telegram_fake
    async with start_bot(fake, make_config, enhance=ENHANCE) as bot:
        scripted_writer(bot.service)
        command = fake.send_message(ANN, ANN, f"/video {TYPED} --enhance --seed 7", chat_type="private")
        shown = await fake.wait_for_call("sendMessage", replying_to(command))
        await fake.wait_for_call("editMessageReplyMarkup")
        fake.press_button(ANN, ANN, shown.result["message_id"], "v:mine:1")
        await fake.wait_for_call("sendVideo")
        (job,) = await eventually(lambda: bot.service.store.jobs.with_status(JobStatus.DONE))
        assert job.params.prompt == TYPED and not job.params.rewritten and job.params.seed == 7

    async with start_bot(fake, make_config) as bot:  # [enhance] mode is off
        command = fake.send_message(ANN, ANN, f"/video {TYPED} --enhance", chat_type="private")
        answer = await fake.wait_for_call("sendMessage", replying_to(command))
        assert "Prompt writing is off here" in answer.params["text"]


async def test_a_rewrite_the_policy_refuses_is_never_shown(
    telegram_fake: FakeTelegram, make_config: MakeConfig
) -> None:
    fake = telegram_fake
    async with start_bot(fake, make_config, enhance=ENHANCE, policy={"blocked_words": ["ginger"]}) as bot:
        scripted_writer(bot.service)
        command = fake.send_message(ANN, ANN, f"/video {TYPED} --enhance", chat_type="private")
        answer = await fake.wait_for_call("sendMessage", replying_to(command))
        assert REWRITE not in answer.params["text"] and "ginger" in answer.params["text"]
        assert bot.service.store.drafts.get(1) is None and used_today(bot.service, ANN) == 0


async def test_discord_enhance_option_is_refused_while_the_writer_is_off(make_world: MakeWorld) -> None:
    world = await make_world()  # [enhance] mode is off
    refused = world.fake.slash("video", {"prompt": TYPED, "enhance": True}, user_id=OWNER)
    assert ephemeral_text(await refused.callback()).startswith("Prompt writing is off here")


async def test_discord_shows_the_rewrite_and_renders_it_after_a_restart(
    discord_fake: Any, make_config: MakeConfig, tiny_pipe: Any
) -> None:
    from tests.harness.clock import ManualClock
    from tests.harness.discord import World, point_at

    config = make_config(
        discord={"api_base_url": discord_fake.api_base_url, "gateway_url": discord_fake.gateway_url},
        enhance=ENHANCE,
    )
    point_at(config.discord)
    world = World(discord_fake, config, tiny_pipe, ManualClock())
    await world.start()
    try:
        scripted_writer(world.service)
        asked = discord_fake.slash("video", {"prompt": TYPED, "enhance": True}, user_id=OWNER)
        await asked.callback()
        render_id = "videobot:render:1"
        await world.until(lambda: any(render_id in custom_ids(m) for m in discord_fake.messages.values()))
        message = next(m for m in discord_fake.messages.values() if render_id in custom_ids(m))
        assert custom_ids(message) == ["videobot:render:1", "videobot:mine:1", "videobot:again:1"]
        assert REWRITE in message["content"] and world.service.store.jobs.with_status(JobStatus.QUEUED) == []

        await world.restart()
        scripted_writer(world.service)
        stranger = discord_fake.click(render_id, message, user_id=STRANGER)
        assert "Only the person who asked" in ephemeral_text(await stranger.callback())
        press = discord_fake.click(render_id, message, user_id=OWNER)
        await press.callback()
        await world.until(lambda: world.service.store.jobs.get(1) is not None)
        job = world.job(1)
        assert (job.params.prompt, job.params.prompt_original) == (REWRITE, TYPED)
        await world.until(lambda: world.job(1).status == JobStatus.DONE, timeout=30)
    finally:
        await world.stop()
