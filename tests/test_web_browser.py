"""The web side in a real headless Chromium (Debian's, driven by Playwright): the gallery, a clip
that plays, a challenge page, and an admin who logs in and cancels a queued job by pressing its
button.  Screenshots go to tests/artifacts/ (and, with VIDEOBOT_UPDATE_DOCS=1, the README's two
to docs/)."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from bot.domain import JobStatus
from bot.store.public import CHALLENGE, CHAT
from tests.harness.core import BOB, GROUP
from tests.harness.lanes import starts
from tests.harness.web import ADMIN_TOKEN, MakeWeb, WebBot, finished_challenge

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "tests" / "artifacts"
DOCS = REPO / "docs"
TIMEOUT_MS = 15_000
README_SHOTS = ("web-gallery.png", "web-challenge.png")

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)"),
]


@pytest_asyncio.fixture
@starts("browser")
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        # Tests run as root in CI, where Chromium's sandbox cannot start.
        launched = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            yield launched
        finally:
            await launched.close()


async def screenshot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / name), full_page=True)
    if name in README_SHOTS and os.environ.get("VIDEOBOT_UPDATE_DOCS") == "1":
        DOCS.mkdir(exist_ok=True)
        shutil.copyfile(ARTIFACTS / name, DOCS / name)


async def accessibility_problems(page: Any) -> list[str]:
    """axe-core's violations on the page as it is now, checked in the browser itself (WCAG 2 A and
    AA rules: contrast, names of links and buttons, labels, landmarks …)."""
    from importlib.resources import files

    await page.evaluate((files("axe_playwright_python") / "axe.min.js").read_text(encoding="utf-8"))
    result = await page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[node['target'] for node in v['nodes']][:3]}"
        for v in result["violations"]
    ]


async def _published_challenge(site: WebBot) -> str:
    """A closed challenge in the published group, with two rendered entries and a winner."""
    entries = ("a glass city at dawn --frames 16", "glass towers in fog --frames 16")
    challenge_id = await finished_challenge(site, theme="a city made of glass", entries=entries)
    token = site.bot.store.public.token(CHALLENGE, challenge_id)
    assert token is not None
    return token


async def test_gallery_clip_challenge_and_admin_cancel_in_a_real_browser(
    make_web: MakeWeb, browser: Any
) -> None:
    site = await make_web()
    await site.publish(GROUP)
    clip = await site.clip("a lighthouse in a storm --seed 3", GROUP, frames=16)
    await site.clip("a paper boat on a river --seed 4", GROUP, frames=16)
    challenge_token = await _published_challenge(site)

    # The worker stops, so the next job stays queued for the admin to cancel.
    site.bot.service.stop()
    assert site.bot.worker is not None
    await asyncio.wait_for(site.bot.worker, 15)
    queued = await site.bot.video("cancel me from the browser", BOB, chat=GROUP)

    context = await browser.new_context(viewport={"width": 1000, "height": 760})
    page = await context.new_page()
    page.set_default_timeout(TIMEOUT_MS)

    # the front page: the gallery, with its label
    await page.goto(site.url)
    cards = page.locator("#gallery .card")
    assert await cards.count() == 4  # two clips and two challenge entries
    assert "a lighthouse in a storm" in await page.inner_text("#gallery")
    assert await page.locator("#gallery .ai").first.inner_text() == "AI-generated"
    await screenshot(page, "web-gallery.png")

    # one clip, played: enough data to play on, and the clock moving
    await page.click(f'a[href="/clip/{site.token(clip)}"] >> nth=-1')
    await page.wait_for_url(f"**/clip/{site.token(clip)}")
    await page.evaluate("document.getElementById('clip').play()")  # muted autoplay, or this
    await page.wait_for_function("document.getElementById('clip').readyState === 4")
    start = await page.evaluate("document.getElementById('clip').currentTime")
    await page.wait_for_function(
        f"(() => {{ const v = document.getElementById('clip'); return v.currentTime !== {start} && !v.paused; }})()"
    )
    assert await page.evaluate("document.getElementById('clip').error") is None
    assert await page.evaluate("document.getElementById('clip').duration") == pytest.approx(2.0, abs=0.2)
    await screenshot(page, "web-clip.png")

    # a challenge page: entries, votes, the winner
    await page.goto(f"{site.url}/challenges/{challenge_token}")
    assert "Bob" in await page.inner_text("#winner")
    assert await page.locator("#entries .entry").count() == 2
    await screenshot(page, "web-challenge.png")
    assert await accessibility_problems(page) == []

    # the leaderboard names its chat
    board_token = site.bot.store.public.token(CHAT, GROUP.key)
    assert board_token is not None
    await page.goto(f"{site.url}/leaderboard/{board_token}")
    assert await page.inner_text("h1") == "Leaderboard · the Telegram group of “a city made of glass”"
    assert await accessibility_problems(page) == []

    # the gallery and a clip, for screen readers and in both colour schemes
    for path in ("/", f"/clip/{site.token(clip)}"):
        await page.goto(site.url + path)
        assert await accessibility_problems(page) == [], path
    await page.goto(site.url)
    names = await page.locator("#gallery a.thumb").evaluate_all(
        "links => links.map(link => link.getAttribute('aria-label'))"
    )
    assert all(name and "AI-generated" in name and name != "AI-generated" for name in names), names
    dark = await browser.new_context(color_scheme="dark")
    night = await dark.new_page()
    for path in ("/", "/admin"):  # /admin: the login form and its button
        await night.goto(site.url + path)
        assert await accessibility_problems(night) == [], f"{path} in dark mode"
    await dark.close()

    # on a phone's width nothing needs sideways scrolling
    phone = await browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    small = await phone.new_page()
    for path in (f"/clip/{site.token(clip)}", f"/challenges/{challenge_token}", "/"):  # /admin below
        await small.goto(site.url + path)
        overflow = await small.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px on a phone"
    await screenshot(small, "web-gallery-phone.png")
    await phone.close()

    # /admin: log in, see the queued job, cancel it with its button
    await page.goto(f"{site.url}/admin")
    await page.fill("#token", "not the token")
    await page.click("button[type=submit]")
    assert "wrong" in await page.inner_text("#error")
    await page.fill("#token", ADMIN_TOKEN)
    await page.click("button[type=submit]")
    row = page.locator(f"#job-{queued.id}")
    assert "cancel me from the browser" in await row.inner_text()
    await screenshot(page, "web-admin.png")
    assert await accessibility_problems(page) == []
    # on a phone the admin's Cancel is on screen (the first column), and asks before it acts
    admin_phone = await browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    await admin_phone.add_cookies(await context.cookies())
    small = await admin_phone.new_page()
    await small.goto(f"{site.url}/admin")
    cancel = small.locator(f"#job-{queued.id} summary")
    box = await cancel.bounding_box()
    assert box is not None and box["x"] + box["width"] <= 390, f"Cancel is off-screen on a phone: {box}"
    await admin_phone.close()
    await row.locator("summary").click()  # "Cancel…" opens the question
    assert site.bot.job(queued.id).status == JobStatus.QUEUED, "nothing happens before the confirmation"
    await row.get_by_role("button", name=f"Yes, cancel job {queued.id} (refunded)").click()
    await page.wait_for_selector("#notice")
    assert f"Cancelled video #{queued.id}" in await page.inner_text("#notice")
    assert await page.locator(f"#job-{queued.id}").count() == 0
    assert site.bot.job(queued.id).status == JobStatus.CANCELLED
    assert site.bot.store.audit.entries(1)[0].action == "cancel"
    await context.close()
