"""The real-person gate at the point of use (#32, G1 and G3): every use of a picture — a new one,
a kept one behind 🔁 / 🎲 / a reply / ⏩ / `/extend` — passes the face policy as it stands now,
for the person asking, on the pixels the model will be given (the centre crop at its size, upright
and turned), and without the detector no picture is animated at all."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bot.domain import ButtonAction, Job, JobStatus
from bot.faces import FaceDetector
from bot.pictures import count_faces_seen
from tests.harness.core import ALICE, CAROL, CHAT, GROUP, CoreBot, MakeBot
from tests.harness.pictures import RememberedLooks, astronaut_jpeg, coffee_jpeg, encode, photo, upload
from tests.harness.polling import eventually
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
def detector() -> RememberedLooks:
    return RememberedLooks(FaceDetector.shared())


@pytest.mark.parametrize("edit", list(FACE_EDITS))
def test_the_detector_sees_what_the_model_is_given(detector: RememberedLooks, edit: str) -> None:
    edited = FACE_EDITS[edit](photo("astronaut"))
    for size in MODEL_SIZES:
        assert count_faces_seen(detector, edited, [size]) >= 1, (edit, size)


@pytest.mark.parametrize("name", NO_FACE_PHOTOS)
def test_pictures_without_people_still_pass_every_view(detector: RememberedLooks, name: str) -> None:
    # Known limit: a wall clock shrunk to 64 px and enlarged again reads as a face (0.9); tiny
    # pictures fail closed.
    edits = {"as sent": lambda p: p, **FACE_EDITS}
    for edit_name, edit in edits.items():
        if name == "clock" and edit_name == "64 px":
            continue
        # every model's views at once: the picture, each crop, turned, and the closer looks
        assert count_faces_seen(detector, edit(photo(name)), MODEL_SIZES) == 0, edit_name


def cut_by_its_edge(
    picture: Image.Image, edge: str, missing: float, detector: RememberedLooks
) -> Image.Image:
    """`picture` cut so that `missing` of its face lies beyond `edge` of what is sent."""
    (_, x, y, w, h), scale = detector.faces(picture)[0], max(picture.size) / 320
    x, y, w, h = x * scale, y * scale, w * scale, h * scale
    box = {
        "left": (int(x + missing * w), 0, picture.width, picture.height),
        "top": (0, int(y + missing * h), picture.width, picture.height),
        "right": (0, 0, int(x + (1 - missing) * w), picture.height),
        "bottom": (0, 0, picture.width, int(y + (1 - missing) * h)),
    }[edge]
    return picture.crop(box)


@pytest.mark.parametrize("name", ["astronaut", "camera"])
def test_a_face_a_third_cut_by_the_pictures_own_edge_is_seen(detector: RememberedLooks, name: str) -> None:
    # Known limit (docs/pictures.md): with about half of it missing, some faces pass
    for edge in ("left", "top", "right", "bottom"):
        edited = cut_by_its_edge(photo(name), edge, 1 / 3, detector)
        assert count_faces_seen(detector, edited, MODEL_SIZES) >= 1, edge


def cut_by_the_crop(width: int, height: int, side: int, size: tuple[int, int], edge: str) -> Image.Image:
    """The astronaut, `side` px, on grass, her face on the top or left edge of `size`'s centre crop."""
    picture, face = photo("grass").resize((width, height)), photo("astronaut").resize((side, side))
    scale = min(width / size[0], height / size[1])
    left, top = (width - size[0] * scale) / 2, (height - size[1] * scale) / 2
    centre_x, centre_y = (left, height / 2) if edge == "left" else (width / 2, top)
    picture.paste(face, (int(centre_x - 221 / 512 * side), int(centre_y - 73 / 512 * side)))
    return picture


def collage(picture: Image.Image, n: int, side: int) -> Image.Image:
    """`picture` n×n times on a `side`-px square."""
    cell = side // n
    tile, sheet = picture.resize((cell, cell)), Image.new("RGB", (side, side))
    for row in range(n):
        for column in range(n):
            sheet.paste(tile, (column * cell, row * cell))
    return sheet


def in_a_field(picture: Image.Image, side: int, share: float) -> Image.Image:
    """`picture` near the corner of a grey `side`-px field, its face `share` of the field's side."""
    field, photo_side = Image.new("RGB", (side, side), (128, 128, 128)), int(share * side / 0.14)
    field.paste(picture.resize((photo_side, photo_side)), (100, 100))
    return field


