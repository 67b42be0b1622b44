"""What every page handler shares: the core, the settings, the templates, the login."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jinja2
from aiohttp import web

from bot import __version__
from bot.core import messages
from bot.core.extend import clip_frames
from bot.core.service import VideoService
from bot.settings.root import Config
from bot.store import Store
from bot.web.auth import AdminAuth

HTML = "text/html"


def _when(timestamp: float | None) -> str:
    if not timestamp:
        return "—"
    return f"{datetime.fromtimestamp(timestamp, UTC):%Y-%m-%d %H:%M} UTC"


def _duration(seconds: float | None) -> str:
    return "—" if seconds is None else messages.duration(max(seconds, 0.0))


def templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("bot.web", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["duration"] = _duration
    env.filters["clip_frames"] = clip_frames  # an extended clip's full length (docs/extend.md)
    env.globals["version"] = __version__
    return env


@dataclass(eq=False)
class Site:
    service: VideoService
    config: Config
    auth: AdminAuth
    env: jinja2.Environment

    @property
    def store(self) -> Store:
        return self.service.store

    def page(self, template: str, *, status: int = 200, **values: Any) -> web.Response:
        html = self.env.get_template(template).render(**values)
        return web.Response(text=html, status=status, content_type=HTML)

    def not_found(self, what: str = "page", why: str = "") -> web.Response:
        return self.page("missing.html", status=404, what=what, why=why)


SITE = web.AppKey("site", Site)  # where handlers find it: `request.app[SITE]`
