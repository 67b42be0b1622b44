"""The public pages: the front page (queue and gallery), one clip, a challenge, a leaderboard.

Everything here is read-only and shows only published chats (`bot.store.public`): a token
that names something unpublished, deleted or expired gets the same 404 as a token that
never existed.
"""

from __future__ import annotations

import asyncio
import io
import re
from pathlib import Path

from aiohttp import web

from bot.domain import Challenge, Job
from bot.settings.platforms import PLATFORMS_BY_NAME
from bot.store.public import CHALLENGE, CHAT, JOB
from bot.web.site import SITE, Site

TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")


def _site(request: web.Request) -> Site:
    return request.app[SITE]


def _token(request: web.Request) -> str | None:
    token = request.match_info.get("token", "")
    return token if TOKEN.fullmatch(token) else None


async def index(request: web.Request) -> web.Response:
    site = _site(request)
    status = site.service.status()
    return site.page(
        "index.html",
        waiting=status.waiting,
        rendering=status.rendering,
        clears_in=site.service.rooms.eta.queue_clears_in(),
        model=status.model,
        model_loaded=status.model_loaded,
        clips=site.store.public.latest_clips(site.config.web.gallery_size),
    )


async def clip_page(request: web.Request) -> web.Response:
    site = _site(request)
    token = _token(request)
    job = site.store.public.clip(token) if token else None
    if token is None or job is None or not job.clip_path or not Path(job.clip_path).is_file():
        return site.not_found("clip")
    challenge = site.store.challenges.get(job.challenge_id) if job.challenge_id else None
    challenge_token = None
    if challenge is not None and site.store.public.is_published(challenge.chat):
        challenge_token = site.store.public.token(CHALLENGE, challenge.id)
    return site.page(
        "clip.html", token=token, job=job, challenge=challenge, challenge_token=challenge_token,
        parent_token=_public_parent(site, job),
    )  # fmt: skip


def _public_parent(site: Site, job: Job) -> str | None:
    """The page of the clip a post step was made from (docs/post.md), when that one is public."""
    if job.params.post is None:
        return None
    token = site.store.public.token(JOB, job.params.post.parent_id)
    return token if token is not None and site.store.public.clip(token) is not None else None


async def clip_file(request: web.Request) -> web.StreamResponse:
    """The MP4 itself; aiohttp's FileResponse answers Range requests (206) so players can seek."""
    site = _site(request)
    token = _token(request)
    job = site.store.public.clip(token) if token else None
    if job is None or not job.clip_path or not Path(job.clip_path).is_file():
        return site.not_found("clip")
    response = web.FileResponse(job.clip_path, headers={"Content-Type": "video/mp4"})
    # Revalidated each time (a 304 is cheap): a clip deleted or unpublished must not live on in caches.
    response.headers["Cache-Control"] = "no-cache"
    return response


async def clip_poster(request: web.Request) -> web.Response:
    """The clip's first frame as a JPEG: a gallery card shows it before its video has loaded."""
    site = _site(request)
    token = _token(request)
    job = site.store.public.clip(token) if token else None
    if job is None or not job.clip_path or not Path(job.clip_path).is_file():
        return site.not_found("clip")
    try:
        data = await asyncio.to_thread(first_frame_jpeg, Path(job.clip_path))
    except Exception:  # our own file, but a damaged one must cost a broken thumbnail, not a 500
        return site.not_found("clip")
    return web.Response(body=data, content_type="image/jpeg", headers={"Cache-Control": "no-cache"})


def first_frame_jpeg(path: Path) -> bytes:
    import av

    with av.open(str(path)) as container:
        image = next(container.decode(video=0)).to_image()
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


async def challenge_page(request: web.Request) -> web.Response:
    site = _site(request)
    token = _token(request)
    challenge = site.store.public.challenge(token) if token else None
    if challenge is None:
        return site.not_found("challenge")
    public = site.store.public
    return site.page(
        "challenge.html",
        challenge=challenge,
        entries=public.entries(challenge.id),
        winners=public.winners(challenge.id),
        leaderboard_token=public.token(CHAT, challenge.chat.key),
        now=site.service.clock(),
    )


async def leaderboard_page(request: web.Request) -> web.Response:
    site = _site(request)
    token = _token(request)
    chat_key = site.store.public.leaderboard_chat(token) if token else None
    if chat_key is None:
        return site.not_found("leaderboard")
    challenges = site.store.public.challenges_of(chat_key)
    return site.page(
        "leaderboard.html",
        rows=site.store.challenges.leaderboard(chat_key, 50),
        challenges=challenges,
        chat_name=chat_name(chat_key, challenges),
    )


PLATFORM_NAMES = {name: platform.title for name, platform in PLATFORMS_BY_NAME.items()}


def chat_name(chat_key: str, challenges: list[tuple[str, Challenge]]) -> str:
    """Which chat a leaderboard is: the bot keeps no chat titles, so its platform and its latest
    challenge ("the Telegram group of “robots at the beach”")."""
    platform = PLATFORM_NAMES.get(chat_key.partition(":")[0], "chat")
    where = "server" if ":server:" in chat_key else "group"
    if not challenges:
        return f"a {platform} {where}"
    return f"the {platform} {where} of “{challenges[0][1].theme}”"


def add_routes(app: web.Application) -> None:
    app.router.add_get("/", index)
    app.router.add_get(r"/clip/{token:[^/.]+}.mp4", clip_file)
    app.router.add_get(r"/clip/{token:[^/.]+}.jpg", clip_poster)
    app.router.add_get(r"/clip/{token:[^/.]+}", clip_page)
    app.router.add_get(r"/challenges/{token:[^/]+}", challenge_page)
    app.router.add_get(r"/leaderboard/{token:[^/]+}", leaderboard_page)
