"""A rejected token at start-up is one line, with no unrelated warning after it (#34)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from tests.fakes.telegram_api import FakeTelegram
from tests.harness.config import tiny_settings, to_toml
from tests.harness.console import ChildProcesses
from tests.harness.telegram import telegram_settings

pytestmark = pytest.mark.asyncio


async def test_a_rejected_telegram_token_is_one_line_and_nothing_else(
    telegram_fake: FakeTelegram, tmp_path: Path, child_processes: ChildProcesses
) -> None:
    settings = tiny_settings(tmp_path / "data", telegram=telegram_settings(telegram_fake))
    (tmp_path / "config.toml").write_text(to_toml(settings))
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
        "HF_HUB_OFFLINE": "1",
        "TELEGRAM_TOKEN": "123456:not-the-token-the-server-knows",
    }
    result = await asyncio.to_thread(
        child_processes.run,
        [sys.executable, "-m", "bot", "run", "--config", str(tmp_path / "config.toml")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    said = [line for line in result.stderr.splitlines() if " INFO " not in line]
    assert said == ["videobot: telegram stopped: The token `$TELEGRAM_TOKEN` was rejected by the server."]
