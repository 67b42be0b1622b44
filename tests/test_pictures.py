"""Animating a picture: through the core with tiny image-to-video models, every bad picture
refused in one sentence at no charge, the real-person gate, and the picture kept with its job."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from bot.domain import ButtonAction, JobStatus
from bot.faces import FaceDetector
from bot.pictures import PictureInspector
from bot.pipelines.image import fit_picture
from bot.settings.loading import parse_config
from bot.settings.root import Config
from tests.harness.config import COLD_RENDER, SMALL
from tests.harness.console import ChildProcesses
from tests.harness.core import ALICE, CAROL, CHAT, CoreBot, MakeBot
from tests.harness.pictures import (
    astronaut_jpeg,
    coffee_jpeg,
    encode,
    gradient,
    photo,
    png_header_only,
    upload,
)

MODELS = {"ms": {"id": "tiny"}, "ltx": {"id": "tiny-ltx"}, "wan22": {"id": "tiny-wan22"}}


def pictures_config(tmp_path: Path, **sections: Any) -> Config:
    raw: dict[str, Any] = {
        "models": MODELS,
        "storage": {"dir": str(tmp_path / "data")},
        "queue": {"progress_interval_s": 0.0, "group_progress_interval_s": 0.0},
        "quota": {"per_minute": 1000.0, "burst": 1000, "daily": 100, "max_queued": 10},
        "admin": {"owners": [CAROL.key]},
        "video": {"picture_every_s": 0, "width": SMALL, "height": SMALL},
        "render": dict(COLD_RENDER),
    }
    for name, values in sections.items():
        raw.setdefault(name, {}).update(values)
    return parse_config(raw, "test-pictures.toml", {})


async def animate(bot: CoreBot, data: bytes, text: str = "it moves --model ltx", user: Any = ALICE) -> Any:
    return await bot.service.video_text(bot.req(user), text, picture=upload(data))


def jobs_in_store(bot: CoreBot) -> int:
    return int(bot.store.db.conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0])


# the picture path through the core ------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("model", ["ltx", "wan22"])
async def test_a_photo_is_animated_and_kept_with_its_job(
    make_bot: MakeBot, tmp_path: Path, model: str
) -> None:
    bot = await make_bot(config=pictures_config(tmp_path))
    data = coffee_jpeg()

    job = await animate(bot, data, f"steam rises --model {model}")
    sent = await bot.outbox.wait_for_video(timeout=60)

    assert job is not None and sent.clip is not None
    stored = bot.job(job.id).params.picture
    assert stored is not None and stored.format == "jpeg" and stored.size_bytes == len(data)
    assert Path(stored.path).read_bytes() == data  # the bot's own copy, byte for byte
    assert bot.used_today() == 1
    await bot.service.info(bot.req(), job.id)
    assert "from a picture" in bot.last_text and stored.sha256 in bot.last_text


@pytest.mark.asyncio
async def test_the_same_model_renders_text_too(make_bot: MakeBot, tmp_path: Path) -> None:
    bot = await make_bot(config=pictures_config(tmp_path))
    job = await bot.video("waves --model wan22")
    await bot.outbox.wait_for_video(timeout=60)
    assert bot.job(job.id).params.picture is None


@pytest.mark.asyncio
async def test_reroll_and_variation_keep_the_picture(make_bot: MakeBot, tmp_path: Path) -> None:
    bot = await make_bot(config=pictures_config(tmp_path))
    job = await animate(bot, coffee_jpeg())
    await bot.until_status(job.id, JobStatus.DONE, timeout=60)

    await bot.service.button(bot.req(), ButtonAction.REROLL, job.id)
    await bot.service.button(bot.req(), ButtonAction.VARIATION, job.id)

    later = bot.store.jobs.of_user(ALICE, 3)
    assert [j.parent_id for j in later[:2]] == [job.id, job.id]
    assert all(j.params.picture == bot.job(job.id).params.picture for j in later)


@pytest.mark.asyncio
async def test_a_queued_picture_survives_a_restart(make_bot: MakeBot, tmp_path: Path) -> None:
    config = pictures_config(tmp_path)
    first = await make_bot(config=config, worker=False)
    job = await animate(first, coffee_jpeg())
    picture = first.job(job.id).params.picture
    await first.close()

    second = await make_bot(config=config)
    await second.outbox.wait_for_video(timeout=60)
    assert second.job(job.id).params.picture == picture


@pytest.mark.asyncio
async def test_retention_deletes_the_picture_with_the_last_clip_made_from_it(
    make_bot: MakeBot, tmp_path: Path
) -> None:
    bot = await make_bot(config=pictures_config(tmp_path, storage={"keep_clips_hours": 1}))
    job = await animate(bot, coffee_jpeg())
    done = await bot.until_status(job.id, JobStatus.DONE, timeout=60)
    picture = done.params.picture
    assert picture is not None and Path(picture.path).exists()

    bot.clock.advance(2 * 3600)
    bot.service.rooms.housekeeping.forget_old_data()

    assert not Path(picture.path).exists()


# the model must take pictures -------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_picture_for_a_text_only_model_is_one_sentence_and_free(
    make_bot: MakeBot, tmp_path: Path
) -> None:
    bot = await make_bot(config=pictures_config(tmp_path))
    assert await animate(bot, coffee_jpeg(), "steam --model ms") is None
    assert bot.last_text.startswith("ms makes clips from text only; pictures work with ltx, wan22")
    assert bot.used_today() == 0 and jobs_in_store(bot) == 0


@pytest.mark.asyncio
async def test_models_says_which_models_animate_pictures(make_bot: MakeBot, tmp_path: Path) -> None:
    bot = await make_bot(config=pictures_config(tmp_path))
    await bot.service.list_models(bot.req())
    lines = {line.split(" ")[1]: line for line in bot.last_text.splitlines() if line.startswith("•")}
    assert "animates pictures" in lines["ltx"] and "animates pictures" in lines["wan22"]
    assert "pictures" not in lines["ms"]


# untrusted bytes ---------------------------------------------------------------------------------


def _truncated() -> bytes:
    whole = coffee_jpeg()
    return whole[: len(whole) // 2]


BAD_PICTURES = {
    "empty": (b"", "empty (0 bytes)"),
    "text": (b"just some text, not a picture at all" * 10, "not a JPEG, PNG or WebP"),
    "gif": (encode(gradient(), "GIF"), "not a JPEG, PNG or WebP"),
    "truncated": (_truncated(), "damaged or cut short"),
    "bomb": (png_header_only(60_000, 60_000), "pixels a side"),
    "strip": (encode(Image.new("RGB", (2000, 20)), "PNG"), "2000×20"),
    "tiny": (encode(Image.new("RGB", (8, 8)), "PNG"), "8×8"),
}


@pytest.mark.asyncio
@pytest.mark.parametrize("name", list(BAD_PICTURES))
async def test_each_bad_picture_gets_its_sentence_charges_nothing_and_queues_nothing(
    make_bot: MakeBot, tmp_path: Path, name: str
) -> None:
    bot = await make_bot(config=pictures_config(tmp_path))
    data, words = BAD_PICTURES[name]
    assert await animate(bot, data) is None
    assert words in bot.last_text and "Nothing was charged" in bot.last_text
    assert "Traceback" not in bot.last_text and len(bot.last_text.splitlines()) == 1
    assert bot.used_today() == 0 and jobs_in_store(bot) == 0
    job = await animate(bot, coffee_jpeg())  # and the bot is still there
    assert job is not None


@pytest.mark.asyncio
async def test_a_picture_over_max_image_mb_is_refused_before_it_is_downloaded(
    make_bot: MakeBot, tmp_path: Path
) -> None:
    bot = await make_bot(config=pictures_config(tmp_path, video={"max_image_mb": 1}))
    fetched = []

    async def fetch() -> bytes:
        fetched.append(1)
        return b""

    from bot.core.credentials import Upload

    assert await bot.service.video_text(bot.req(), "x --model ltx", picture=Upload(5_000_000, fetch)) is None
    assert "over 1 MB" in bot.last_text and not fetched
    assert bot.used_today() == 0


def test_exif_orientation_is_applied_and_the_first_frame_of_an_animation_taken() -> None:
    def no_faces(
        picture: Image.Image, *, derived: bool = False, fine: bool = False, closer: bool = False
    ) -> int:
        return 0

    inspect = PictureInspector(20_000_000, no_faces)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: turn 90° to show
    sideways = encode(gradient(96, 64), exif=exif)
    assert (inspect(sideways).picture.width, inspect(sideways).picture.height) == (64, 96)

    frames = [Image.new("RGB", (40, 30), colour) for colour in ("red", "blue")]
    animated = io.BytesIO()
    frames[0].save(animated, "WEBP", save_all=True, append_images=frames[1:], lossless=True)
    facts = inspect(animated.getvalue())
    assert facts.picture.format == "webp" and (facts.picture.width, facts.picture.height) == (40, 30)


def test_a_picture_is_fitted_by_a_centred_crop_never_stretched() -> None:
    wide = np.zeros((64, 128, 3), np.uint8)
    wide[24:40, 56:72] = (255, 0, 0)  # a 16×16 red square in the middle
    fitted = np.asarray(fit_picture(Image.fromarray(wide), 64, 64))
    assert fitted.shape == (64, 64, 3)
    red = np.argwhere(fitted[..., 0] > 200)
    height, width = red.max(0) - red.min(0) + 1
    assert abs(int(height) - int(width)) <= 1  # still square: cropped, not squeezed
    assert abs(red.mean(0)[1] - 31.5) < 1.5 and abs(red.mean(0)[0] - 31.5) < 1.5  # still centred


# the real-person gate --------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_real_photograph_of_a_face_is_refused_free_and_audited(
    make_bot: MakeBot, tmp_path: Path
) -> None:
    bot = await make_bot(config=pictures_config(tmp_path))
    assert await animate(bot, astronaut_jpeg()) is None
    assert "real person's face" in bot.last_text and "nothing was charged" in bot.last_text
    assert bot.used_today() == 0 and jobs_in_store(bot) == 0
    entries = bot.store.audit.entries(5, CHAT.key)
    assert entries[0].action == "refused picture" and entries[0].actor == ALICE.key


@pytest.mark.asyncio
async def test_owners_may_animate_faces_when_the_policy_says_owners(
    make_bot: MakeBot, tmp_path: Path
) -> None:
    bot = await make_bot(config=pictures_config(tmp_path, policy={"faces": "owners"}))
    assert await animate(bot, astronaut_jpeg()) is None
    assert await animate(bot, astronaut_jpeg(), user=CAROL) is not None


@pytest.mark.asyncio
async def test_chat_admins_can_only_tighten_the_face_policy(make_bot: MakeBot, tmp_path: Path) -> None:
    bot = await make_bot(config=pictures_config(tmp_path, policy={"faces": "allow"}))
    assert await animate(bot, astronaut_jpeg()) is not None  # allowed by the config
    await bot.service.admin(bot.req(admin=True), "settings faces refuse")
    assert "faces refuse" in bot.last_text
    assert await animate(bot, astronaut_jpeg()) is None
    assert "real person's face" in bot.last_text

    strict = await make_bot(config=pictures_config(tmp_path / "strict"))
    await strict.service.admin(strict.req(admin=True), "settings faces allow")
    assert "only make the face policy stricter" in strict.last_text


FACES = {"astronaut": 1, "camera": 1}
NO_FACES = ["coffee", "chelsea", "cat", "rocket", "coins", "moon", "horse", "clock", "brick", "text", "page"]


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector.shared()


@pytest.mark.parametrize("name", [*FACES, *NO_FACES])
def test_the_detector_finds_real_faces_and_nothing_in_pictures_without_one(
    detector: FaceDetector, name: str
) -> None:
    assert detector(photo(name)) == FACES.get(name, 0)


def test_the_detector_is_not_fooled_by_a_huge_picture(detector: FaceDetector) -> None:
    big = photo("astronaut").resize((4000, 4000))
    assert detector(big) == 1


# the bot's own credentialed stills ---------------------------------------------------------------


def test_the_bots_own_signed_still_passes_the_face_gate_and_a_look_alike_does_not(tmp_path: Path) -> None:
    from bot.provenance.identity import ensure_local_identity
    from bot.provenance.verify import check_picture, trust_anchors
    from tests.harness.stills import sign_still

    mine = ensure_local_identity(tmp_path / "mine")
    # another bot's certificate: the same names (and c2pa says "valid" for it too), another key
    theirs = ensure_local_identity(tmp_path / "theirs")
    anchors = trust_anchors(mine.chain_pem.decode())
    inspect = PictureInspector(
        20_000_000, FaceDetector.shared(), lambda data, mime: check_picture(data, mime, own_anchors=anchors)
    )
    face = encode(photo("astronaut"), "PNG")

    own = inspect(sign_still(face, "image/png", mine))
    assert own.picture.credentials == "videobot" and own.faces == 0

    look_alike = inspect(sign_still(face, "image/png", theirs))
    assert look_alike.picture.credentials == "other" and look_alike.faces == 1

    plain = inspect(face)
    assert plain.picture.credentials == "" and plain.faces == 1


@pytest.mark.asyncio
async def test_a_still_the_bot_signed_is_animated_and_its_manifest_kept_as_the_ingredients(
    make_bot: MakeBot, tmp_path: Path, renders: None
) -> None:
    import json

    import c2pa

    from bot.provenance.identity import ensure_local_identity
    from bot.provenance.verify import check_clip
    from tests.harness.stills import sign_still

    config = pictures_config(tmp_path)
    bot = await make_bot(config=config)
    still = sign_still(encode(photo("astronaut"), "PNG"), "image/png", ensure_local_identity(config.data_dir))

    job = await animate(bot, still)
    assert job is not None, bot.last_text
    sent = await bot.outbox.wait_for_video(timeout=60)
    assert sent.clip is not None

    with c2pa.Reader("video/mp4", sent.clip.path) as reader:
        store = json.loads(reader.json())
    [ingredient] = store["manifests"][store["active_manifest"]]["ingredients"]
    assert ingredient["relationship"] == "inputTo" and ingredient["format"] == "image/png"
    assert ingredient.get("active_manifest") in store["manifests"]  # the still's own manifest, kept
    check = check_clip(Path(sent.clip.path))
    assert check.valid and check.from_picture and check.picture_had_credentials


# the console and the demo --------------------------------------------------------------------


def test_videobot_demo_animates_an_image_and_refuses_a_face(
    tmp_path: Path, child_processes: ChildProcesses
) -> None:
    import subprocess

    from bot.provenance.verify import check_clip
    from tests.harness.console import VIDEOBOT, child_env, write_config

    write_config(tmp_path)
    (tmp_path / "coffee.jpg").write_bytes(coffee_jpeg())
    (tmp_path / "astronaut.jpg").write_bytes(astronaut_jpeg())

    def demo(image: str) -> subprocess.CompletedProcess[str]:
        return child_processes.run(
            [str(VIDEOBOT), "demo", "steam", "--model", "tiny-ltx", "--image", image, "--out", "x.mp4",
             "--config", "config.toml"],
            cwd=tmp_path, env=child_env(), capture_output=True, text=True, encoding="utf-8", timeout=180,
        )  # fmt: skip

    made = demo("coffee.jpg")
    assert made.returncode == 0, made.stderr
    check = check_clip(tmp_path / "x.mp4")
    assert check.valid and check.from_picture and not check.picture_had_credentials

    refused = demo("astronaut.jpg")
    assert refused.returncode == 2 and "real person's face" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_the_console_takes_an_image_option(tmp_path: Path) -> None:
    from bot.console_adapter import take_image

    (tmp_path / "p.jpg").write_bytes(b"123")
    rest, picture = take_image(f"steam rises --image {tmp_path / 'p.jpg'} --seed 5")
    assert rest == "steam rises --seed 5" and picture is not None and picture.size == 3
    assert take_image("no picture here") == ("no picture here", None)


# the render path --------------------------------------------------------------------------------


def _picture_params(tmp_path: Path, seed: int, colour: str, frames: int = 9) -> Any:
    from bot.domain import FromPicture, Picture, RenderParams

    path = tmp_path / f"{colour}.png"
    Image.new("RGB", (80, 48), colour).save(path)
    picture = Picture("0" * 64, path.stat().st_size, "png", 80, 48, str(path))
    return RenderParams("it moves", "", seed, frames, 2, 5.0, 64, 64, 8, conditioning=FromPicture(picture))


@pytest.mark.parametrize("name", ["tiny-ltx", "tiny-wan22"])
def test_the_image_pipeline_shares_the_loaded_modules_and_batches_pictures(
    tmp_path: Path, name: str, renders: None
) -> None:
    from bot.render import Renderer
    from bot.settings.sections import RenderConfig

    renderer = Renderer(name, tuning=RenderConfig(warmup_steps=0))
    red, blue = _picture_params(tmp_path, 1, "red"), _picture_params(tmp_path, 2, "blue")

    alone = renderer.render(red).frames
    together = [None if c is None else c.frames for c in renderer.render_batch([red, blue])]

    image_pipe = renderer.mode_pipeline(renderer.preset.modes.picture)
    assert type(image_pipe).__name__.endswith("ImageToVideoPipeline")
    for part in ("transformer", "vae", "text_encoder"):  # the same modules, no second copy
        assert getattr(image_pipe, part) is getattr(renderer.pipe, part)
    assert alone.shape == (9, 64, 64, 3) and all(c is not None and c.shape == alone.shape for c in together)
    assert together[0] is not None and np.abs(together[0].astype(int) - alone.astype(int)).max() <= 2
    assert together[1] is not None and not np.array_equal(together[0], together[1])  # its own picture


def test_presets_say_which_checkpoints_take_pictures() -> None:
    from bot.pipelines.registry import CATALOGUE, TINY_PRESETS
    from bot.pipelines.spec import Pictures

    takes = {
        "Wan-AI/Wan2.2-TI2V-5B-Diffusers": Pictures.ALSO,
        "Lightricks/LTX-Video": Pictures.ALSO,
        "THUDM/CogVideoX-5b-I2V": Pictures.ONLY,
        "Wan-AI/Wan2.1-I2V-14B-480P-Diffusers": Pictures.ONLY,
        "Wan-AI/Wan2.1-T2V-1.3B-Diffusers": Pictures.NO,
        "damo-vilab/text-to-video-ms-1.7b": Pictures.NO,
    }
    for hub_id, expected in takes.items():
        preset = CATALOGUE.find(hub_id)
        assert preset is not None and preset.pictures == expected, hub_id
    assert TINY_PRESETS["tiny-ltx"].pictures == TINY_PRESETS["tiny-wan22"].pictures == Pictures.ALSO
    assert TINY_PRESETS["tiny-wan22"].size_rule == 32


@pytest.mark.asyncio
async def test_the_picture_of_a_cancelled_job_is_deleted_once_old(make_bot: MakeBot, tmp_path: Path) -> None:
    import os

    bot = await make_bot(config=pictures_config(tmp_path, storage={"keep_clips_hours": 1}), worker=False)
    job = await animate(bot, coffee_jpeg())
    picture = bot.job(job.id).params.picture
    assert picture is not None
    await bot.service.cancel(bot.req(), str(job.id))
    bot.service.rooms.housekeeping.forget_old_data()
    assert Path(picture.path).exists()  # still fresh

    old = bot.clock() - 2 * 3600
    os.utime(picture.path, (old, old))
    bot.service.rooms.housekeeping.forget_old_data()
    assert not Path(picture.path).exists()


def test_the_picture_settings_are_checked_at_start_up(tmp_path: Path) -> None:
    from bot.settings.bounds import ConfigError

    with pytest.raises(ConfigError, match=r"\[policy\] faces must be one of refuse, owners, allow"):
        pictures_config(tmp_path, policy={"faces": "sometimes"})
    with pytest.raises(ConfigError, match=r"\[video\] max_image_mb must be between 1 and 200"):
        pictures_config(tmp_path, video={"max_image_mb": 0})
    assert pictures_config(tmp_path).policy.faces == "refuse"  # the default
