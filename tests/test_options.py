"""The option table (`bot.core.options`): one row per option drives the parser, the error and help
sentences, Discord's parameters, `demo`'s flags and every "same settings again" path."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from bot.core import messages
from bot.core.options import OPTIONS, VideoArgs
from bot.core.parsing import CommandError, parse_video_text
from bot.dispatch.remote import RemoteJob, WorkerKeys
from bot.domain import (
    TEXT_ONLY,
    ButtonAction,
    Continuation,
    Extension,
    FromPicture,
    JobStatus,
    Loop,
    Picture,
    RenderParams,
    UserRef,
)
from bot.settings.loading import parse_config
from bot.settings.root import Config
from tests.fakes.discord_api import FakeDiscord
from tests.harness.core import ALICE, CoreBot, MakeBot
from tests.harness.discord import OWNER, MakeWorld, World, ephemeral_text

MODELS = {"ms": {"id": "tiny"}, "ltx": {"id": "tiny-ltx"}}


def options_config(tmp_path: Path) -> Config:
    raw: dict[str, Any] = {
        "models": MODELS,
        "storage": {"dir": str(tmp_path / "data")},
        "quota": {"per_minute": 1000.0, "burst": 1000, "daily": 100, "max_queued": 20},
    }
    return parse_config(raw, "test-options.toml", {})


def test_the_table_and_the_args_name_the_same_options() -> None:
    typed = {f.name for f in dataclasses.fields(VideoArgs)} - {"prompt", "prompt_original", "prompt_writer"}
    assert {o.field for o in OPTIONS if o.kind != "picture"} == typed
    assert all(o.words in messages.KEYS for o in OPTIONS)


def test_an_unknown_option_is_answered_with_every_option() -> None:
    with pytest.raises(CommandError) as refused:
        parse_video_text("a cat --fps 12")
    said = messages.text(refused.value.key, "en", **refused.value.values)
    assert said.startswith("Unknown option --fps; use ")
    for option in OPTIONS:
        assert option.name in said


def test_image_without_a_value_says_how_to_send_a_picture() -> None:
    for text in ("a cat --image", "a cat --image=x.png"):
        with pytest.raises(CommandError) as refused:
            parse_video_text(text)
        assert refused.value.key == "option_not_typed"
        said = messages.text(refused.value.key, "en", **refused.value.values)
        assert said.startswith("--image is not typed: send the picture itself")


def test_aspect_is_one_of_its_choices() -> None:
    assert parse_video_text("a cat --aspect 9:16").aspect == "9:16"
    with pytest.raises(CommandError) as refused:
        parse_video_text("a cat --aspect 4:3")
    assert messages.text(refused.value.key, "en", **refused.value.values) == (
        "--aspect must be one of 16:9, 9:16, 1:1, not “4:3”."
    )


@pytest.mark.asyncio
async def test_help_lists_every_option_with_the_models_range(make_bot: MakeBot, tmp_path: Path) -> None:
    bot = await make_bot(config=options_config(tmp_path))
    await bot.service.help(bot.req())
    usage = bot.last_text.splitlines()[1]
    assert usage.startswith("/video <prompt> [--seed N] [--neg TEXT] [--frames 2-16]")
    for option in OPTIONS:  # all but --enhance, which is off without a prompt writer
        assert (option.name in usage) == (option.field != "enhance"), option.name


def test_the_settings_codec_is_one_for_rows_and_workers() -> None:
    picture = Picture("ab" * 32, 1000, "png", 64, 64, "/p.png")
    params = RenderParams(
        "a cat", "dark", 7, 9, 2, 3.0, 48, 80, 8, silent=True,
        conditioning=Continuation(Extension(3, "/c.mp4", 9, 3), loop=True), aspect="9:16",
    )  # fmt: skip
    assert RenderParams.from_data(params.to_data()) == params
    for each in (
        TEXT_ONLY,
        FromPicture(picture),
        Loop(picture),
        Loop(),
        Continuation(Extension(3, "/c.mp4", 9, 3)),
    ):
        assert (
            RenderParams.from_data(dataclasses.replace(params, conditioning=each).to_data()).conditioning
            == each
        )
    keys = WorkerKeys.of("s" * 32)
    from bot.core.ports import RenderJob
    from bot.pipelines.spec import ClipIdentity

    job = RenderJob(5, "ms", params, ClipIdentity("ms", "tiny", "modelscope", "none"))
    sealed = RemoteJob(job, "run", options_config(Path("/tmp")).video).to_kwargs(keys, "k")
    assert RemoteJob.from_kwargs(keys, "k", sealed).job.params == params
    # a row from before a column existed reads as the default
    old = {k: v for k, v in params.to_data().items() if k not in ("aspect", "loop")}
    unlooped = Continuation(Extension(3, "/c.mp4", 9, 3))
    assert RenderParams.from_data(old) == dataclasses.replace(params, aspect="", conditioning=unlooped)


async def looped_silent_clip(bot: CoreBot) -> Any:
    job = await bot.video("a red fox --model ltx --frames 9 --loop --silent --aspect 9:16 --steps 3")
    return await bot.until_status(job.id, JobStatus.DONE, timeout=30)


def kept(job: Any, parent: Any) -> None:
    p, q = parent.params, job.params
    assert (q.loop, q.silent, q.aspect, q.frames, q.steps, q.width, q.height, job.model) == (
        p.loop, p.silent, p.aspect, p.frames, p.steps, p.width, p.height, parent.model,
    )  # fmt: skip


@pytest.mark.asyncio
async def test_loop_silent_and_aspect_survive_reroll_variation_reply_and_extend(
    make_bot: MakeBot, tmp_path: Path
) -> None:
    bot = await make_bot(config=options_config(tmp_path))
    parent = await looped_silent_clip(bot)
    assert parent.params.loop and parent.params.silent and parent.params.height > parent.params.width

    await bot.service.button(bot.req(), ButtonAction.REROLL, parent.id)
    reroll = bot.store.jobs.of_user(ALICE, 1)[0]
    kept(reroll, parent)
    assert reroll.params.seed != parent.params.seed

    await bot.service.button(bot.req(), ButtonAction.VARIATION, parent.id)
    variation = bot.store.jobs.of_user(ALICE, 1)[0]
    kept(variation, parent)
    assert variation.params.seed == parent.params.seed

    reply = await bot.service.rooms.commands.video_text(bot.req(), parse_video_text("it runs"), parent)
    assert reply is not None and reply.params.prompt == "it runs"
    kept(reply, parent)

    await bot.service.button(bot.req(), ButtonAction.EXTEND, parent.id)
    extension = bot.store.jobs.of_user(ALICE, 1)[0]
    assert extension.params.extends is not None
    kept(extension, parent)


@pytest.mark.asyncio
async def test_discords_video_parameters_are_the_tables_rows(
    discord_fake: FakeDiscord, make_world: MakeWorld
) -> None:
    await make_world(discord={"test_guild_id": 555})
    commands = {c["name"]: c for c in discord_fake.synced_commands["555"]}
    video = {o["name"]: o for o in commands["video"]["options"]}
    assert set(video) == {"prompt", *(o.field for o in OPTIONS)}
    assert [c["value"] for c in video["aspect"]["choices"]] == ["16:9", "9:16", "1:1"]
    assert video["aspect"]["description"].startswith("The clip's shape: 16:9 landscape")
    enter = {
        o["name"]
        for o in next(o for o in commands["challenge"]["options"] if o["name"] == "enter")["options"]
    }
    assert enter == {"prompt", "seed", "frames", "steps"}


@pytest.mark.asyncio
async def test_a_discord_video_with_silent_and_aspect_is_such_a_job(world: World) -> None:
    options = {"prompt": "a cat", "aspect": "9:16", "silent": True}
    interaction = world.fake.slash("video", options, user_id=OWNER)
    answer = await interaction.callback()
    jobs = world.service.store.jobs.of_user(UserRef("discord", str(OWNER)))
    assert len(jobs) == 1, ephemeral_text(answer)
    [job] = jobs
    assert job.params.silent and job.params.aspect == "9:16"
    assert job.params.height > job.params.width
