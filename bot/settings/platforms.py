"""The chat platforms, one registry entry each: everything outside a platform's own package that
needs to know it (app wiring, settings checks, admin user ids, web pages, metrics, redaction)
reads it here.  Plain data: naming a runner or an error class imports nothing until it is used.

Adding a platform (Matrix, say): its package and adapter (with a `run(service, stop, web)`), its
`[matrix]` section and token field (`sections.py`), one `Platform(...)` line below, and its words.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, fields
from typing import Any
from urllib.parse import quote


@dataclass(frozen=True)
class Platform:
    """One chat platform as the rest of the bot sees it."""

    name: str  # user and chat refs ("telegram:42"), job rows, metrics labels, [<name>] section
    title: str  # what people read ("the Telegram group of …")
    secret: str = ""  # the `Secrets` field holding its token ("": none)
    env: str = ""  # the environment variable the token is read from
    user_id: str = r"\d+"  # what an id looks like after "<name>:" (checked whole)
    runner: str = ""  # "module:function" running it until stopped: run(service, stop, web)
    network_errors: tuple[str, ...] = ()  # "module:Class"es a passing network problem raises
    rate_limit_logger: str = ""  # the logger its library says "rate limited, retrying" on, if it counts none
    rate_limit_lines: tuple[str, ...] = ()  # how those lines start

    def enabled(self, config: Any) -> bool:
        """Switched on by `[<name>] enabled = true`."""
        section = getattr(config, self.name, None)
        return bool(getattr(section, "enabled", False))

    def token(self, secrets: Any) -> str:
        return str(getattr(secrets, self.secret, "")) if self.secret else ""

    def is_user_id(self, user_id: str) -> bool:
        return user_id.isascii() and re.fullmatch(self.user_id, user_id) is not None

    def run_function(self) -> Any:
        module, _, function = self.runner.partition(":")
        return getattr(importlib.import_module(module), function)

    def error_types(self) -> tuple[type[BaseException], ...]:
        found = []
        for name in self.network_errors:
            module, _, cls = name.partition(":")
            found.append(getattr(importlib.import_module(module), cls))
        return tuple(found)


PLATFORMS: tuple[Platform, ...] = (
    Platform(
        "telegram", "Telegram", "telegram_token", "TELEGRAM_TOKEN", runner="bot.telegram_adapter:run",
        network_errors=("telegram.error:NetworkError", "httpx:TransportError"),
    ),
    Platform(
        "discord", "Discord", "discord_token", "DISCORD_TOKEN", runner="bot.discord_adapter:run",
        network_errors=("aiohttp:ClientConnectionError", "discord:GatewayNotFound"),
        rate_limit_logger="discord.http",
        rate_limit_lines=("We are being rate limited.", "Global rate limit has been hit"),
    ),
)  # fmt: skip
CONSOLE = Platform("console", "console", user_id=r"[\w.-]+")  # `videobot console`: no chat, no token
PLATFORMS_BY_NAME: dict[str, Platform] = {p.name: p for p in (*PLATFORMS, CONSOLE)}
# the bot's own secrets, beside the platforms' tokens: field → environment variable
OWN_SECRETS = {"worker_secret": "VIDEOBOT_WORKER_SECRET", "admin_token": "VIDEOBOT_ADMIN_TOKEN"}
SECRET_ENVS: dict[str, str] = {**{p.secret: p.env for p in PLATFORMS if p.secret}, **OWN_SECRETS}


def user_ref_pattern() -> re.Pattern[str]:
    """`telegram:42`, `discord:…`, `console:alice`: a user as admins name one (ids checked loosely:
    a typed id that names nobody is simply nobody)."""
    names = "|".join(re.escape(name) for name in PLATFORMS_BY_NAME)
    return re.compile(rf"^({names}):[\w.-]+$")


def is_owner_ref(ref: str) -> bool:
    """An `[admin] owners` entry: a known platform and an id of its shape."""
    name, _, user_id = ref.partition(":")
    platform = PLATFORMS_BY_NAME.get(name)
    return platform is not None and bool(user_id) and platform.is_user_id(user_id)


def secret_values(secrets: Any) -> dict[str, str]:
    """Each secret set, by the environment variable it came from."""
    envs = {f.name: SECRET_ENVS.get(f.name, f.name.upper()) for f in fields(secrets)}
    return {envs[name]: value for name in envs if isinstance(value := getattr(secrets, name), str) and value}


def redact(text: str, secrets: Any) -> str:
    """The one redaction: each secret (and its URL-quoted form) as `$ENV_VAR`, longest first."""
    replacements: dict[str, str] = {}
    for env, value in secret_values(secrets).items():
        replacements[quote(value, safe="")] = replacements[value] = f"${env}"
    for secret, placeholder in sorted(replacements.items(), key=lambda item: -len(item[0])):
        text = text.replace(secret, placeholder)
    return text
