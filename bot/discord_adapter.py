"""Discord: slash commands and result buttons, translated into calls on the core.

The entry point the rest of the bot imports; the parts live in `bot.discordbot`:
`refs` (how the core's stored refs name Discord messages), `client` (`VideoBotClient`,
`point_at`, `run_client`), `outbox` (`DiscordOutbox`), `buttons` (`ResultButton`) and
`commands` (the slash commands).  Only what the rest of the bot uses is named here; tests of
a part import it from its module.
"""

from bot.discordbot.client import VideoBotClient, point_at, run_client
from bot.discordbot.refs import PLATFORM

__all__ = ["PLATFORM", "VideoBotClient", "point_at", "run_client"]
