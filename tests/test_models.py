"""Video models by configuration: every family's tiny build renders through the bot, cancel
skips the VAE decode, the production loading path reads what real repos ship, each model's
rules are checked in the one validation path, and users and owners choose models."""

from __future__ import annotations

import io
import json
import random
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from bot.core.options import VideoArgs
from bot.core.parsing import CommandError, validate_video
from bot.domain import JobStatus, RenderParams, UserRef
from bot.pipelines.cogvideox import COGVIDEOX_2B
from bot.pipelines.modelscope import MODELSCOPE
from bot.pipelines.registry import TINY_PRESETS
from bot.pipelines.tiny import build_tiny
from bot.pipelines.wan import WAN21_1_3B
from bot.render import (
    ModelMissing,
    ModelPool,
    RenderCancelled,
    Renderer,
    UnsupportedModel,
    component_dtypes,
    load_pipeline,
)
from bot.settings.bounds import ConfigError
from bot.settings.loading import parse_config
from bot.settings.root import Config
from bot.settings.sections import RenderConfig
from tests.harness.clock import ManualClock
from tests.harness.config import COLD_RENDER, SMALL
from tests.harness.console import ChildProcesses
from tests.harness.core import ALICE, BOB, CAROL, COLD, GROUP, MakeBot
from tests.harness.polling import eventually

TEXT_MODELS = [name for name, preset in TINY_PRESETS.items() if preset.modes.text]  # picture-only: elsewhere

REPO = Path(__file__).resolve().parent.parent
FAMILIES = {"ms": "tiny", "wan": "tiny-wan", "ltx": "tiny-ltx", "cog": "tiny-cogvideox"}


def models_config(
    tmp_path: Path,
    models: dict[str, dict[str, Any]] | None = None,
    env: dict[str, str] | None = None,
    **sections: Any,
) -> Config:
    """Four tiny models, one per family, `ms` the default; no [video] keys (families decide)."""
    tables = models or {name: {"id": tiny} for name, tiny in FAMILIES.items()}
    raw: dict[str, Any] = {
        "models": tables,
        "storage": {"dir": str(tmp_path / "data")},
        "queue": {"progress_interval_s": 0.0, "group_progress_interval_s": 0.0},
        "quota": {"per_minute": 1000.0, "burst": 1000, "daily": 100, "max_queued": 10},
        "admin": {"owners": [CAROL.key]},
        "render": COLD_RENDER,
        **sections,
    }
    return parse_config(raw, "test-models.toml", env or {})


def read_mp4(path: str) -> tuple[int, float, dict[str, str]]:
    with av.open(path) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        return frames, float(stream.average_rate or 0), dict(container.metadata)


def params(frames: int, steps: int = 4, seed: int = 5) -> RenderParams:
    return RenderParams("a cat surfing", "", seed, frames, steps, 5.0, SMALL, SMALL, 8)


# every family renders through the bot ----------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("name", list(FAMILIES))
async def test_each_family_renders_through_the_bot_with_progress_and_a_valid_mp4(
    make_bot: MakeBot, tmp_path: Path, name: str, renders: None
) -> None:
    config = models_config(tmp_path)
    bot = await make_bot(config=config)
    settings = config.model_settings[name]

    job = await bot.video(f"a cat surfing --model {name}")
    sent = await bot.outbox.wait_for_video(timeout=30)

    assert bot.job(job.id).model == name
    steps = settings.limits.default_steps
    # progress edits are coalesced (the last steps may share one): some step was shown, of this many
    assert any(f"/{steps} steps" in edit for edit in bot.outbox.edits), bot.outbox.edits
    assert sent.clip is not None
    frames, fps, tags = read_mp4(sent.clip.path)
    assert (frames, fps) == (settings.limits.default_frames, settings.limits.fps)
    assert settings.preset.family.frames.fits(frames)
    assert tags["videobot_model_name"] == name
    assert tags["videobot_model"] == FAMILIES[name]
    assert tags["videobot_model_family"] == settings.family
    assert tags["videobot_model_licence"] == settings.licence
    assert tags["videobot_fps"] == str(settings.limits.fps)


