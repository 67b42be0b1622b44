"""Message refs: how the core names Discord messages.

The core answers through `DiscordOutbox`, naming messages by refs this module makes.
The core stores them in SQLite, so a ref must still work after a restart, without the
live discord.py objects:

- ``ix:<interaction id>:<born>:<token>``: where a command came from (`Request.reply_to`);
- ``wh:<message id | @original>:<born>:<token>``: a message sent through an interaction's
  webhook, editable with the token alone while it lives (15 minutes from `born`);
- ``ch:<channel id>:<message id>``: a channel message, editable and deletable for ever.
  A challenge announcement is named this way although it is the command's answer: it is
  replied to and threaded long after the token has expired.

`born` is our own clock's reading when the interaction arrived, so tests can age tokens
without waiting.
"""

from dataclasses import dataclass

# How the core names this platform (`ChatRef`, `UserRef`, the outbox it delivers through).
PLATFORM = "discord"
TOKEN_TTL_S = 15 * 60
# An upload can take a while: past this age a result goes to the channel instead.
FOLLOWUP_WINDOW_S = TOKEN_TTL_S - 60
EDIT_WINDOW_S = TOKEN_TTL_S - 10
# discord.py types webhook message ids as int, but only formats them into the route, and
# Discord's alias for an interaction's first response is this word.
ORIGINAL = "@original"


@dataclass(frozen=True)
class OriginRef:
    """The interaction a command came in on."""

    interaction_id: int
    born: float
    token: str

    def __str__(self) -> str:
        return f"ix:{self.interaction_id}:{self.born:.3f}:{self.token}"


@dataclass(frozen=True)
class HookRef:
    """A message sent through an interaction's webhook."""

    message: str  # a message id, or ORIGINAL
    born: float
    token: str

    def __str__(self) -> str:
        return f"wh:{self.message}:{self.born:.3f}:{self.token}"


@dataclass(frozen=True)
class ChannelRef:
    """A plain channel message."""

    channel_id: int
    message_id: int

    def __str__(self) -> str:
        return f"ch:{self.channel_id}:{self.message_id}"


def parse_ref(ref: str | None) -> OriginRef | HookRef | ChannelRef | None:
    """Read a ref made here; anything else (another adapter's, a corrupt one) is None."""
    kind, _, rest = (ref or "").partition(":")
    try:
        if kind == "ix":
            interaction_id, born, token = rest.split(":", 2)
            return OriginRef(int(interaction_id), float(born), token)
        if kind == "wh":
            message, born, token = rest.split(":", 2)
            return HookRef(message, float(born), token)
        if kind == "ch":
            channel_id, message_id = rest.split(":")
            return ChannelRef(int(channel_id), int(message_id))
    except ValueError:
        pass
    return None
