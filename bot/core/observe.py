"""Counting what happens, for whoever listens: the web side's `/metrics` hears it here, so
the core needs no metrics library.

`tally.count("delivery_failed", platform="telegram", kind="undeliverable")`: a name and a few
labels; listeners decide what to make of them.  Counting never raises into the caller.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)

Listener = Callable[[str, Mapping[str, str]], None]

DELIVERY_FAILED = "delivery_failed"  # platform, kind: undeliverable | error | too_big | unprepared
QUOTA_REFUSED = "quota_refused"  # limit: rate | daily | queued | full
API_RETRIED = "api_retried"  # platform: a platform API call rate limited (429) and retried


class Tally:
    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def listen(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def unlisten(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def count(self, name: str, **labels: str) -> None:
        for listener in self._listeners:
            try:
                listener(name, labels)
            except Exception:
                log.exception("counting %s failed", name)
