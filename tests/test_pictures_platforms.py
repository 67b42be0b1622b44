"""Animating a picture from the chat, on the real platform libraries against the loopback fakes:
Telegram (a captioned photo, an image file, `/video` as a reply to a photo) and Discord (the
`image` option, and the Animate message command), with the clip's manifest naming the picture."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import c2pa
import pytest

from bot.core.quota import quota_day
from bot.domain import JobStatus, UserRef
from bot.settings.loading import parse_config
from bot.settings.root import Config
from tests.fakes.discord_api import FakeDiscord, Interaction
from tests.fakes.telegram_api import FakeTelegram
from tests.harness.config import MakeConfig, tiny_settings
from tests.harness.discord import MakeWorld
from tests.harness.pictures import astronaut_jpeg, coffee_jpeg
from tests.harness.telegram import BOT_NAME, replying_to, start_bot

pytestmark = pytest.mark.asyncio

GROUP = -1001
ANN = 11
# [models.ltx] id = "tiny-ltx": a picture model under a name of its own, beside a text-only default
PICTURE_MODELS = {"default": {"id": "tiny"}, "ltx": {"id": "tiny-ltx"}}


@pytest.fixture
def picture_config(tmp_path: Path) -> MakeConfig:
    """The tests' tiny settings, with the models above instead of a lone [model]."""

    def make(env: dict[str, str] | None = None, **sections: dict[str, Any]) -> Config:
        settings = tiny_settings(tmp_path / "data", **sections)
        del settings["model"]
        del settings["video"]  # each family's own sizes and frame counts
        settings["video"] = {"picture_every_s": 0}  # several pictures in a row from one person
        settings["models"] = PICTURE_MODELS
        return parse_config(settings, "test-pictures.toml", env or {})

    return make


def manifest_of(clip: bytes) -> dict:
    with c2pa.Reader("video/mp4", io.BytesIO(clip)) as reader:
        import json

        store = json.loads(reader.json())
    return store["manifests"][store["active_manifest"]]


async def test_telegram_animates_a_captioned_photo_an_image_file_and_a_reply_to_a_photo(
    telegram_fake: FakeTelegram, picture_config: MakeConfig, renders: None
) -> None:
    fake = telegram_fake
    picture = coffee_jpeg()
    async with start_bot(fake, picture_config):
        fake.send_user_photo(GROUP, ANN, picture, caption=f"/video@{BOT_NAME} steam rises --model ltx")
        sent = await fake.wait_for_call("sendVideo", timeout=60)
        assert fake.calls_of("getFile")[-1].params["file_id"].endswith("-thumb") is False  # the largest size
        manifest = manifest_of(sent.files["video"])
        [ingredient] = manifest["ingredients"]
        assert ingredient["relationship"] == "inputTo" and ingredient["format"] == "image/jpeg"
        assert ingredient["description"] == f"sha256:{hashlib.sha256(picture).hexdigest()}"
        actions = next(a for a in manifest["assertions"] if a["label"].startswith("c2pa.actions"))
        created = actions["data"]["actions"][0]
        assert created["action"] == "c2pa.created" and created["digitalSourceType"].endswith(
            "trainedAlgorithmicMedia"
        )

        ask = fake.send_message(GROUP, ANN, "/verify", reply_to_message_id=sent.result["message_id"])
        answer = await fake.wait_for_call("sendMessage", replying_to(ask))
        assert "Made from a picture, which carried no Content Credentials" in answer.params["text"]

        fake.send_user_photo(GROUP, ANN, picture, caption="/video steam --model ltx", as_file=True)
        await fake.wait_for_call("sendVideo", lambda call: call is not sent, timeout=60)

        photo = fake.send_user_photo(GROUP, ANN, picture)
        fake.send_message(GROUP, ANN, "/video it moves --model ltx", reply_to_message_id=photo)
        await eventually_videos(fake, 3)

        # someone else's bot, and a photo whose caption is no command: not ours
        fake.send_user_photo(GROUP, ANN, picture, caption="/video@other_bot x --model ltx")
        fake.send_user_photo(GROUP, ANN, picture, caption="a nice day")
        await fake.wait_until_polling()
        assert len(fake.videos) == 3


async def eventually_videos(fake: FakeTelegram, count: int) -> None:
    from tests.harness.polling import eventually_async

    async def enough() -> bool:
        return len(fake.videos) >= count

    await eventually_async(enough, timeout=60, what=f"{count} clips")


