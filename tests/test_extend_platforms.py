"""Extend and loop on the real platform libraries against the loopback fakes: ⏩ Extend and
/extend deliver one longer clip whose manifest names its parent (read with c2pa's reader),
past `[video] max_extended_s` is one sentence and free, and a loop goes out as a Telegram
animation whose last frame leads into its first."""

from __future__ import annotations

import io
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import c2pa
import numpy as np
import pytest

from bot.core.quota import quota_day
from bot.domain import JobStatus, UserRef
from bot.encode import read_clip
from bot.settings.loading import parse_config
from bot.settings.root import Config
from tests.fakes.discord_api import FakeDiscord
from tests.fakes.telegram_api import FakeTelegram
from tests.harness.config import MakeConfig, tiny_settings
from tests.harness.discord import MakeWorld, custom_ids
from tests.harness.media import decode
from tests.harness.polling import eventually, eventually_async
from tests.harness.telegram import replying_to, start_bot

pytestmark = pytest.mark.asyncio

GROUP = -1001
ANN = 11
MODELS = {"default": {"id": "tiny"}, "ltx": {"id": "tiny-ltx"}}


@pytest.fixture
def picture_config(tmp_path: Path) -> MakeConfig:
    """The tests' tiny settings with a picture model; [video] max_extended_s 2.5 (tiny-ltx: 8 fps)."""

    def make(env: dict[str, str] | None = None, **sections: dict[str, Any]) -> Config:
        settings = tiny_settings(tmp_path / "data", **sections)
        del settings["model"]
        settings["video"] = {"max_extended_s": 2.5}  # else each family's own sizes and frame counts
        settings["models"] = MODELS
        return parse_config(settings, "test-extend.toml", env or {})

    return make


def manifest_of(clip: bytes) -> dict[str, Any]:
    with c2pa.Reader("video/mp4", io.BytesIO(clip)) as reader:
        store = json.loads(reader.json())
    return dict(store["manifests"][store["active_manifest"]])


def frames_rgb(clip: bytes) -> np.ndarray:
    with tempfile.NamedTemporaryFile(suffix=".mp4") as file:
        file.write(clip)
        file.flush()
        return read_clip(Path(file.name))[0]


def parent_ingredient(clip: bytes) -> dict[str, Any]:
    [parent] = [i for i in manifest_of(clip)["ingredients"] if i["relationship"] == "parentOf"]
    return dict(parent)


async def test_telegram_extends_a_clip_by_button_and_by_reply_and_refuses_past_the_limit(
    telegram_fake: FakeTelegram, picture_config: MakeConfig, renders: None
) -> None:
    fake = telegram_fake
    async with start_bot(fake, picture_config) as bot:
        fake.send_message(GROUP, ANN, "/video a red fox --model ltx --frames 9")
        first = await fake.wait_for_call("sendVideo", timeout=90)
        keyboard = first.params["reply_markup"]["inline_keyboard"][0]
        [extend] = [b for b in keyboard if b["text"] == "⏩ Extend"]
        parent = decode(first.files["video"]).frames

        fake.press_button(GROUP, ANN, first.result["message_id"], extend["callback_data"])
        second = await fake.wait_for_call("sendVideo", lambda call: call is not first, timeout=90)
        # one clip: the parent, then the 9-frame segment less the frame that overlaps
        assert decode(second.files["video"]).frames == parent + 9 - 1
        ingredient = parent_ingredient(second.files["video"])
        assert ingredient["title"] == "clip-1.mp4" and ingredient["format"] == "video/mp4"
        assert ingredient.get("active_manifest")  # the parent's own manifest, kept: the chain verifies

        ask = fake.send_message(GROUP, ANN, "/verify", reply_to_message_id=second.result["message_id"])
        answer = await fake.wait_for_call("sendMessage", replying_to(ask))
        assert (
            "Extends an earlier clip, whose own Content Credentials are kept inside" in answer.params["text"]
        )

        used = bot.service.store.quota.used_today(
            f"telegram:{ANN}", quota_day(bot.service.clock(), bot.service.config.quota)
        )
        ask = fake.send_message(
            GROUP, ANN, "/extend it runs", reply_to_message_id=second.result["message_id"]
        )
        answer = await fake.wait_for_call("sendMessage", replying_to(ask))
        assert answer.params["text"] == (
            "That clip is already 2.1 s long and can't be extended past 2.5 s. Nothing was charged."
        )
        assert (
            bot.service.store.quota.used_today(
                f"telegram:{ANN}", quota_day(bot.service.clock(), bot.service.config.quota)
            )
            == used
        )

        ask = fake.send_message(GROUP, ANN, "/extend it runs", reply_to_message_id=first.result["message_id"])
        await eventually_async(lambda: _count(fake, 3), timeout=90, what="a third clip")
        job = bot.service.store.jobs.get(3)
        assert job is not None and job.params.prompt == "it runs" and job.parent_id == 1


async def _count(fake: FakeTelegram, count: int) -> bool:
    return len(fake.videos) >= count


