"""The core harness: one `VideoService` speaking through a `RecordingOutbox`.

No platform library is involved: `CoreBot` calls the service as an adapter would, and the
outbox records what the core asked the platforms to do.  Its render backend is the ports-level
`StubBackend` (the core's rules need no diffusers) unless the test is in the `render` lane (it
takes `renders` or `tiny_renderer`): then the tiny model renders for real.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import pytest_asyncio

from bot.app import build_service
from bot.core.queue import QueueClosed
from bot.core.quota import quota_day
from bot.domain import ChatRef, Job, JobStatus, Request, UserRef
from bot.render import Renderer
from bot.settings.root import Config
from bot.settings.sections import RenderConfig
from bot.store import Store
from tests.harness.clock import ManualClock
from tests.harness.config import COLD_RENDER, MakeConfig
from tests.harness.lanes import in_lane, starts
from tests.harness.outbox import RecordingOutbox
from tests.harness.polling import eventually
from tests.harness.stub_backend import StubBackend

PLATFORM = "telegram"
# One outbox stands in for every platform, so a test may speak as a Discord user too.
PLATFORMS = ("telegram", "discord")
CHAT = ChatRef(PLATFORM, "-100500")
GROUP = ChatRef(PLATFORM, "-100600", is_group=True)
ALICE = UserRef(PLATFORM, "1", "Alice")
BOB = UserRef(PLATFORM, "2", "Bob")
CAROL = UserRef(PLATFORM, "3", "Carol")  # an owner in configs that say so


class CoreBot:
    """One VideoService with a recording outbox, and helpers to talk to it."""

    def __init__(
        self,
        config: Config,
        renderer: Renderer | None,
        outbox: RecordingOutbox,
        clock: ManualClock,
        backend: StubBackend | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        if renderer is None and backend is None and config.queue.backend != "saq":
            backend = stub_for(config)
        self.stub = backend
        self.service = build_service(
            config, renderer=renderer, backend=backend, rng=random.Random(1234), clock=clock
        )
        self.store = self.service.store
        self.outbox = outbox
        for platform in PLATFORMS:
            self.service.add_outbox(platform, outbox)
        self.worker: asyncio.Task[None] | None = None

    async def start_worker(self) -> None:
        """As the app starts up: recover, start the worker, then the platforms say they are up."""
        await self.service.recover()
        self.worker = asyncio.create_task(self.service.run_worker())
        await asyncio.sleep(0)  # let it reach its first wait
        for platform in PLATFORMS:
            await self.service.platform_ready(platform)

    def req(
        self,
        user: UserRef = ALICE,
        chat: ChatRef = CHAT,
        *,
        admin: bool = False,
        roles: tuple[str, ...] = (),
    ) -> Request:
        return Request(user, chat, reply_to=f"cmd-{user.id}", is_admin=admin, roles=roles)

    async def video(self, text: str, user: UserRef = ALICE, *, chat: ChatRef = CHAT) -> Job:
        job = await self.service.video_text(self.req(user, chat), text)
        assert job is not None, f"/video {text} was refused: {self.outbox.texts[-1:]}"
        return job

    @property
    def last_text(self) -> str:
        return self.outbox.texts[-1]

    def job(self, job_id: int) -> Job:
        job = self.store.jobs.get(job_id)
        assert job is not None, f"no job #{job_id}"
        return job

    async def until_status(self, job_id: int, *statuses: JobStatus, timeout: float = 15.0) -> Job:
        await eventually(
            lambda: self.job(job_id).status in statuses,
            timeout=timeout,
            what=f"job {job_id} to be {'/'.join(statuses)}",
        )
        return self.job(job_id)

    def used_today(self, user: UserRef = ALICE) -> int:
        return self.store.quota.used_today(
            user.key, quota_day(self.service.clock(), self.service.config.quota)
        )

    async def close(self) -> None:
        self.service.stop()
        self.service.rooms.queue.close()  # the worker may be waiting on an empty queue
        if self.worker is not None:
            with contextlib.suppress(QueueClosed, asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self.worker, 15)
        await self.service.drain()
        self.store.close()


MakeBot = Callable[..., Awaitable[CoreBot]]

COLD = RenderConfig(**COLD_RENDER)  # a renderer's `[render]` for a test that is not about the warm-up


def stub_for(config: Config) -> StubBackend:
    """The stub backend for `config`'s models, writing clips where the real one would."""
    return StubBackend(config.data_dir / "clips", models=tuple(config.model_settings))


@pytest.fixture
@starts("render")
def tiny_renderer() -> Renderer:
    """The tiny ModelScope model, loaded (a pristine copy of the session's build)."""
    renderer = Renderer("tiny", tuning=COLD)
    renderer.load()
    return renderer


@pytest.fixture
@starts("render")
def renders() -> None:
    """For a test that builds or loads diffusers pipelines itself: it runs in the `render` lane."""


def crash_state(store: Store, job_id: int, status: JobStatus, **columns: object) -> None:
    """What a crash leaves behind: the row written directly, past the store's rules on endings."""
    values = {"status": str(status), **columns}
    sets = ", ".join(f"{name} = :{name}" for name in values)
    store.db.conn.execute(f"UPDATE jobs SET {sets} WHERE id = :id", {**values, "id": job_id})


@pytest_asyncio.fixture
async def make_bot(make_config: MakeConfig) -> AsyncIterator[MakeBot]:
    """`await make_bot(config=, renderer=, backend=, outbox=, worker=True, clock=)`: a core, closed
    afterwards.

    Without `renderer` the stub backend (`bot.stub`), or the `backend` given; in the `render` lane
    the tiny model stands in for the default model; a renderer is used
    as given (`tiny_renderer` comes loaded, so the worker parks on the empty queue); without `clock` the wall
    clock, which the test may still `advance`."""
    bots: list[CoreBot] = []

    async def make(
        *,
        config: Config | None = None,
        renderer: Renderer | None = None,
        backend: StubBackend | None = None,
        outbox: RecordingOutbox | None = None,
        worker: bool = True,
        clock: ManualClock | None = None,
    ) -> CoreBot:
        config = config or make_config()
        if renderer is None and backend is None and in_lane("render"):
            # stands in for the default model, loaded before the worker starts
            renderer = Renderer("tiny", tuning=config.render)
            renderer.load()
        bot = CoreBot(
            config,
            renderer,
            outbox or RecordingOutbox(),
            clock if clock is not None else ManualClock(start=None),
            backend,
        )
        bots.append(bot)
        if worker:
            await bot.start_worker()
        return bot

    yield make
    for bot in bots:
        await bot.close()
