"""The web side's words and looks (#34): plurals, an empty queue, poster frames, phone-width tables."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from PIL import Image

from bot.store.public import CHALLENGE
from tests.harness.core import ALICE, BOB, GROUP
from tests.harness.web import ADMIN_TOKEN, MakeWeb

pytestmark = pytest.mark.asyncio

TEMPLATES = Path(__file__).resolve().parent.parent / "bot" / "web" / "templates"


async def test_a_challenge_with_one_entry_says_entry(make_web: MakeWeb) -> None:
    site = await make_web()
    await site.publish(GROUP)
    admin = site.bot.req(ALICE, GROUP, admin=True)
    await site.bot.service.challenge(admin, "start robots 1h")
    await site.bot.service.challenge(site.bot.req(BOB, GROUP), "enter a robot dancing")
    challenge = site.bot.store.challenges.open_in(GROUP)
    assert challenge is not None
    token = site.bot.store.public.token(CHALLENGE, challenge.id)
    html = await (await site.client.get(f"/challenges/{token}")).text()
    assert re.search(r"· 1 entry\s", html) and "1 entries" not in html


async def test_an_empty_queue_is_clear_not_clear_in_one_second(make_web: MakeWeb) -> None:
    site = await make_web(worker=False)
    html = await (await site.client.get("/")).text()
    assert '<strong id="eta">queue clear</strong>' in html and "queue clear in" not in html
    await site.bot.video("a waiting clip", chat=GROUP)
    html = await (await site.client.get("/")).text()
    assert "queue clear in" in html


async def test_gallery_cards_have_a_poster_frame_from_the_clip(make_web: MakeWeb) -> None:
    site = await make_web()
    await site.publish(GROUP)
    job = await site.clip("a red balloon", GROUP)
    token = site.token(job)
    html = await (await site.client.get("/")).text()
    assert f'poster="/clip/{token}.jpg"' in html

    poster = await site.client.get(f"/clip/{token}.jpg")
    assert poster.status == 200 and poster.headers["Content-Type"] == "image/jpeg"
    image = Image.open(io.BytesIO(await poster.read()))
    assert image.format == "JPEG" and image.size == (job.params.width, job.params.height)
    assert (await site.client.get(f"/clip/{'A' * 22}.jpg")).status == 404


async def test_admin_tables_turn_into_labelled_lines_at_phone_width(make_web: MakeWeb) -> None:
    site = await make_web(worker=False)
    await site.bot.video("a job in the queue", BOB, chat=GROUP)
    await site.client.post("/admin/login", data={"token": ADMIN_TOKEN})
    html = await (await site.client.get("/admin")).text()
    rows = re.findall(r"<tr id=\"job-\d+\">(.*?)</tr>", html, re.S)
    assert (
        rows and len(re.findall(r"<td( class=\"prompt\")? data-label=", rows[0])) == 5
    )  # all but the button
    css = await (await site.client.get("/static/style.css")).text()
    assert "@media (max-width: 40rem)" in css and "attr(data-label)" in css
    for row in re.findall(r"<tr><td.*?</tr>", (TEMPLATES / "admin.html").read_text(), re.S):
        assert "<td>" not in row, "a column without a label on a phone"
