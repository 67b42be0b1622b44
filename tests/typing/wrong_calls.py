"""Calls into the core that mypy must refuse (checked by tests/test_core_typing.py, never run)."""

from bot.core.service import VideoService
from bot.domain import Request


async def adapter(service: VideoService, req: Request) -> None:
    await service.cancel(req, "7")  # right: mypy accepts it
    await service.cancel("not a request", 1, 2, 3, nonsense=True)  # wrong: E1
    await service.video_text(req, 42)  # wrong: E2
    await service.admin(req, "queue")  # right: the /admin façade keeps its signature too
    await service.admin(req, 42)  # wrong: E3
    await service.challenge.start(req, "a theme")  # wrong: E4 (wants StartArgs)
