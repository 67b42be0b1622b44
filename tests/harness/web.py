"""The web harness: a core bot (tests.harness.core) with the web side in front of it, served by
aiohttp's test server on a loopback port, and helpers to publish a chat and make clips."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from bot.domain import ButtonAction, ChatRef, Job, JobStatus, UserRef
from bot.store.public import JOB
from bot.web import WebSide
from tests.harness.config import MakeConfig
from tests.harness.core import ALICE, BOB, CAROL, GROUP, CoreBot, MakeBot

ADMIN_TOKEN = "correct horse battery staple"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class WebBot:
    bot: CoreBot
    web: WebSide
    client: TestClient[Any, Any]

    @property
    def url(self) -> str:
        return str(self.client.make_url(""))

    async def publish(self, chat: ChatRef = GROUP) -> None:
        """`/admin settings gallery on` in `chat`, said by one of its admins."""
        await self.bot.service.admin(self.bot.req(ALICE, chat, admin=True), "settings gallery on")

    async def clip(
        self, prompt: str, chat: ChatRef = GROUP, *, frames: int = 8, user: UserRef = ALICE
    ) -> Job:
        """A clip rendered by the tiny model through the whole bot, delivered."""
        job = await self.bot.video(f"{prompt} --frames {frames}", user, chat=chat)
        return await self.bot.until_status(job.id, JobStatus.DONE)

    def token(self, job: Job) -> str:
        token = self.bot.store.public.token(JOB, job.id)
        assert token is not None
        return token

    async def log_in(self, token: str = ADMIN_TOKEN) -> str:
        """Log in to /admin; returns the page's CSRF token."""
        response = await self.client.post("/admin/login", data={"token": token}, allow_redirects=False)
        assert response.status == 303, await response.text()
        page = await self.client.get("/admin")
        assert page.status == 200
        found = CSRF.search(await page.text())
        assert found is not None
        return found[1]


MakeWeb = Callable[..., Awaitable[WebBot]]


@pytest_asyncio.fixture
async def make_web(make_bot: MakeBot, make_config: MakeConfig) -> AsyncIterator[MakeWeb]:
    """`await make_web(worker=True, admin_token=ADMIN_TOKEN, worker_alive=…, **config sections)`."""
    made: list[WebBot] = []

    async def make(
        *,
        worker: bool = True,
        admin_token: str | None = ADMIN_TOKEN,
        worker_alive: Callable[[], bool] = lambda: True,
        outbox: Any = None,
        **sections: dict[str, Any],
    ) -> WebBot:
        env = {"VIDEOBOT_ADMIN_TOKEN": admin_token} if admin_token else {}
        bot = await make_bot(config=make_config(env=env, **sections), worker=worker, outbox=outbox)
        web = WebSide(bot.service, bot.config, worker_alive=worker_alive, clock=bot.clock)
        client: TestClient[Any, Any] = TestClient(TestServer(web.app))
        await client.start_server()
        made.append(WebBot(bot, web, client))
        return made[-1]

    yield make
    for web_bot in made:
        await web_bot.client.close()
        await web_bot.web.stop()


async def finished_challenge(
    site: WebBot, chat: ChatRef = GROUP, theme: str = "neon cities", entries: tuple[str, str] = ("a", "b")
) -> int:
    """A challenge in `chat` with Alice's and Bob's rendered entries, Bob's voted for by Alice
    and Carol, closed; its id."""
    admin = site.bot.req(ALICE, chat, admin=True)
    await site.bot.service.challenge(admin, f"start {theme} 1h")
    for who, prompt in zip((ALICE, BOB), entries, strict=True):
        await site.bot.service.challenge(site.bot.req(who, chat), f"enter {prompt}")
    challenge = site.bot.store.challenges.open_in(chat)
    assert challenge is not None
    jobs = site.bot.store.jobs.of_challenge(challenge.id)
    for job in jobs:
        await site.bot.until_status(job.id, JobStatus.DONE)
    bobs = next(j for j in jobs if j.user.key == BOB.key)
    for voter in (ALICE, CAROL):
        await site.bot.service.button(site.bot.req(voter, chat), ButtonAction.VOTE, bobs.id)
    await site.bot.service.challenge(admin, "end")
    return challenge.id