# edits that still passed the views above (the picture and the model's crop, turned): a face the
# crop cuts in half, small faces in a large field or a collage; the closer looks see them
CLOSER_EDITS = {
    "cut by the crop's top edge": lambda: cut_by_the_crop(1024, 768, 115, (768, 512), "top"),
    "cut by the crop's left edge": lambda: cut_by_the_crop(900, 1600, 277, (512, 512), "left"),
    "10×10 collage": lambda: collage(photo("astronaut"), 10, 2048),
    "12×12 collage, 4096 px": lambda: collage(photo("astronaut"), 12, 4096),
    "a face at 2 % of a 4096-px field": lambda: in_a_field(photo("astronaut"), 4096, 0.02),
}


@pytest.mark.parametrize("edit", list(CLOSER_EDITS))
def test_the_closer_looks_see_a_face_cut_by_the_crop_or_small_in_a_large_field(
    detector: RememberedLooks, edit: str
) -> None:
    edited = CLOSER_EDITS[edit]()
    for size in MODEL_SIZES:
        assert count_faces_seen(detector, edited, [size]) >= 1, (edit, size)


@pytest.mark.parametrize("name", ["coffee", "brick", "grass", "gravel", "rocket", "retina"])
def test_pictures_without_people_pass_the_closer_looks(detector: RememberedLooks, name: str) -> None:
    # gravel enlarged scored 0.83 in a tile, a retina scan 0.85 in a crop with a margin: both
    # under the closer looks' 0.9.  Known limits, from before the closer looks: a collage of retina
    # scans, and the cat enlarged 4× (its face, in the finer look), read as faces: they fail closed
    picture = photo(name)
    edits = [picture.resize((picture.width * 4, picture.height * 4))]
    edits += [collage(picture, 8, 2048)] if name != "retina" else []
    for edited in edits:
        assert count_faces_seen(detector, edited, MODEL_SIZES[1:]) == 0, edited.size


def test_a_big_face_free_picture_costs_a_bounded_number_of_looks() -> None:
    looks: list[tuple[int, int]] = []

    def no_faces(
        picture: Image.Image, *, derived: bool = False, fine: bool = False, closer: bool = False
    ) -> int:
        looks.append(picture.size)
        return 0

    for width, height in ((6000, 4000), (4096, 512), (512, 4096), (2048, 2048)):
        looks.clear()
        assert count_faces_seen(no_faces, Image.new("RGB", (width, height)), [(832, 480)]) == 0
        # 8 views (the picture, the crop; each turned), a finer look, a crop with a margin, ≤ 25 tiles
        assert len(looks) <= 35, (width, height, len(looks))


def test_a_closer_look_at_pixels_already_looked_at_is_not_taken_again() -> None:
    closer_looks: list[bytes] = []

    def no_faces(
        picture: Image.Image, *, derived: bool = False, fine: bool = False, closer: bool = False
    ) -> int:
        if closer:
            closer_looks.append(picture.tobytes())
        return 0

    plain = Image.new("RGB", (1024, 1024), (128, 128, 128))
    assert count_faces_seen(no_faces, plain, [(832, 480)]) == 0
    assert len(closer_looks) == len(set(closer_looks)) == 2  # the crop with a margin; one grey tile of 25
    closer_looks.clear()
    noise = Image.effect_noise((1024, 1024), 64).convert("RGB")
    assert count_faces_seen(no_faces, noise, [(832, 480)]) == 0
    assert len(closer_looks) == len(set(closer_looks)) > 20  # every tile differs: each is looked at


@pytest.mark.asyncio
async def test_edited_face_photos_are_refused_in_a_chat_and_other_pictures_animated(
    make_bot: MakeBot, tmp_path: Path
) -> None:
    bot = await make_bot(config=pictures_config(tmp_path))
    for edit, make in FACE_EDITS.items():
        assert await animate(bot, encode(make(photo("astronaut")))) is None, edit
        assert REFUSED in bot.last_text and "nothing was charged" in bot.last_text
    for edit in ("10×10 collage", "cut by the crop's top edge"):
        assert await animate(bot, encode(CLOSER_EDITS[edit]())) is None, edit
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

    gate = PictureGate(PictureInspector(20_000_000, FaceDetector.shared()), tmp_path / "pictures")
    data = coffee_jpeg()
    kept = gate.keep(data, gate.inspect(data, [(64, 64)])).picture
    assert picture_intact(kept)
    Path(kept.path).write_bytes(astronaut_jpeg())  # swapped on the shared disk after the check
    assert not picture_intact(kept)


# the policy at the point of use: as a queued job starts to render --------------------------------

NOT_MADE = "was not made"


async def queued_behind_a_held_render(bot: CoreBot, data: bytes, user: Any = ALICE) -> Job:
    """A picture job, queued while the worker is busy with a held render."""
    assert bot.stub is not None
    bot.stub.hold()
    await bot.video("a held render")
    await bot.stub.wait_paused()
    job = await animate(bot, data, user=user)
    assert job is not None and bot.job(job.id).status == JobStatus.QUEUED
    return job


