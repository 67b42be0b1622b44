"""Discord: slash commands and result buttons, translated into calls on the core.

The entry point the rest of the bot imports; the parts live in `bot.discordbot`:
`refs` (how the core's stored refs name Discord messages), `client` (`VideoBotClient`,
`point_at`, `run_client`), `outbox` (`DiscordOutbox`), `buttons` (`ResultButton`) and
`commands` (the slash commands).
"""

from bot.discordbot.buttons import BUTTON_STYLES as BUTTON_STYLES
from bot.discordbot.buttons import ResultButton
from bot.discordbot.client import DEFER_AFTER_S as DEFER_AFTER_S
from bot.discordbot.client import VideoBotClient, point_at, run_client
from bot.discordbot.client import _Tree as _Tree
from bot.discordbot.commands import MENTION as MENTION
from bot.discordbot.commands import RECENT_JOBS as RECENT_JOBS
from bot.discordbot.commands import AnyCommand as AnyCommand
from bot.discordbot.commands import JobChoices as JobChoices
from bot.discordbot.commands import Words as Words
from bot.discordbot.commands import _job_choices as _job_choices
from bot.discordbot.commands import _menu as _menu
from bot.discordbot.commands import _menu_texts as _menu_texts
from bot.discordbot.commands import _target as _target
from bot.discordbot.commands import admin_commands, build_commands, challenge_commands
from bot.discordbot.host import Live as Live
from bot.discordbot.outbox import MIB as MIB
from bot.discordbot.outbox import NO_MENTIONS as NO_MENTIONS
from bot.discordbot.outbox import THREAD_ARCHIVE_MINUTES as THREAD_ARCHIVE_MINUTES
from bot.discordbot.outbox import DiscordOutbox, result_embed, result_view
from bot.discordbot.outbox import _channel_id as _channel_id
from bot.discordbot.outbox import _message_id as _message_id
from bot.discordbot.outbox import _only as _only
from bot.discordbot.outbox import _reply_in as _reply_in
from bot.discordbot.refs import EDIT_WINDOW_S as EDIT_WINDOW_S
from bot.discordbot.refs import FOLLOWUP_WINDOW_S as FOLLOWUP_WINDOW_S
from bot.discordbot.refs import ORIGINAL as ORIGINAL
from bot.discordbot.refs import PLATFORM, ChannelRef, HookRef, OriginRef, parse_ref
from bot.discordbot.refs import TOKEN_TTL_S as TOKEN_TTL_S

__all__ = [
    "PLATFORM",
    "ChannelRef",
    "DiscordOutbox",
    "HookRef",
    "OriginRef",
    "ResultButton",
    "VideoBotClient",
    "admin_commands",
    "build_commands",
    "challenge_commands",
    "parse_ref",
    "point_at",
    "result_embed",
    "result_view",
    "run_client",
]