@pytest.mark.parametrize("tiny", TEXT_MODELS)
def test_cancel_stops_between_steps_skips_the_vae_decode_and_leaves_the_pipeline_usable(
    tiny: str, renders: None
) -> None:
    renderer = Renderer(tiny, tuning=COLD)
    renderer.load()
    decodes: list[int] = []
    renderer.pipe.vae.decoder.register_forward_hook(lambda *_: decodes.append(1))
    frames = TINY_PRESETS[tiny].frames
    steps: list[tuple[int, int]] = []

    with pytest.raises(RenderCancelled):
        renderer.render(params(frames), lambda s, t: steps.append((s, t)), lambda: len(steps) >= 2)

    assert steps == [(1, 4), (2, 4)]
    assert decodes == [], "a cancelled clip must not be decoded"
    after = renderer.render(params(frames)).frames
    fresh = Renderer(tiny, tuning=COLD).render(params(frames)).frames
    assert decodes, "the next clip is decoded"
    assert after.shape == (frames, SMALL, SMALL, 3) and np.array_equal(after, fresh)


@pytest.mark.asyncio
async def test_cancelling_a_running_wan_job_through_the_bot(make_bot: MakeBot, tmp_path: Path) -> None:
    tables: dict[str, dict[str, Any]] = {"ms": {"id": "tiny"}, "wan": {"id": "tiny-wan", "max_steps": 5000}}
    bot = await make_bot(config=models_config(tmp_path, tables))

    job = await bot.video("a slow cat --model wan --steps 5000")
    await bot.outbox.wait_for_text("Rendering", kind="edit", timeout=30)
    await bot.service.cancel(bot.req(), str(job.id))

    assert (await bot.until_status(job.id, JobStatus.CANCELLED)).status == JobStatus.CANCELLED
    assert bot.outbox.videos == []


# the production loading path, on saved tiny folders --------------------------------------------


def _save(tiny: str, folder: Path, *, variant: str | None = None) -> Path:
    build_tiny(tiny).save_pretrained(str(folder), variant=variant)
    return folder


def _weights(folder: Path) -> list[str]:
    return sorted(
        str(p.relative_to(folder)) for p in folder.rglob("*") if p.suffix in (".safetensors", ".bin")
    )


def test_a_modelscope_folder_with_only_fp16_files_loads_the_fp16_variant(
    tmp_path: Path, renders: None
) -> None:
    folder = _save("tiny", tmp_path / "ms", variant="fp16")
    assert _weights(folder) and all(".fp16.safetensors" in name for name in _weights(folder))
    config = models_config(tmp_path, {"ms": {"id": MODELSCOPE.id, "path": str(folder)}})

    renderer = Renderer.for_model(config.model_settings["ms"], COLD)
    renderer.load()

    assert type(renderer.pipe).__name__ == "TextToVideoSDPipeline"
    assert renderer.pipe.videobot_variant == "fp16"
    shown = renderer.render(params(8, steps=2)).frames
    assert shown.shape == (8, SMALL, SMALL, 3) and np.array_equal(
        shown, Renderer("tiny", tuning=COLD).render(params(8, steps=2)).frames
    )


def test_components_load_in_their_own_dtypes_and_a_repo_without_the_variant_falls_back(
    tmp_path: Path, renders: None
) -> None:
    import torch

    wan = _save("tiny-wan", tmp_path / "wan")  # plain weights only
    pipe, _ = load_pipeline(wan, WAN21_1_3B, dtypes=component_dtypes(WAN21_1_3B, "cuda"))
    assert pipe.videobot_variant is None
    assert (pipe.transformer.dtype, pipe.vae.dtype, pipe.text_encoder.dtype) == (
        torch.bfloat16,
        torch.float32,
        torch.bfloat16,
    )

    cog = _save("tiny-cogvideox", tmp_path / "cog")
    pipe, _ = load_pipeline(cog, COGVIDEOX_2B, dtypes=component_dtypes(COGVIDEOX_2B, "cuda"))
    assert (pipe.transformer.dtype, pipe.vae.dtype) == (torch.float16, torch.float16)
    assert component_dtypes(WAN21_1_3B, "cpu") == {"default": torch.float32}


