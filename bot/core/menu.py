"""The one list of commands: the Telegram menu, Discord's descriptions, the console's hint
and `/help` are all built from it."""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.messages import DEFAULT_LOCALE


@dataclass(frozen=True)
class CommandSpec:
    name: str
    usage: str  # what follows the name in `/help`
    description: dict[str, str]  # by locale
    admin: bool = False  # shown to admins only (Telegram's menu is for everyone)

    def describe(self, locale: str) -> str:
        return self.description.get(locale) or self.description[DEFAULT_LOCALE]


COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(
        "video",
        "<prompt>",
        {"en": "Make a short video from a text prompt", "it": "Crea un breve video da un testo"},
    ),
    CommandSpec(
        "extend",
        "[id] [prompt]",
        {"en": "Make a clip longer (⏩ Extend)", "it": "Allunga un video (⏩ Estendi)"},
    ),
    CommandSpec(
        "cancel", "[id]", {"en": "Cancel your waiting or running video", "it": "Annulla il tuo video in coda"}
    ),
    CommandSpec(
        "queue", "", {"en": "Queue length, your place and ETA", "it": "Coda, la tua posizione e il tempo"}
    ),
    CommandSpec(
        "quota", "", {"en": "How many clips you have left today", "it": "Quanti video ti restano oggi"}
    ),
    CommandSpec(
        "info",
        "[id]",
        {"en": "Seed, settings and model of a clip", "it": "Seed, impostazioni e modello di un video"},
    ),
    CommandSpec(
        "models",
        "",
        {
            "en": "The video models, their licences and defaults",
            "it": "I modelli video, licenze e impostazioni",
        },
    ),
    CommandSpec(
        "verify",
        "",
        {
            "en": "Check a video's Content Credentials (reply to it)",
            "it": "Controlla le Content Credentials di un video (rispondigli)",
        },
    ),
    CommandSpec(
        "help", "", {"en": "What I do and the limits in force", "it": "Cosa faccio e i limiti in vigore"}
    ),
    CommandSpec(
        "challenge",
        "start|enter|status|end",
        {"en": "Prompt challenges: start, enter, status, end", "it": "Sfide: start, enter, status, end"},
    ),
    CommandSpec(
        "leaderboard",
        "",
        {"en": "Challenge winners in this chat", "it": "Vincitori delle sfide in questa chat"},
    ),
    CommandSpec(
        "admin",
        "…",
        {
            "en": "Admin tools: quotas, bans, queue, chat settings, audit log",
            "it": "Strumenti admin: quote, blocchi, coda, impostazioni, registro",
        },
        admin=True,
    ),
)
BY_NAME = {command.name: command for command in COMMANDS}
ALIASES = {"start": "help"}  # Telegram sends /start when someone opens the bot


def everyone_menu() -> tuple[CommandSpec, ...]:
    """The commands a menu shows to everyone."""
    return tuple(c for c in COMMANDS if not c.admin)


def command_list() -> str:
    """`/queue · /cancel [id] · …`: every command but /video (whose options `/help` spells out)."""
    return " · ".join(f"/{c.name} {c.usage}".strip() for c in everyone_menu() if c.name != "video")
