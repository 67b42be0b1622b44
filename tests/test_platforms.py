"""The platform registry (`bot.settings.platforms`): one entry per platform read by wiring, settings,
admin ids, web pages and metrics; one redaction, which the admin token does not escape."""

from __future__ import annotations

import asyncio
import io
import logging
import types
from typing import Any

import pytest

from bot.app import enabled_platforms, is_network_error, keep_connecting
from bot.core.admin import USER_REF
from bot.logs import RedactSecrets
from bot.settings.bounds import ConfigError
from bot.settings.loading import parse_config
from bot.settings.platforms import PLATFORMS, PLATFORMS_BY_NAME, redact
from bot.settings.sections import Secrets
from bot.web.metrics import RATE_LIMIT_LINES
from bot.web.pages import PLATFORM_NAMES

SECRETS = Secrets(
    telegram_token="4242:AAH-secret_Telegram-token",
    discord_token="discord.secret.token",
    worker_secret="w" * 40,
    admin_token="admin-token-of-twenty-chars",
)


def test_every_secret_is_redacted_by_its_environment_name_the_admin_token_too() -> None:
    text = " ".join([SECRETS.telegram_token, SECRETS.discord_token, SECRETS.worker_secret,
                     SECRETS.admin_token, "4242%3AAAH-secret_Telegram-token"])  # fmt: skip
    assert redact(text, SECRETS) == (
        "$TELEGRAM_TOKEN $DISCORD_TOKEN $VIDEOBOT_WORKER_SECRET $VIDEOBOT_ADMIN_TOKEN $TELEGRAM_TOKEN"
    )


def test_a_log_line_and_its_traceback_never_show_the_admin_token() -> None:
    output = io.StringIO()
    handler = logging.StreamHandler(output)
    handler.addFilter(RedactSecrets(SECRETS))
    logger = logging.getLogger("tests.platforms.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("login with %s", SECRETS.admin_token)
        try:
            raise RuntimeError(f"bad cookie key {SECRETS.admin_token}")
        except RuntimeError:
            logger.exception("admin page failed")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    written = output.getvalue()
    assert "login with $VIDEOBOT_ADMIN_TOKEN" in written
    assert "RuntimeError: bad cookie key $VIDEOBOT_ADMIN_TOKEN" in written
    assert SECRETS.admin_token not in written


@pytest.mark.asyncio
async def test_a_platform_that_cannot_connect_logs_its_error_redacted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stop = asyncio.Event()
    service: Any = types.SimpleNamespace(connected=set(), config=types.SimpleNamespace(secrets=SECRETS))
    tries: list[int] = []

    async def run(service: Any, stop: asyncio.Event) -> None:
        tries.append(1)
        if len(tries) > 1:
            stop.set()
            return
        raise OSError(f"connect to https://x/{SECRETS.admin_token}/{SECRETS.telegram_token} refused")

    with caplog.at_level(logging.WARNING, logger="bot.app"):
        await keep_connecting("telegram", run, service, stop, first_s=0.0)
    assert "https://x/$VIDEOBOT_ADMIN_TOKEN/$TELEGRAM_TOKEN refused" in caplog.text
    assert SECRETS.admin_token not in caplog.text and SECRETS.telegram_token not in caplog.text


def test_the_registry_drives_ids_pages_metrics_and_network_errors() -> None:
    import aiohttp
    from telegram.error import NetworkError

    assert [p.name for p in PLATFORMS] == ["telegram", "discord"]
    for name in PLATFORMS_BY_NAME:
        assert USER_REF.match(f"{name}:42")
    assert not USER_REF.match("matrix:42")
    assert PLATFORM_NAMES == {"telegram": "Telegram", "discord": "Discord", "console": "console"}
    assert RATE_LIMIT_LINES["discord.http"][0] == "discord"
    assert is_network_error(NetworkError("down")) and is_network_error(aiohttp.ClientConnectionError())
    assert not is_network_error(ValueError("token rejected"))


def test_settings_check_each_enabled_platform_and_owner_through_the_registry() -> None:
    with pytest.raises(ConfigError, match="DISCORD_TOKEN environment variable is empty"):
        parse_config({"discord": {"enabled": True}}, "t.toml", {})
    config = parse_config({"discord": {"enabled": True}}, "t.toml", {"DISCORD_TOKEN": "x"})
    assert list(enabled_platforms(config)) == ["discord"] and config.chat_platforms == {"discord"}
    assert config.secrets.discord_token == "x"
    with pytest.raises(ConfigError, match="'matrix:7' must look like"):
        parse_config({"admin": {"owners": ["telegram:1", "matrix:7"]}}, "t.toml", {})