def test_the_pipeline_class_comes_from_model_index_json(tmp_path: Path, renders: None) -> None:
    ltx = _save("tiny-ltx", tmp_path / "ltx")

    # a bare folder nobody described: its model_index.json decides (no warm-up at LTX-Video's
    # real shape: that would be a 97-frame 704×480 render of the tiny weights)
    guessed = Renderer(str(ltx), tuning=RenderConfig(warmup_steps=0))
    guessed.load()
    assert type(guessed.pipe).__name__ == "LTXPipeline" and guessed.preset.family.name == "ltx"
    assert guessed.render(params(9, steps=1)).frames.shape == (9, SMALL, SMALL, 3)

    configured = models_config(tmp_path, {"x": {"path": str(ltx), "family": "wan"}}).model_settings["x"]
    with pytest.raises(UnsupportedModel, match=r"LTXPipeline .*configured as wan"):
        Renderer.for_model(configured, COLD).load()


def test_an_unsupported_class_and_missing_weights_each_get_their_own_message(
    tmp_path: Path, renders: None
) -> None:
    folder = _save("tiny", tmp_path / "ms")
    index = json.loads((folder / "model_index.json").read_text())
    (folder / "model_index.json").write_text(json.dumps({**index, "_class_name": "StableDiffusionPipeline"}))
    with pytest.raises(UnsupportedModel) as unsupported:
        Renderer(str(folder), tuning=COLD).load()
    assert "StableDiffusionPipeline, which videobot does not render" in str(unsupported.value)
    assert "WanPipeline" in str(unsupported.value)

    folder = _save("tiny", tmp_path / "ms2", variant="fp16")
    for weights in (folder / "unet").glob("*.safetensors"):
        weights.unlink()
    with pytest.raises(ModelMissing) as missing:
        Renderer(str(folder), preset=MODELSCOPE, tuning=COLD).load()
    assert "Some weights" in str(missing.value) and "missing" in str(missing.value)
    assert '--include "*.json" "*.txt" "*.fp16.safetensors"' in str(missing.value)


def test_a_hub_model_that_is_not_cached_names_the_filtered_download() -> None:
    with pytest.raises(ModelMissing) as missing:
        Renderer(MODELSCOPE.id, tuning=COLD).load()
    assert (
        'hf download damo-vilab/text-to-video-ms-1.7b --include "*.json" "*.txt" "*.fp16.safetensors"'
        in str(missing.value)
    )


# configuration and the one validation path ----------------------------------------------------


def test_the_legacy_model_table_is_one_model_named_default(tmp_path: Path) -> None:
    config = parse_config({"model": {"id": "tiny"}}, "x.toml", {})
    assert list(config.model_settings) == ["default"] and config.default_model == "default"
    assert config.model_settings["default"].limits.default_frames == TINY_PRESETS["tiny"].frames
    assert [name for name, _ in config.models] == ["default"] and config.model_table, "[models.default]"
    assert config.model_settings["default"].key == "tiny", "its jobs are stored as before names existed"


@pytest.mark.parametrize(
    ("models", "words"),
    [
        (
            {"ltx": {"id": "tiny-ltx", "width": 48}},
            ["[models.ltx] width", "ltx needs sizes that are multiples of 32"],
        ),
        (
            {"wan": {"id": "tiny-wan", "default_frames": 16}},
            ["[models.wan] default_frames", "4k+1", "try 17"],
        ),
        ({"cog": {"id": "tiny-cogvideox", "max_frames": 53}}, ["[models.cog] max_frames", "at most 49"]),
        ({"x": {"id": "someone/some-video-model"}}, ["[models.x]", "family = one of modelscope, wan, ltx"]),
        ({"a": {"id": "tiny", "default": True}, "b": {"id": "tiny", "default": True}}, ["several models"]),
    ],
)
def test_a_model_that_breaks_its_familys_rules_stops_start_up_in_one_line(
    tmp_path: Path, models: dict[str, Any], words: list[str]
) -> None:
    with pytest.raises(ConfigError) as error:
        models_config(tmp_path, models)
    for word in words:
        assert word in str(error.value)


