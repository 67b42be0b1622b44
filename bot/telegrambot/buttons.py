"""The buttons under a clip: callback data that carries all a press needs, and its keyboard."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

from telegram import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import TelegramError

from bot.domain import Button

log = logging.getLogger(__name__)

CALLBACK_PREFIX = "v"
JOB_ID_MAX = 2**63 - 1  # SQLite's largest integer
_CALLBACK = re.compile(rf"{CALLBACK_PREFIX}:([a-z_]{{1,32}}):([0-9]{{1,19}})")  # [0-9]: ASCII only


def callback_data(button: Button) -> str:
    """`v:<action>:<job id>`: all a press needs, so buttons work after a restart."""
    return f"{CALLBACK_PREFIX}:{button.action}:{button.job_id}"


def parse_callback(data: str | None) -> tuple[str, int] | None:
    """(action, job id) from `v:<action>:<id>`, or None: anyone can send a press with any data."""
    match = _CALLBACK.fullmatch(data or "")
    if match is None:
        return None
    job_id = int(match[2])
    return (match[1], job_id) if 1 <= job_id <= JOB_ID_MAX else None


def keyboard(buttons: Sequence[Button]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(b.label, callback_data=callback_data(b)) for b in buttons]]
    )


async def answer_press(query: CallbackQuery, answered: set[str]) -> None:
    """answerCallbackQuery, unless the core's reply already was the answer (a pop-up, in
    `answered`: the outbox's record of queries it answered)."""
    if query.id not in answered:
        answered.add(query.id)
        try:
            await query.answer()
        except TelegramError:
            log.debug("late callback answer failed", exc_info=True)
    answered.discard(query.id)
