"""The web side: gallery, clip and challenge pages, /admin, /healthz and /metrics (aiohttp)."""

from bot.web.server import WebSide

__all__ = ["WebSide"]