@pytest.mark.parametrize(
    ("name", "frames", "sentence"),
    [
        ("wan", 16, "wan takes 4k+1 frames (5, 9, 13…): try 17."),
        ("ltx", 16, "ltx takes 8k+1 frames (9, 17, 25…): try 17."),
        ("cog", 13, "cog takes 8k+1 frames (9, 17…): try 9."),
        ("cog", 21, "--frames must be between 9 and 17 for cog (1.1–2.1 s at 8 fps); you gave 21."),
    ],
)
def test_each_models_frame_rule_is_refused_in_one_sentence_with_a_fix(
    tmp_path: Path, name: str, frames: int, sentence: str
) -> None:
    from bot.core import messages

    settings = models_config(tmp_path).model_settings[name]
    with pytest.raises(CommandError) as error:
        validate_video(VideoArgs("a cat", frames=frames), settings.limits, random.Random(0), settings)
    assert messages.text(error.value.key, "en", **error.value.values) == sentence


# choosing a model -----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_users_pick_among_the_models_their_chat_allows(make_bot: MakeBot, tmp_path: Path) -> None:
    bot = await make_bot(config=models_config(tmp_path), worker=False)
    admin = bot.req(BOB, GROUP, admin=True)

    assert await bot.service.video_text(bot.req(), "a cat --model nope") is None
    assert bot.last_text == "There is no model called “nope” here; pick one of ms, wan, ltx, cog."

    await bot.service.admin(admin, "settings models wan,ltx")
    assert "models wan,ltx" in bot.last_text
    default_here = await bot.video("a cat", chat=GROUP)
    assert default_here.model == "wan", "the bot's default is not allowed here: the chat's first model"
    assert await bot.service.video_text(bot.req(ALICE, GROUP), "a cat --model ms") is None
    assert bot.last_text == "The model ms is not switched on in this chat; pick one of wan, ltx."
    await bot.service.admin(admin, "settings models all")
    assert (await bot.video("a cat --model ms", chat=GROUP)).model == "ms"


@pytest.mark.asyncio
async def test_models_lists_licences_defaults_and_what_is_loaded(
    make_bot: MakeBot, tmp_path: Path, renders: None
) -> None:
    tables = {"ms": {"id": MODELSCOPE.id}, "wan": {"id": "tiny-wan"}}
    bot = await make_bot(config=models_config(tmp_path, tables))  # the harness's tiny stands in for ms

    await bot.video("a cat --model wan")
    await bot.outbox.wait_for_video(timeout=30)
    await bot.service.list_models(bot.req())

    lines = bot.last_text.splitlines()
    assert lines[0] == "🎞 Video models (⭐ the default):"
    # ms's clips come from the stand-in, and say so: /models names what signs them, not ModelScope
    assert lines[1] == (
        "• tiny ⭐ · licence none (random weights) · 256×256, 16 frames "
        "(2.0 s at 8 fps; 8–32), 25 steps, guidance 9.0 · not loaded"
    )
    assert lines[2].startswith("• wan (tiny-wan) · licence none") and lines[2].endswith(
        "5–33, 4k+1), 4 steps, guidance 5.0 · loaded"
    )
    assert lines[3] == "🖼 No model here animates pictures or makes loops."
    assert lines[4] == "Pick one with /video <prompt> --model NAME."

    await bot.service.help(bot.req())
    assert "Clips are made by tiny (licence: none (random weights))." in bot.last_text
    assert "16 frames make 2.0 s at 8 fps" in bot.last_text and "[--model NAME]" in bot.last_text


@pytest.mark.asyncio
async def test_owners_switch_the_default_and_queued_jobs_keep_their_model(
    make_bot: MakeBot, tmp_path: Path
) -> None:
    bot = await make_bot(config=models_config(tmp_path), worker=False)
    queued = await bot.video("before the switch")

    await bot.service.admin(bot.req(BOB, GROUP, admin=True), "model wan")
    assert bot.last_text.startswith("Only the bot's owners can switch the model")  # not the quota sentence
    await bot.service.admin(bot.req(CAROL, admin=True), "model wan")
    assert bot.last_text.startswith("🎞 New videos now use wan (tiny-wan)")

    after = await bot.video("after the switch", user=BOB)
    assert (bot.job(queued.id).model, after.model) == ("ms", "wan")
    assert bot.service.rooms.models.active == "wan"
    assert any(e.action == "model" and e.target == "wan" for e in bot.store.audit.entries(5, None))


