"""The real-person gate at the point of use (#32, G1 and G3): every use of a picture — a new one,
a kept one behind 🔁 / 🎲 / a reply / ⏩ / `/extend` — passes the face policy as it stands now,
for the person asking, on the pixels the model will be given (the centre crop at its size, upright
and turned), and without the detector no picture is animated at all."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bot.core.types import ButtonAction, Job, JobStatus
from bot.faces import FaceDetector
from bot.pictures import count_faces_seen
from tests.harness.core import ALICE, CAROL, CHAT, GROUP, CoreBot, MakeBot
from tests.harness.pictures import astronaut_jpeg, coffee_jpeg, encode, photo, upload
from tests.test_pictures import animate, jobs_in_store, pictures_config

REFUSED = "real person's face"


def on_canvas(picture: Image.Image, width: int, height: int) -> Image.Image:
    """`picture` in the middle of a plain grey canvas (a panorama or a tall strip)."""
    canvas = Image.new("RGB", (width, height), (128, 128, 128))
    canvas.paste(picture, ((width - picture.width) // 2, (height - picture.height) // 2))
    return canvas


# edits of a real photograph that the whole-picture look at 320 px missed (G3)
FACE_EDITS = {
    "panorama": lambda p: on_canvas(p, 4096, 512),
    "tall strip": lambda p: on_canvas(p, 512, 4096),
    "64 px": lambda p: p.resize((64, 64)),
    "upside down": lambda p: p.transpose(Image.Transpose.ROTATE_180),
    "turned 90°": lambda p: p.transpose(Image.Transpose.ROTATE_90),
}
NO_FACE_PHOTOS = [
    "coffee",
    "chelsea",
    "cat",
    "rocket",
    "coins",
    "moon",
    "horse",
    "clock",
    "brick",
    "text",
    "page",
]
MODEL_SIZES = [(64, 64), (512, 512), (768, 512), (832, 480)]


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector()


@pytest.mark.parametrize("edit", list(FACE_EDITS))
def test_the_detector_sees_what_the_model_is_given(detector: FaceDetector, edit: str) -> None:
    edited = FACE_EDITS[edit](photo("astronaut"))
    for size in MODEL_SIZES:
        assert count_faces_seen(detector, edited, [size]) >= 1, (edit, size)


@pytest.mark.parametrize("name", NO_FACE_PHOTOS)
def test_pictures_without_people_still_pass_every_view(detector: FaceDetector, name: str) -> None:
    # Known limit: a wall clock shrunk to 64 px and enlarged again reads as a face (0.9); tiny
    # pictures fail closed.
    edits = {"as sent": lambda p: p, **FACE_EDITS}
    for edit_name, edit in edits.items():
        if name == "clock" and edit_name == "64 px":
            continue
        edited = edit(photo(name))
        assert [count_faces_seen(detector, edited, [size]) for size in MODEL_SIZES] == [0] * len(MODEL_SIZES)


@pytest.mark.asyncio
async def test_edited_face_photos_are_refused_in_a_chat_and_other_pictures_animated(
    make_bot: MakeBot, tmp_path: Path
) -> None:
    bot = await make_bot(config=pictures_config(tmp_path))
    for edit, make in FACE_EDITS.items():
        assert await animate(bot, encode(make(photo("astronaut")))) is None, edit
        assert REFUSED in bot.last_text and "nothing was charged" in bot.last_text
    assert bot.used_today() == 0 and jobs_in_store(bot) == 0
    for edit in ("panorama", "upside down", "64 px"):
        assert await animate(bot, encode(FACE_EDITS[edit](photo("chelsea")))) is not None, edit


async def owners_face_clip(bot: CoreBot) -> Job:
    """An owner's animation of a real face, finished (allowed under `owners`)."""
    job = await animate(bot, astronaut_jpeg(), user=CAROL)
    assert job is not None
    return await bot.until_status(job.id, JobStatus.DONE, timeout=60)


async def refused_free(bot: CoreBot, attempt: Any, what: str) -> None:
    jobs, used = jobs_in_store(bot), bot.used_today()
    assert await attempt is None, what
    assert REFUSED in bot.last_text, (what, bot.last_text)
    assert len(bot.last_text.splitlines()) == 1 and "Traceback" not in bot.last_text
    assert (jobs_in_store(bot), bot.used_today()) == (jobs, used), f"{what} was charged or queued"