async def test_telegram_refuses_a_photo_of_a_real_person_for_free(
    telegram_fake: FakeTelegram, picture_config: MakeConfig
) -> None:
    fake = telegram_fake
    async with start_bot(fake, picture_config) as bot:
        posted = fake.send_user_photo(GROUP, ANN, astronaut_jpeg(), caption="/video wave --model ltx")
        answer = await fake.wait_for_call("sendMessage", replying_to(posted))
        assert "real person's face" in answer.params["text"]
        assert (
            bot.service.store.quota.used_today(
                f"telegram:{ANN}", quota_day(bot.service.clock(), bot.service.config.quota)
            )
            == 0
        )

        posted = fake.send_user_photo(
            GROUP, ANN, coffee_jpeg(), caption="/video steam --model default"
        )  # the default: text only
        answer = await fake.wait_for_call("sendMessage", replying_to(posted))
        assert answer.params["text"].startswith("default makes clips from text only; pictures work with ltx")

        # no model named: the picture goes to one that animates pictures
        posted = fake.send_user_photo(GROUP, ANN, coffee_jpeg(), caption="/video steam")
        answer = await fake.wait_for_call("sendMessage", replying_to(posted))
        assert answer.params["text"].startswith("⏳ Queued")
        assert bot.service.store.jobs.of_user(UserRef("telegram", str(ANN)), 1)[0].model == "ltx"


# Discord -------------------------------------------------------------------------------------


@pytest.fixture
def discord_config(discord_fake: FakeDiscord, picture_config: MakeConfig) -> Callable[..., Config]:
    """The Discord worlds of this module run the picture models (the default one gated as usual)."""

    def make(discord: dict[str, Any] | None = None, admin: dict[str, Any] | None = None) -> Config:
        return picture_config(
            discord={
                "api_base_url": discord_fake.api_base_url,
                "gateway_url": discord_fake.gateway_url,
                **(discord or {}),
            },
            admin={"owners": [], **(admin or {})},
        )

    return make


async def public_text(interaction: Interaction) -> str:
    call = await interaction.callback(timeout=30)
    if call.json["type"] == 4:
        return str(call.json["data"].get("content", ""))
    return str((await interaction.edit_original(timeout=30)).json.get("content", ""))


async def test_discord_animates_the_image_option_and_the_animate_message_command(
    make_world: MakeWorld,
) -> None:
    world = await make_world()
    fake = world.fake
    picture = coffee_jpeg()
    synced = {c["name"]: c for c in next(iter(fake.synced_commands.values()))}
    assert synced["Animate"]["type"] == 3  # a message command
    video_options = {o["name"]: o for o in synced["video"]["options"]}
    assert video_options["image"]["type"] == 11 and not video_options["image"].get("required")
    assert "ltx 🖼 pictures" in [c["name"] for c in video_options["model"]["choices"]]

    asked = fake.slash(
        "video",
        {"prompt": "steam rises", "model": "ltx", "image": fake.attachment_option(picture, "coffee.jpg")},
    )
    assert (await public_text(asked)).startswith("⏳ Queued")
    await world.until(
        lambda: any(
            j.status == JobStatus.DONE for j in world.service.store.jobs.of_user(UserRef("discord", "111"), 5)
        ),
        timeout=60,
    )

    posted = fake.user_message(picture, "coffee.jpg")
    menu = fake.message_command("Animate", posted)
    modal = (await menu.callback()).json
    assert modal["type"] == 9
    fields = [f["custom_id"] for row in modal["data"]["components"] for f in row["components"]]
    filled = fake.submit_modal(modal["data"], {fields[0]: "steam rises", fields[1]: "--seed 7"})
    assert (await public_text(filled)).startswith("⏳ Queued")
    jobs = world.service.store.jobs.of_user(UserRef("discord", "111"), 5)
    assert jobs[0].params.seed == 7 and jobs[0].params.picture is not None
    assert jobs[0].model == "ltx"  # Animate names no model: the one that animates pictures
    assert jobs[0].params.picture.sha256 == hashlib.sha256(picture).hexdigest()

    no_picture = fake.message_command("Animate", fake.add_message(content="just words"))
    call = await no_picture.callback()
    assert "has no picture" in call.json["data"]["content"]