async def refused_at_start(bot: CoreBot, job: Job, user: Any = ALICE) -> str:
    """Released: `job` ends failed and refunded, never reaching the backend; its owner told once."""
    assert bot.stub is not None
    used = bot.used_today(user)
    bot.stub.release()
    ended = await bot.until_status(job.id, JobStatus.FAILED, timeout=30)
    assert job.id not in [submitted.job_id for submitted in bot.stub.submitted]
    assert bot.used_today(user) == used - 1  # refunded

    def told() -> list[str]:
        said = bot.outbox.texts + bot.outbox.edits  # a new message, or its "queued" message edited
        return [text for text in said if f"#{job.id}" in text and NOT_MADE in text]

    await eventually(lambda: bool(told()), what=f"the owner of #{job.id} to be told")
    assert len(told()) == 1 and len(told()[0].splitlines()) == 1, bot.outbox.texts
    assert ended.error is not None and ended.error.startswith("failed_picture")
    return told()[0]


@pytest.mark.asyncio
@pytest.mark.parametrize("remembered", [True, False], ids=["remembered", "checked-afresh"])
async def test_a_face_queued_before_the_chat_refused_faces_is_not_rendered(
    make_bot: MakeBot, tmp_path: Path, remembered: bool
) -> None:
    bot = await make_bot(config=pictures_config(tmp_path, policy={"faces": "allow"}))
    job = await queued_behind_a_held_render(bot, astronaut_jpeg())
    await bot.service.admin(bot.req(admin=True), "settings faces refuse")
    gate = bot.service.rooms.admission.pictures
    assert gate is not None
    if not remembered:
        gate._seen.clear()  # as after a restart: the whole check runs again
    assert "may no longer be animated here" in await refused_at_start(bot, job)
    audit = [
        (e.action, e.detail) for e in bot.store.audit.entries(50, CHAT.key) if e.action == "refused picture"
    ]
    assert audit and "policy refuse" in audit[-1][1]


@pytest.mark.asyncio
async def test_an_owners_face_queued_under_owners_is_not_rendered_once_the_chat_refuses_faces(
    make_bot: MakeBot, tmp_path: Path
) -> None:
    bot = await make_bot(config=pictures_config(tmp_path, policy={"faces": "owners"}))
    job = await queued_behind_a_held_render(bot, astronaut_jpeg(), user=CAROL)
    await bot.service.admin(bot.req(admin=True), "settings faces refuse")
    await refused_at_start(bot, job, user=CAROL)


@pytest.mark.asyncio
async def test_a_queued_picture_is_not_rendered_once_the_detector_is_gone(
    make_bot: MakeBot, tmp_path: Path
) -> None:
    bot = await make_bot(config=pictures_config(tmp_path, policy={"faces": "allow"}))
    job = await queued_behind_a_held_render(bot, coffee_jpeg())
    bot.service.rooms.admission.pictures = None  # as `picture_gate` leaves it when the detector is missing
    assert "can't be checked" in await refused_at_start(bot, job)
    actions = [e.action for e in bot.store.audit.entries(50, CHAT.key)]
    assert "refused picture" in actions


@pytest.mark.asyncio
async def test_an_extension_of_a_face_clip_queued_before_the_chat_refused_faces_is_not_rendered(
    make_bot: MakeBot, tmp_path: Path
) -> None:
    bot = await make_bot(config=pictures_config(tmp_path, policy={"faces": "owners"}))
    clip = await owners_face_clip(bot)
    assert bot.stub is not None
    bot.stub.hold()
    await bot.video("a held render", user=CAROL)
    await bot.stub.wait_paused()
    extension = await bot.service.extend(bot.req(CAROL), clip.id)
    assert extension is not None
    await bot.service.admin(bot.req(admin=True), "settings faces refuse")
    await refused_at_start(bot, extension, user=CAROL)


@pytest.mark.asyncio
async def test_a_picture_that_still_passes_renders_and_costs_no_second_look(
    make_bot: MakeBot, tmp_path: Path
) -> None:
    bot = await make_bot(config=pictures_config(tmp_path, policy={"faces": "refuse"}))
    gate = bot.service.rooms.admission.pictures
    assert gate is not None and bot.stub is not None
    looks: list[bytes] = []
    inspect = gate.inspect

    def counted(data: bytes, sizes: Any) -> Any:
        looks.append(data)
        return inspect(data, sizes)

    gate.inspect = counted
    job = await queued_behind_a_held_render(bot, coffee_jpeg())
    await bot.service.admin(bot.req(admin=True), "settings faces refuse")
    bot.stub.release()
    await bot.until_status(job.id, JobStatus.DONE, timeout=30)
    assert job.id in [submitted.job_id for submitted in bot.stub.submitted]
    assert len(looks) == 1  # the upload's check; its start only hashed the kept file
