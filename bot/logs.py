"""Logs never show a secret: every record is scrubbed of the configured tokens before it is written.

Libraries put the Telegram token in what they log: python-telegram-bot's "Set Bot API URL" at
DEBUG, httpx's request lines, exceptions that quote a URL.  A filter on a handler sees every
record that handler writes, whichever library or level it came from (a logger's own filters
see only records logged on that very logger), so it goes on every handler there is.
"""

from __future__ import annotations

import logging

from bot.settings.platforms import redact, secret_values
from bot.settings.sections import Secrets


class RedactSecrets(logging.Filter):
    """Replaces each secret with `$ENV_VAR` in a record's message, arguments and traceback
    (`bot.settings.platforms.redact`: the one redaction, also used on errors the bot prints)."""

    def __init__(self, secrets: Secrets) -> None:
        super().__init__()
        self.secrets = secrets
        self.replacements = bool(secret_values(secrets))

    def redact(self, text: str) -> str:
        return redact(text, self.secrets)

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
    """Scrub every secret (as `$TELEGRAM_TOKEN`, `$VIDEOBOT_ADMIN_TOKEN`, …) from what each existing
    handler writes: call it once logging is set up and the config is loaded.  Calling it again
    replaces the filter rather than stacking another."""
    redactor = RedactSecrets(secrets)
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    for logger in loggers:
        for handler in getattr(logger, "handlers", ()):  # placeholders have no handlers
            for old in [f for f in handler.filters if isinstance(f, RedactSecrets)]:
                handler.removeFilter(old)
            handler.addFilter(redactor)
    return redactor