@pytest.mark.asyncio
async def test_the_worker_stays_on_the_loaded_model_but_bounds_the_wait(
    make_bot: MakeBot, tmp_path: Path, renders: None
) -> None:
    clock = ManualClock(1_000.0)
    config = models_config(tmp_path, render={**COLD_RENDER, "max_model_wait_s": 30.0})
    bot = await make_bot(config=config, worker=False, clock=clock)
    first = await bot.video("a cat")  # ms, first in line
    wan = await bot.video("a dog --model wan", user=BOB)
    await bot.video("a cow", user=UserRef("telegram", "9", "Dan"))
    backend: Any = bot.service.backend
    await __import__("asyncio").to_thread(backend.pool.load, "wan")
    assert backend.model_state().resident == {"wan"}

    line = bot.service.rooms.queue.ordered()
    assert [job.id for job in line][:2] == [first.id, wan.id]
    picked = bot.service.rooms.runner.pick(line)
    assert picked is not None and picked.id == wan.id, "the loaded model's job goes first"

    clock.advance(31)
    picked = bot.service.rooms.runner.pick(line)
    assert picked is not None and picked.id == first.id, "past the bound the head's model is loaded"


def test_one_model_is_resident_unless_keep_loaded_lists_them(renders: None) -> None:
    a, b, c = (
        Renderer("tiny", tuning=COLD),
        Renderer("tiny-wan", tuning=COLD),
        Renderer("tiny-ltx", tuning=COLD),
    )
    pool = ModelPool({"a": a, "b": b, "c": c}, keep_loaded=("a", "b"))

    pool.load("a")
    pool.load("c")
    assert pool.resident() == {"c"}, "a switch frees the old model first"
    pool.load("a")
    pool.load("b")
    assert pool.resident() == {"a", "b"}


# the demo ------------------------------------------------------------------------------------


