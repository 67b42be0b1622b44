"""videobot: `/video <prompt>` → a short AI-generated clip, on Discord, Telegram and the console."""

__version__ = "0.1.0"
