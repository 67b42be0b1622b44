"""The Telegram adapter's parts; `bot.telegram_adapter` is the entry point the rest of the bot uses.

- `refs`: how the core's message refs name Telegram messages ("17", "t5:17", "cb:<query>:17"),
  and who is asking;
- `buttons`: the callback data under a clip (`v:<action>:<job id>`) and its keyboard;
- `admins`: whether someone administers a chat, as Telegram last said (cached);
- `pictures`: the photo or clip a message carries, fetched only if the core wants it;
- `outbox`: `TelegramOutbox`, the core's `Outbox` on Telegram;
- `handlers`: `TelegramAdapter`, updates turned into core calls;
- `application`: PTB's application, polling or the webhook, and `TelegramBot` that runs them.
"""
