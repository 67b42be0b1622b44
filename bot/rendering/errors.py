"""What loading and rendering raise; each message is meant for the owner's log or a user."""

from __future__ import annotations


class ModelUnavailable(Exception):
    """The model cannot be loaded; the message tells the owner what happened and what to do."""


class ModelMissing(ModelUnavailable):
    """The weights (or some of them) are not on this machine."""


class UnsupportedModel(ModelUnavailable):
    """The checkpoint is a pipeline class videobot does not render (or not the configured family)."""


class ModelLoadFailed(ModelUnavailable):
    """The weights are there but loading them failed for another reason."""


class RenderCancelled(Exception):
    """The render was stopped between steps because `should_stop()` said so."""


class OutOfMemory(Exception):
    """The GPU (or host) ran out of memory for these settings."""


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
