"""`ModelPool`: every configured model's renderer, one resident at a time (or the few
`[render] keep_loaded` names), the old one freed before the next loads."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping

from bot.rendering.renderer import Renderer


class ModelPool:
    """Every configured model's renderer; one resident at a time, or those in `keep_loaded`.

    A switch frees the old model's memory before the next one loads.
    """

    def __init__(self, renderers: Mapping[str, Renderer], keep_loaded: Iterable[str] = ()) -> None:
        if not renderers:
            raise ValueError("a pool needs at least one model")
        self.renderers = dict(renderers)
        self.keep_loaded = frozenset(keep_loaded)
        self._lock = threading.Lock()

    def __contains__(self, name: object) -> bool:
        return name in self.renderers

    def names(self) -> tuple[str, ...]:
        return tuple(self.renderers)

    def get(self, name: str) -> Renderer:
        return self.renderers[name]

    def resident(self) -> frozenset[str]:
        return frozenset(name for name, renderer in self.renderers.items() if renderer.loaded)

    def load(self, name: str) -> Renderer:
        """Make `name` resident (blocking), freeing whatever may not stay alongside it."""
        with self._lock:
            renderer = self.renderers[name]
            if not renderer.loaded:
                to_free = [
                    other
                    for other_name, other in self.renderers.items()
                    if other is not renderer
                    and other.loaded
                    and not (name in self.keep_loaded and other_name in self.keep_loaded)
                ]
                if to_free:
                    renderer.check_available()
                for other in to_free:
                    other.unload()
                renderer.load()
            return renderer
