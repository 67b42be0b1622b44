"""What a message carries for the core: a photo to animate, a clip to check, and the caption
that asks for it.  Files are fetched through getFile only if the core wants them (after its
size and quota checks)."""

from __future__ import annotations

import re
from typing import Any

from telegram import Bot, Message

from bot.core.credentials import Upload

# A photo (or an image sent as a file) captioned "/video <prompt> [options]", or "/video@bot …"
VIDEO_CAPTION = re.compile(r"/video(?:@(\w+))?(?:\s|$)", re.IGNORECASE)
VERIFY_CAPTION = re.compile(r"/verify(@\w+)?(\s|$)", re.IGNORECASE)  # a clip captioned "/verify"


def caption_request(caption: str | None, username: str | None) -> str | None:
    """The options after `/video` in a photo's caption, or None: not a request, or addressed to
    another bot (`/video@other_bot`), which CommandHandler would skip too."""
    match = VIDEO_CAPTION.match(caption or "")
    if match is None:
        return None
    addressed_to = match.group(1)
    if addressed_to and addressed_to.lower() != (username or "").lower():
        return None
    return (caption or "")[match.end() :].strip()


def is_verify_caption(caption: str | None) -> bool:
    return VERIFY_CAPTION.match(caption or "") is not None


def _upload(bot: Bot, media: Any) -> Upload:
    file_id = media.file_id

    async def fetch() -> bytes:
        file = await bot.get_file(file_id)
        return bytes(await file.download_as_bytearray())

    return Upload(media.file_size or 0, fetch)


def picture(bot: Bot, message: Message) -> Upload | None:
    """The photo (its largest size) or image file in `message`."""
    if message.photo:
        return _upload(bot, message.photo[-1])
    if message.document is not None and (message.document.mime_type or "").startswith("image/"):
        return _upload(bot, message.document)
    return None


def clip(bot: Bot, message: Message) -> Upload | None:
    """The video (or video file) in `message`."""
    media = message.video or message.document
    return None if media is None else _upload(bot, media)
