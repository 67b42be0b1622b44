"""The Discord adapter's parts; `bot.discord_adapter` is the entry point the rest of the bot uses.

- `refs`: how the core's stored message refs name Discord messages (``ix:``, ``wh:``, ``ch:``);
- `client`: `VideoBotClient` (serving interactions, deferring slow answers), `point_at`, `run_client`;
- `outbox`: `DiscordOutbox`, the core's `Outbox` on Discord, and the card under a clip;
- `buttons`: `ResultButton`, the persistent buttons under a clip;
- `commands`: the slash commands, translated into calls on the core.
"""