def test_demo_renders_any_tiny_family_with_plain_progress_lines(
    tmp_path: Path, child_processes: ChildProcesses
) -> None:
    result = child_processes.run(
        [sys.executable, "-m", "bot", "demo", "a cat", "--model", "tiny-cogvideox", "--out", "c.mp4"],
        cwd=tmp_path,
        env={"PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PATH": "/usr/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert [line for line in result.stderr.splitlines() if line.startswith("step ")] == [
        "step 1/4",
        "step 2/4",
        "step 3/4",
        "step 4/4",
    ]
    frames, fps, tags = read_mp4(str(tmp_path / "c.mp4"))
    assert (frames, fps, tags["videobot_model"]) == (9, 8.0, "tiny-cogvideox")


def test_demo_draws_a_progress_bar_on_a_terminal() -> None:
    from bot.cli import _StepPrinter

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    printer = _StepPrinter(4, screen)
    for step in range(1, 5):
        printer(step, 4)
    printer.close()
    assert "4/4" in screen.getvalue() and "step" in screen.getvalue() and "\n" in screen.getvalue()
    assert "step 1/4\n" not in screen.getvalue()


def test_a_switch_to_a_model_that_cannot_load_keeps_the_loaded_one(tmp_path: Path, renders: None) -> None:
    loaded = Renderer("tiny", tuning=COLD)
    pool = ModelPool({"ms": loaded, "gone": Renderer(str(tmp_path / "not-there"), tuning=COLD)})
    pool.load("ms")

    with pytest.raises(ModelMissing):
        pool.load("gone")

    assert pool.resident() == {"ms"}, "nothing was freed for a model whose weights are not there"


# on Discord: a `model` option with choices from the config, /models, /admin model ------------


@pytest.mark.asyncio
async def test_discord_offers_the_configured_models_as_choices_and_renders_the_chosen_one(
    discord_fake: Any, tiny_pipe: Any, tmp_path: Path
) -> None:
    from tests.harness.discord import CONFIG_OWNER, MANAGE_GUILD, World, ephemeral_text
    from tests.harness.media import decode

    config = models_config(
        tmp_path,
        discord={"api_base_url": discord_fake.api_base_url, "gateway_url": discord_fake.gateway_url},
        admin={"owners": [f"discord:{CONFIG_OWNER}"]},
    )
    from bot.discord_adapter import point_at

    point_at(config.discord)
    world = World(discord_fake, config, tiny_pipe, ManualClock())
    await world.start()
    try:
        (synced,) = discord_fake.synced_commands.values()
        commands = {c["name"]: c for c in synced}
        video = {o["name"]: o for o in commands["video"]["options"]}
        assert [c["value"] for c in video["model"]["choices"]] == list(FAMILIES)
        assert "models" in commands

        interaction = discord_fake.slash("video", {"prompt": "a cat", "model": "ltx"})
        await interaction.callback()
        followup = await interaction.followup(timeout=30)
        assert decode(followup.files["files[0]"]).frames == TINY_PRESETS["tiny-ltx"].frames
        assert "ltx (tiny-ltx)" in str(followup.json["embeds"][0]["fields"])

        listed = ephemeral_text(await discord_fake.slash("models").callback())
        assert "• ltx (tiny-ltx) · licence none (random weights)" in listed and "· loaded" in listed

        refused = discord_fake.slash("admin", {"name": "wan"}, subcommand="model", permissions=MANAGE_GUILD)
        assert "owner" in ephemeral_text(await refused.callback()).lower()
        switch = discord_fake.slash(
            "admin", {"name": "wan"}, subcommand="model", user_id=CONFIG_OWNER, permissions=MANAGE_GUILD
        )
        assert ephemeral_text(await switch.callback()).startswith("🎞 New videos now use wan")
    finally:
        await world.stop()


@pytest.mark.asyncio
async def test_telegram_models_and_video_with_a_model(telegram_fake: Any, tmp_path: Path) -> None:
    from tests.harness.telegram import replying_to, start_bot

    def make(env: dict[str, str] | None = None, **sections: Any) -> Config:
        return models_config(tmp_path, env=env, **sections)

    async with start_bot(telegram_fake, make) as bot:
        command = telegram_fake.send_message(11, 11, "/models", chat_type="private")
        listed = await telegram_fake.wait_for_call("sendMessage", replying_to(command))
        assert listed.params["text"].startswith("🎞 Video models (⭐ the default):")
        assert "• wan (tiny-wan) · licence none (random weights)" in listed.params["text"]

        telegram_fake.send_message(11, 11, "/video a cat --model cog --frames 17", chat_type="private")
        sent = await telegram_fake.wait_for_call("sendVideo")
        from tests.harness.media import decode

        assert decode(sent.files["video"]).frames == 17
        await eventually(
            lambda: bot.service.store.jobs.with_status(JobStatus.DONE) != [], what="the job done"
        )
        assert bot.service.store.jobs.with_status(JobStatus.DONE)[0].model == "cog"


@pytest.mark.parametrize("tiny", TEXT_MODELS)
def test_every_frame_count_a_family_accepts_comes_back_whole(tiny: str, renders: None) -> None:
    """The frame rules are the pipelines' own: each count they accept is what the VAE decodes."""
    preset, renderer = TINY_PRESETS[tiny], Renderer(tiny, tuning=COLD)
    rule = preset.frame_rule
    counts = [n for n in range(max(rule.least, 2), preset.max_frames + 1) if rule.fits(n)]
    assert counts
    for frames in counts:  # the frames are what is tested: the smallest size every family takes
        small = replace(params(frames, steps=1), width=32, height=32)
        assert renderer.render(small).frames.shape[0] == frames


def test_a_hub_id_loads_from_the_hugging_face_cache_offline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, renders: None
) -> None:
    """The owner's `hf download --include "*.fp16.safetensors"`: a cache with the fp16 files only."""
    import shutil

    from huggingface_hub import constants

    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--damo-vilab--text-to-video-ms-1.7b"
    _save("tiny", tmp_path / "saved", variant="fp16")
    shutil.copytree(tmp_path / "saved", repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))

    settings = models_config(tmp_path, {"ms": {"id": MODELSCOPE.id}}).model_settings["ms"]
    renderer = Renderer.for_model(settings, COLD)
    renderer.load()

    assert (
        type(renderer.pipe).__name__ == "TextToVideoSDPipeline" and renderer.pipe.videobot_variant == "fp16"
    )
    assert renderer.render(params(8, steps=1)).frames.shape == (8, SMALL, SMALL, 3)
