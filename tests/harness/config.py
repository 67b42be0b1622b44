"""The tiny-model settings every test starts from, as TOML-shaped dicts, files and `Config`s."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot.settings.loading import parse_config
from bot.settings.root import Config

MakeConfig = Callable[..., Config]

# The side of a render whose size is not what a test is about: a tiny model's render at 32 px costs
# 25–80 % of one at its own 64 (CogVideoX's 161 → 40 ms, Wan's 78 → 36: the VAE decodes every pixel).
SMALL = 32
# The warm-up render spares a real GPU's first user the start-up; tests of it turn it on.
COLD_RENDER: dict[str, Any] = {"warmup_steps": 0}
TINY_SETTINGS: dict[str, Any] = {
    "model": {"id": "tiny"},
    "video": {
        "width": 64,
        "height": 64,
        "fps": 8,
        "default_frames": 8,
        "min_frames": 2,
        "max_frames": 16,
        "default_steps": 3,
        "max_steps": 400,
    },
    # A failed upload is tried again at once: tests count the tries, not the waits between them.
    "queue": {"progress_interval_s": 0.0, "group_progress_interval_s": 0.0, "delivery_backoff_s": 0.0},
    "render": COLD_RENDER,
    # Vote-count edits are throttled to one per entry every few seconds; tests need not wait that long.
    "challenges": {"vote_label_interval_s": 0.05},
    # Generous: tests about the rate limit set their own.
    "quota": {"per_minute": 1000.0, "burst": 1000},
}


def tiny_settings(data_dir: Path, **sections: dict[str, Any]) -> dict[str, Any]:
    """TOML-shaped settings for the tiny model in `data_dir`, with `sections` merged in."""
    settings = copy.deepcopy(TINY_SETTINGS)
    settings["storage"] = {"dir": str(data_dir)}
    for name, values in sections.items():
        settings.setdefault(name, {}).update(values)
    return settings


def to_toml(settings: dict[str, Any]) -> str:
    """Enough TOML for our flat settings (strings, numbers, booleans, lists of strings)."""
    lines = []
    for section, values in settings.items():
        lines.append(f"[{section}]")
        for key, value in values.items():
            lines.append(f"{key} = {json.dumps(value)}")
    return "\n".join(lines) + "\n"


@pytest.fixture
def make_config(tmp_path: Path) -> MakeConfig:
    """`make_config(quota={"daily": 2}, env={...})` → a checked Config using the tiny model."""

    def make(env: dict[str, str] | None = None, **sections: dict[str, Any]) -> Config:
        return parse_config(tiny_settings(tmp_path / "data", **sections), "test-config.toml", env or {})

    return make