async def test_telegram_sends_a_loop_as_an_animation_that_closes_on_its_first_frame(
    telegram_fake: FakeTelegram, picture_config: MakeConfig, renders: None
) -> None:
    fake = telegram_fake
    async with start_bot(fake, picture_config):
        fake.send_message(GROUP, ANN, "/video a spinning top --model ltx --frames 9 --loop")
        sent = await fake.wait_for_call("sendAnimation", timeout=90)
        assert not fake.videos
        assert sent.result["animation"]["mime_type"] == "video/mp4"
        frames = frames_rgb(sent.files["animation"])
        steps = [_diff(frames[i], frames[i + 1]) for i in range(len(frames) - 1)]
        assert _diff(frames[-1], frames[0]) < 0.5 * float(np.median(steps))

        ask = fake.send_message(GROUP, ANN, "/extend", reply_to_message_id=sent.result["message_id"])
        await fake.wait_for_call("sendMessage", replying_to(ask))  # an animation is a clip to extend too


def _diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean())


# Discord -------------------------------------------------------------------------------------


@pytest.fixture
def discord_config(discord_fake: FakeDiscord, picture_config: MakeConfig) -> Callable[..., Config]:
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


async def test_discord_extends_by_button_and_command_and_loops_by_option(
    make_world: MakeWorld, renders: None
) -> None:
    world = await make_world()
    fake = world.fake
    synced = {c["name"]: c for c in next(iter(fake.synced_commands.values()))}
    assert {o["name"] for o in synced["extend"]["options"]} == {"job", "prompt", "smooth", "hd"}
    assert {o["name"]: o["type"] for o in synced["video"]["options"]}["loop"] == 5  # a boolean

    asked = fake.slash("video", {"prompt": "a red fox", "model": "ltx", "frames": 9})
    await asked.callback()
    followup = await asked.followup(timeout=90)
    message = fake.messages[int(followup.response["id"])]
    assert "videobot:extend:1" in custom_ids(message)
    parent = decode(followup.files["files[0]"]).frames

    press = fake.click("videobot:extend:1", message)
    await press.callback()
    extended = await press.followup(timeout=90)
    clip = extended.files["files[0]"]
    assert decode(clip).frames == parent + 9 - 1
    assert parent_ingredient(clip)["title"] == "clip-1.mp4"

    again = fake.slash("extend", {"job": 2})
    assert "can't be extended past 2.5 s" in str((await again.callback()).json)

    looped = fake.slash("video", {"prompt": "a top", "model": "ltx", "frames": 9, "loop": True})
    await looped.callback()
    loop_clip = (await looped.followup(timeout=90)).files["files[0]"]
    assert decode(loop_clip).frames == 2 * 9 - 2
    [loop] = world.service.store.jobs.of_user(UserRef("discord", "111"), 1)
    assert loop.params.loop
    await world.until(lambda: world.job(loop.id).status == JobStatus.DONE)


async def test_discord_extend_takes_smooth_and_hd_options_as_video_does(make_world: MakeWorld) -> None:
    world = await make_world()
    fake = world.fake
    synced = {c["name"]: c for c in next(iter(fake.synced_commands.values()))}
    assert {o["name"]: o["type"] for o in synced["extend"]["options"]}["smooth"] == 5  # a boolean
    asked = fake.slash("video", {"prompt": "a red fox", "model": "ltx", "frames": 9})
    await asked.callback()
    await asked.followup(timeout=90)

    extend = fake.slash("extend", {"job": 1, "prompt": "it runs", "smooth": True, "hd": True})
    await extend.callback()
    await world.until(lambda: len(world.service.store.jobs.of_user(UserRef("discord", "111"), 10)) == 4, 60)

    jobs = sorted(world.service.store.jobs.of_user(UserRef("discord", "111"), 10), key=lambda job: job.id)
    assert jobs[1].params.extends is not None and jobs[1].params.prompt == "it runs"
    assert jobs[1].params.then_post == "smooth,hd"
    assert [(j.params.post.kind, j.parent_id) for j in jobs[2:] if j.params.post] == [
        ("smooth", jobs[1].id),
        ("hd", jobs[2].id),
    ], "each step once the clip before it is delivered, in order"


async def test_telegram_extend_typed_with_smooth_and_hd_as_a_reply(
    telegram_fake: FakeTelegram, picture_config: MakeConfig
) -> None:
    fake = telegram_fake
    async with start_bot(fake, picture_config) as bot:
        fake.send_message(GROUP, ANN, "/video a red fox --model ltx --frames 9")
        first = await fake.wait_for_call("sendVideo", timeout=90)

        fake.send_message(
            GROUP, ANN, "/extend it runs --smooth", reply_to_message_id=first.result["message_id"]
        )
        user = UserRef("telegram", str(ANN))
        jobs = bot.service.store.jobs
        await eventually(lambda: len(jobs.of_user(user, 10)) == 3, timeout=60, what="the extension, then 🎞")
        extension, smooth = sorted(jobs.of_user(user, 10), key=lambda job: job.id)[1:]
        assert extension.params.extends is not None and extension.params.prompt == "it runs"
        assert extension.params.then_post == "smooth"
        assert smooth.params.post is not None and smooth.parent_id == extension.id
