"""Checking a clip sent back to the bot, on the real platform libraries against the loopback fakes:
Telegram (`/verify` as a reply, or a video sent to the bot) and Discord (`/verify` with an attachment)."""

from __future__ import annotations

import pytest

from bot.domain import JobStatus
from tests.fakes.discord_api import Interaction
from tests.fakes.telegram_api import FakeTelegram
from tests.harness.config import MakeConfig
from tests.harness.discord import OWNER, STRANGER, MakeWorld, custom_ids
from tests.harness.telegram import replying_to, start_bot

pytestmark = pytest.mark.asyncio

GROUP = -1001
ANN = 11


def altered(clip: bytes) -> bytes:
    data = bytearray(clip)
    data[data.find(b"mdat") + 100] ^= 0xFF
    return bytes(data)


async def test_telegram_verify_as_a_reply_to_a_clip_and_a_video_sent_to_the_bot(
    telegram_fake: FakeTelegram, make_config: MakeConfig, renders: None
) -> None:
    fake = telegram_fake
    async with start_bot(fake, make_config, provenance={"verify_every_s": 0}):  # one person checks twice
        fake.send_message(GROUP, ANN, "/video a cat surfing --seed 5")
        sent = await fake.wait_for_call("sendVideo")
        clip_message = sent.result["message_id"]

        ask = fake.send_message(GROUP, ANN, "/verify", reply_to_message_id=clip_message)
        answer = await fake.wait_for_call("sendMessage", replying_to(ask))
        assert answer.params["text"].startswith("🔏 Content Credentials: signed by videobot")
        assert "· valid ·" in answer.params["text"] and "with tiny" in answer.params["text"]

        fake.send_user_video(ANN, ANN, altered(sent.files["video"]), chat_type="private")
        answer = await fake.wait_for_call("sendMessage", lambda c: int(c.params["chat_id"]) == ANN)
        assert "the file was altered after signing" in answer.params["text"]

        alone = fake.send_message(GROUP, ANN, "/verify")
        answer = await fake.wait_for_call("sendMessage", replying_to(alone))
        assert answer.params["text"].startswith("Send /verify as a reply to a video")

        posted = fake.send_user_video(GROUP, ANN, sent.files["video"], caption="/verify")
        answer = await fake.wait_for_call("sendMessage", replying_to(posted))
        assert "· valid ·" in answer.params["text"]

        # a video posted in a group, not to the bot, is none of its business
        downloads = len(fake.calls_of("getFile"))
        fake.send_user_video(GROUP, ANN, sent.files["video"])
        await fake.wait_until_polling()
        assert len(fake.calls_of("getFile")) == downloads


async def test_discord_verify_with_an_attachment(make_world: MakeWorld, renders: None) -> None:
    world = await make_world()
    interaction = world.fake.slash("video", {"prompt": "a cat surfing"}, user_id=OWNER)
    await interaction.callback()
    followup = await interaction.followup(timeout=30)
    message = world.fake.messages[int(followup.response["id"])]
    job_id = int(custom_ids(message)[0].rsplit(":", 1)[1])
    await world.until(lambda: world.job(job_id).status == JobStatus.DONE)
    clip = world.fake.attachment_data[int(message["attachments"][0]["id"])]

    check = world.fake.slash("verify", {"clip": world.fake.attachment_option(clip, "clip.mp4")})
    said = await answer_text(check)
    assert said.startswith("🔏 Content Credentials: signed by videobot") and "· valid ·" in said

    forged = world.fake.slash(  # another person: one check each every 20 s
        "verify", {"clip": world.fake.attachment_option(altered(clip), "clip.mp4")}, user_id=STRANGER
    )
    assert "the file was altered after signing" in await answer_text(forged)


async def answer_text(interaction: Interaction) -> str:
    """The public answer, given at once or, when the check was slow, after a deferral."""
    call = await interaction.callback()
    if call.json["type"] == 4:
        return str(call.json["data"]["content"])
    return str((await interaction.edit_original()).json["content"])
