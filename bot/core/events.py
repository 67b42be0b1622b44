"""The one sink render backends report to; the core's rooms subscribe to it in order.

Handlers run synchronously on the event loop, in the order they subscribed (the job's
state first, then timing, progress and delivery), and start any I/O as tasks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from bot.core.ports import RenderEvent

log = logging.getLogger(__name__)

Handler = Callable[[RenderEvent], None]


class RenderEvents:
    def __init__(self) -> None:
        self._handlers: list[Handler] = []

    def subscribe(self, handler: Handler) -> None:
        self._handlers.append(handler)

    def emit(self, event: RenderEvent) -> None:
        for handler in self._handlers:
            try:
                handler(event)
            except Exception:
                log.exception("handling %r failed", event)
