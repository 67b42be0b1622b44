"""One identity per clip: whichever backend renders it, its MP4 tags and its signed C2PA record
name the same model, hub id, family and licence, and `/info` and `/models` say what they say."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.domain import JobStatus
from bot.encode import read_clip
from bot.pipelines.spec import ClipIdentity
from bot.provenance import check_clip, read_record
from bot.render import Renderer
from bot.settings.loading import parse_config
from bot.settings.root import Config
from tests.harness.config import MakeConfig, tiny_settings, to_toml
from tests.harness.core import COLD, CoreBot, MakeBot
from tests.harness.lanes import starts
from tests.harness.saq import SECRET, RedisServer, StartWorker, redis_missing, saq_settings

# A configured name that is not its hub id: the remote path once signed "wan, hub id wan, unknown".
MODELS = {"wan": {"id": "tiny-wan"}}
PROMPT = "a lighthouse in a storm --seed 7"


def with_models(settings: dict[str, Any]) -> dict[str, Any]:
    settings = {key: value for key, value in settings.items() if key != "model"}
    settings["video"] = {"default_frames": 9, "max_frames": 17}  # Wan's 4k+1 frames
    settings["models"] = MODELS
    return settings


def models_toml(settings: dict[str, Any]) -> str:
    tables = "".join(
        f'[models.{name}]\nid = "{table["id"]}"\n' for name, table in settings.pop("models").items()
    )
    return to_toml(settings) + tables


def identity_in_tags(tags: dict[str, str]) -> ClipIdentity:
    return ClipIdentity(
        name=tags["videobot_model_name"],
        hub_id=tags["videobot_model"],
        family=tags["videobot_model_family"],
        licence=tags["videobot_model_licence"],
    )


async def render_one(bot: CoreBot) -> tuple[ClipIdentity, ClipIdentity, Path]:
    """The identity in the delivered clip's MP4 tags and in its signed record."""
    job = await bot.video(PROMPT)
    await bot.until_status(job.id, JobStatus.DONE, timeout=90)
    clip = bot.outbox.videos[-1].clip
    assert clip is not None
    path = Path(clip.path)
    record = read_record(path)
    assert record is not None, f"{path} carries no intact Content Credentials"
    return identity_in_tags(read_clip(path)[2]), record.model, path


@pytest.fixture(scope="module")
@starts("redis")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    if redis_missing():
        pytest.skip(redis_missing() or "")
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.kill()


@pytest.mark.asyncio
async def test_a_clip_rendered_by_a_worker_and_one_rendered_in_process_say_the_same_model(
    make_bot: MakeBot, tmp_path: Path, redis_server: RedisServer, start_worker: StartWorker, renders: None
) -> None:
    local_config = parse_config(with_models(tiny_settings(tmp_path / "local")), "local.toml", {})
    expected = local_config.model_settings["wan"].identity
    assert expected == ClipIdentity("wan", "tiny-wan", "wan", "none (random weights)")
    local = await make_bot(
        config=local_config, renderer=Renderer.for_model(local_config.model_settings["wan"], COLD)
    )
    local_tags, local_record, local_clip = await render_one(local)

    remote_settings = with_models(saq_settings(tmp_path / "remote" / "data", redis_server.url))
    worker_file = tmp_path / "worker" / "config.toml"
    worker_file.parent.mkdir(parents=True)
    worker_file.write_text(models_toml(dict(remote_settings)), encoding="utf-8")
    worker = start_worker(worker_file, name="identity")
    try:
        remote_config = parse_config(remote_settings, "remote.toml", {"VIDEOBOT_WORKER_SECRET": SECRET})
        remote = await make_bot(
            config=remote_config, renderer=Renderer("tiny", tuning=COLD)
        )  # unused: SAQ renders
        remote_tags, remote_record, remote_clip = await render_one(remote)
    finally:
        worker.stop()

    assert local_clip != remote_clip
    for made_by in (local_tags, local_record, remote_tags, remote_record):
        assert (made_by.name, made_by.hub_id, made_by.family, made_by.licence) == (
            expected.name,
            expected.hub_id,
            expected.family,
            expected.licence,
        )
    assert local_record == remote_record == expected, "loras too"
    assert check_clip(remote_clip).model == check_clip(local_clip).model == "wan"


@pytest.mark.asyncio
async def test_info_and_models_name_the_tiny_stand_in_as_its_signed_record_does(
    make_bot: MakeBot, make_config: MakeConfig, renders: None
) -> None:
    """Weights missing: the tiny build renders for ModelScope; nothing credits ModelScope then."""
    config: Config = make_config(model={"id": "damo-vilab/text-to-video-ms-1.7b"})
    bot = await make_bot(config=config)  # the harness's tiny renderer stands in for the model

    tags, record, _ = await render_one(bot)
    await bot.service.info(bot.req(), 1)
    info = bot.last_text
    await bot.service.list_models(bot.req())
    models = bot.last_text

    assert tags == record
    assert (record.name, record.hub_id, record.licence) == ("tiny", "tiny", "none (random weights)")
    assert f"{record.name} · licence {record.licence}" in info
    assert f"{record.name} ⭐ · licence {record.licence}" in models
    for text in (info, models):
        assert "damo-vilab" not in text and "CC-BY-NC" not in text
