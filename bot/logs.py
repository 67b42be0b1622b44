"""Logs never show a secret: every record is scrubbed of the configured tokens before it is written.

Libraries put the Telegram token in what they log: python-telegram-bot's "Set Bot API URL" at
DEBUG, httpx's request lines, exceptions that quote a URL.  A filter on a handler sees every
record that handler writes, whichever library or level it came from (a logger's own filters
see only records logged on that very logger), so it goes on every handler there is.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import fields
from urllib.parse import quote

from bot.config import Secrets


class RedactSecrets(logging.Filter):
    """Replaces each secret with `$NAME` in a record's message, arguments and traceback."""

    def __init__(self, secrets: Mapping[str, str]) -> None:
        super().__init__()
        replacements: dict[str, str] = {}
        for name, value in secrets.items():
            if value:
                # URL-quoted too: a token in a query string or a path part may be escaped.
                replacements[quote(value, safe="")] = replacements[value] = f"${name}"
        # Longest first: a secret that contains another is replaced whole.
        self.replacements = sorted(replacements.items(), key=lambda item: -len(item[0]))

    def redact(self, text: str) -> str:
        for secret, placeholder in self.replacements:
            text = text.replace(secret, placeholder)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.replacements:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: the handler prints msg and args raw, so scrub both
            message = f"{record.msg} {record.args!r}"
        record.msg, record.args = self.redact(message), None
        if record.exc_info and not record.exc_text:
            # Formatters reuse exc_text, so the traceback is rendered (and scrubbed) once, here.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def redact_secrets(secrets: Secrets) -> RedactSecrets:
    """Scrub every field of `secrets` (as `$TELEGRAM_TOKEN`, …) from what each existing handler
    writes: call it once logging is set up and the config is loaded.  Calling it again replaces
    the filter rather than stacking another."""
    redactor = RedactSecrets(
        {f.name.upper(): value for f in fields(secrets) if isinstance(value := getattr(secrets, f.name), str)}
    )
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    for logger in loggers:
        for handler in getattr(logger, "handlers", ()):  # placeholders have no handlers
            for old in [f for f in handler.filters if isinstance(f, RedactSecrets)]:
                handler.removeFilter(old)
            handler.addFilter(redactor)
    return redactor
