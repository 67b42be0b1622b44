"""A picture (or a --loop) that names no model goes to a model that can make it (#34): nobody
should need to know model names to animate a photo."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.domain import ChatSettings
from bot.settings.bounds import ConfigError
from bot.settings.loading import parse_config
from tests.harness.core import MakeBot
from tests.harness.pictures import coffee_jpeg
from tests.test_pictures import animate, jobs_in_store, pictures_config

TEXT_ONLY = {"ms": {"id": "tiny", "default": True}}


@pytest.mark.asyncio
async def test_a_picture_without_a_model_goes_to_the_first_model_that_takes_pictures(
    make_bot: MakeBot, tmp_path: Path
) -> None:
    bot = await make_bot(config=pictures_config(tmp_path), worker=False)  # ms (text only) is the default
    job = await animate(bot, coffee_jpeg(), "steam rises")
    assert job is not None and job.model == "ltx"
    assert (await bot.video("a fox")).model == "ms"  # text alone still goes to the default


@pytest.mark.asyncio
async def test_picture_model_picks_which_one(make_bot: MakeBot, tmp_path: Path) -> None:
    config = pictures_config(tmp_path, video={"picture_model": "wan22"})
    bot = await make_bot(config=config, worker=False)
    job = await animate(bot, coffee_jpeg(), "steam rises")
    assert job is not None and job.model == "wan22"


@pytest.mark.asyncio
async def test_a_loop_without_a_model_goes_to_a_model_that_loops(make_bot: MakeBot, tmp_path: Path) -> None:
    config = pictures_config(tmp_path, video={"picture_model": "wan22"})  # wan22 takes pictures, no loops
    bot = await make_bot(config=config, worker=False)
    job = await bot.video("a spinning top --loop")
    assert job is not None and job.model == "ltx" and job.params.loop


@pytest.mark.asyncio
async def test_a_named_model_that_cannot_still_refuses_in_one_sentence(
    make_bot: MakeBot, tmp_path: Path
) -> None:
    bot = await make_bot(config=pictures_config(tmp_path), worker=False)
    assert await animate(bot, coffee_jpeg(), "steam --model ms") is None
    assert (
        bot.last_text == "ms makes clips from text only; pictures work with ltx, wan22. Nothing was charged."
    )
    assert jobs_in_store(bot) == 0


@pytest.mark.asyncio
async def test_a_chat_that_allows_only_text_models_still_refuses(make_bot: MakeBot, tmp_path: Path) -> None:
    bot = await make_bot(config=pictures_config(tmp_path), worker=False)
    bot.store.chats.save(bot.req().chat.scope_key, ChatSettings(models=("ms",)))
    assert await animate(bot, coffee_jpeg(), "steam") is None
    assert bot.last_text.startswith("No model here animates pictures")


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("video", "line"),
    [
        ({}, "🖼 Pictures and --loop without --model go to ltx."),
        ({"picture_model": "wan22"}, "🖼 Without --model, pictures go to wan22 and --loop to ltx."),
    ],
)
async def test_models_and_help_say_where_pictures_go(
    make_bot: MakeBot, tmp_path: Path, video: dict[str, Any], line: str
) -> None:
    bot = await make_bot(config=pictures_config(tmp_path, video=video), worker=False)
    await bot.service.list_models(bot.req())
    assert line in bot.last_text.splitlines()
    await bot.service.help(bot.req())
    assert bot.last_text.splitlines()[-1] == line


@pytest.mark.asyncio
async def test_help_says_when_no_model_animates_pictures(make_bot: MakeBot, tmp_path: Path) -> None:
    raw = {"models": TEXT_ONLY, "storage": {"dir": str(tmp_path / "data")}}
    bot = await make_bot(config=parse_config(raw, "t.toml", {}), worker=False)
    await bot.service.help(bot.req())
    assert bot.last_text.splitlines()[-1] == "🖼 No model here animates pictures or makes loops."


@pytest.mark.parametrize(
    ("picture_model", "words"),
    [
        ("nosuch", "[video] picture_model names no configured model: 'nosuch' (known: ms, ltx)"),
        ("ms", "[video] picture_model 'ms' makes clips from text only; models that take pictures: ltx"),
    ],
)
def test_a_wrong_picture_model_is_one_line(picture_model: str, words: str) -> None:
    raw = {"models": {**TEXT_ONLY, "ltx": {"id": "tiny-ltx"}}, "video": {"picture_model": picture_model}}
    with pytest.raises(ConfigError) as error:
        parse_config(raw, "t.toml", {})
    assert str(error.value) == f"t.toml: {words}"
