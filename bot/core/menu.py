"""The one list of commands: the Telegram menu, Discord's descriptions, the console's hint
and `/help` are all built from it."""

from __future__ import annotations

from dataclasses import dataclass

from bot.core import messages


@dataclass(frozen=True)
class CommandSpec:
    name: str
    usage: str  # what follows the name in `/help`
    admin: bool = False  # shown to admins only (Telegram's menu is for everyone)

    @property
    def key(self) -> str:
        """The description's entry in the catalogues (`menu_video`)."""
        return f"menu_{self.name}"

    @property
    def description(self) -> dict[str, str]:
        """The description in every language we speak."""
        return {locale: self.describe(locale) for locale in messages.LOCALES}

    def describe(self, locale: str) -> str:
        return messages.text(self.key, locale)


COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec("video", "<prompt>"),
    CommandSpec("extend", "[id] [prompt] [--smooth] [--hd]"),
    CommandSpec("cancel", "[id]"),
    CommandSpec("queue", ""),
    CommandSpec("quota", ""),
    CommandSpec("info", "[id]"),
    CommandSpec("models", ""),
    CommandSpec("verify", ""),
    CommandSpec("help", ""),
    CommandSpec("challenge", "start|enter|status|end"),
    CommandSpec("leaderboard", ""),
    CommandSpec("admin", "…", admin=True),
)
BY_NAME = {command.name: command for command in COMMANDS}
ALIASES = {"start": "help"}  # Telegram sends /start when someone opens the bot


def everyone_menu() -> tuple[CommandSpec, ...]:
    """The commands a menu shows to everyone."""
    return tuple(c for c in COMMANDS if not c.admin)


def command_list() -> str:
    """`/queue · /cancel [id] · …`: every command but /video (whose options `/help` spells out)."""
    return " · ".join(f"/{c.name} {c.usage}".strip() for c in everyone_menu() if c.name != "video")