@pytest.mark.asyncio
async def test_under_owners_a_kept_face_is_animated_again_only_for_an_owner(
    make_bot: MakeBot, tmp_path: Path
) -> None:
    bot = await make_bot(config=pictures_config(tmp_path, policy={"faces": "owners"}))
    clip = await owners_face_clip(bot)
    alice, admin = bot.req(ALICE), bot.req(ALICE, admin=True)

    await refused_free(bot, bot.service.button(alice, ButtonAction.REROLL, clip.id), "🔁")
    await refused_free(bot, bot.service.button(alice, ButtonAction.VARIATION, clip.id), "🎲")
    await refused_free(bot, bot.service.video_text(alice, "now it dances", based_on=clip), "a reply")
    await refused_free(bot, bot.service.extend(admin, clip.id), "⏩ by a chat admin")

    extension = await bot.service.extend(bot.req(CAROL), clip.id)  # the owner may
    assert extension is not None
    await refused_free(
        bot, bot.service.button(alice, ButtonAction.REROLL, extension.id), "🔁 on an extension"
    )
    jobs = jobs_in_store(bot)
    await bot.service.button(bot.req(CAROL), ButtonAction.REROLL, clip.id)
    assert REFUSED not in bot.last_text and jobs_in_store(bot) == jobs + 1
    actions = [entry.action for entry in bot.store.audit.entries(50, CHAT.key)]
    assert actions.count("refused picture") >= 5
    assert actions.count("animated face") >= 3  # the owner's upload, extension and reroll


@pytest.mark.asyncio
async def test_a_chat_that_tightens_the_policy_stops_rerolls_of_a_face_it_allowed(
    make_bot: MakeBot, tmp_path: Path
) -> None:
    bot = await make_bot(config=pictures_config(tmp_path, policy={"faces": "allow"}))
    job = await animate(bot, astronaut_jpeg())
    assert job is not None
    await bot.until_status(job.id, JobStatus.DONE, timeout=60)
    await bot.service.admin(bot.req(chat=GROUP, admin=True), "settings faces refuse")
    from_group = bot.service.extend_text(bot.req(chat=GROUP), f"{job.id} it walks")
    await refused_free(bot, from_group, "/extend from a chat that refuses faces")
    await bot.service.admin(bot.req(admin=True), "settings faces refuse")
    await refused_free(bot, bot.service.button(bot.req(), ButtonAction.REROLL, job.id), "🔁 after the change")


@pytest.mark.asyncio
async def test_without_the_detector_no_picture_is_animated_kept_ones_included(
    make_bot: MakeBot, tmp_path: Path
) -> None:
    bot = await make_bot(config=pictures_config(tmp_path, policy={"faces": "allow"}))
    job = await animate(bot, coffee_jpeg())
    assert job is not None
    bot.service.rooms.admission.pictures = None  # as `picture_gate` leaves it when the detector is missing
    jobs = jobs_in_store(bot)
    for press in (ButtonAction.REROLL, ButtonAction.VARIATION):
        await bot.service.button(bot.req(), press, job.id)
        assert bot.last_text.startswith("Pictures can't be checked right now")
    await bot.service.video_text(bot.req(), "again", based_on=job)
    assert bot.last_text.startswith("Pictures can't be checked right now")
    assert await bot.service.video_text(bot.req(), "it moves", picture=upload(coffee_jpeg())) is None
    assert jobs_in_store(bot) == jobs
    assert await bot.video("waves --model ltx") is not None  # text still works


def test_a_worker_renders_only_the_picture_the_bot_checked(tmp_path: Path) -> None:
    from bot.core.pictures import PictureGate
    from bot.pictures import PictureInspector, picture_intact

    gate = PictureGate(PictureInspector(20_000_000, FaceDetector()), tmp_path / "pictures")
    data = coffee_jpeg()
    kept = gate.keep(data, gate.inspect(data, [(64, 64)])).picture
    assert picture_intact(kept)
    Path(kept.path).write_bytes(astronaut_jpeg())  # swapped on the shared disk after the check
    assert not picture_intact(kept)
