"""The persistent buttons under a clip (🔁 🎲 ℹ 🗑 👍), pressed into calls on the core."""

import re
from typing import Any, Self

import discord

from bot.discordbot.interactions import interactions_of

BUTTON_STYLES = {"delete": discord.ButtonStyle.danger, "vote": discord.ButtonStyle.success}


class ResultButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=r"videobot:(?P<action>[a-z]+):(?P<job>[0-9]+)",
):
    """🔁 🎲 ℹ 🗑 👍 under a clip.  The custom id carries action and job, so presses work after a restart.

    Any action is passed on: the core knows which exist (and answers the rest politely).
    """

    def __init__(self, action: str, job_id: int, label: str) -> None:
        style = BUTTON_STYLES.get(action, discord.ButtonStyle.secondary)
        super().__init__(discord.ui.Button(label=label, style=style, custom_id=f"videobot:{action}:{job_id}"))
        self.action = action
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str]
    ) -> Self:
        label = getattr(item, "label", None) or match["action"]
        return cls(match["action"], int(match["job"]), label)

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        interactions = interactions_of(interaction.client)
        async with interactions.serving(interaction, private=True) as req:
            await interactions.service.button(req, self.action, self.job_id)
