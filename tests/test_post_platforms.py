"""🎞 Smooth on the real platform libraries against the loopback fakes: the button under a clip
queues a post step whose clip arrives with three times the frames and a manifest naming its
parent (read with c2pa's reader).  No weights on disk: FFmpeg's minterpolate does the work."""

from __future__ import annotations

import io
import json
from typing import Any

import c2pa
import pytest

from tests.fakes.telegram_api import FakeTelegram
from tests.harness.config import MakeConfig
from tests.harness.discord import MakeWorld, custom_ids
from tests.harness.media import decode
from tests.harness.telegram import start_bot

pytestmark = [pytest.mark.asyncio, pytest.mark.usefixtures("renders")]  # post steps run on real clips

GROUP = -1001
ANN = 11


def parent_of(clip: bytes) -> dict[str, Any]:
    with c2pa.Reader("video/mp4", io.BytesIO(clip)) as reader:
        store = json.loads(reader.json())
    manifest = store["manifests"][store["active_manifest"]]
    [parent] = [i for i in manifest["ingredients"] if i["relationship"] == "parentOf"]
    return dict(parent)


async def test_telegram_smooths_a_clip_by_its_button(
    telegram_fake: FakeTelegram, make_config: MakeConfig
) -> None:
    fake = telegram_fake
    async with start_bot(fake, make_config):
        fake.send_message(GROUP, ANN, "/video a red fox")
        first = await fake.wait_for_call("sendVideo", timeout=90)
        keyboard = first.params["reply_markup"]["inline_keyboard"][0]
        [smooth] = [b for b in keyboard if b["text"] == "🎞 Smooth"]
        before = decode(first.files["video"])

        fake.press_button(GROUP, ANN, first.result["message_id"], smooth["callback_data"])
        second = await fake.wait_for_call("sendVideo", lambda call: call is not first, timeout=90)

        after = decode(second.files["video"])
        assert (after.frames, after.width) == (3 * before.frames, before.width)
        assert after.metadata["videobot_post"] == "smooth:minterpolate"
        parent = parent_of(second.files["video"])
        assert parent["title"] == "clip-1.mp4" and "smoothed" in parent["description"]


async def test_discord_smooths_and_upscales_by_buttons_that_carry_the_job(make_world: MakeWorld) -> None:
    world = await make_world()
    fake = world.fake
    asked = fake.slash("video", {"prompt": "a red fox"})
    await asked.callback()
    followup = await asked.followup(timeout=90)
    message = fake.messages[int(followup.response["id"])]
    assert {"videobot:smooth:1", "videobot:hd:1"} <= set(custom_ids(message))
    before = decode(followup.files["files[0]"])

    press = fake.click("videobot:smooth:1", message)
    await press.callback()
    smoothed = await press.followup(timeout=90)

    after = decode(smoothed.files["files[0]"])
    assert after.frames == 3 * before.frames and after.metadata["videobot_post"] == "smooth:minterpolate"
