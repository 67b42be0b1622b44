"""SIGINT/SIGTERM set an event: `videobot run` and `videobot worker` stop the same way.
A leaf module, so the worker (in `bot.dispatch`) need not import `bot.app`."""

from __future__ import annotations

import asyncio
import contextlib
import signal


def stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
