"""Logging set-up: levels for chatty libraries, and secrets redacted from every line."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

from telegram.error import InvalidToken, NetworkError

__all__ = ["ExplainedErrors", "RedactingFormatter", "configure_logging"]

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class RedactingFormatter(logging.Formatter):
    """Replaces each secret with ``[redacted]`` in the formatted line, tracebacks included.

    python-telegram-bot logs the Bot API URL at DEBUG, and that URL contains the token.
    """

    def __init__(self, secrets: Iterable[str], fmt: str = FORMAT) -> None:
        super().__init__(fmt)
        # Longest first, so a token is replaced whole before its parts.
        self._secrets = sorted({s for s in secrets if len(s) >= 8}, key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        """Format, then redact."""
        line = super().format(record)
        for secret in self._secrets:
            line = line.replace(secret, "[redacted]")
        return line


OUR_PACKAGES = ("bot", "storage", "nudges")


_BOOTSTRAP = "Network Retry Loop (Bootstrap"
"""How python-telegram-bot's start-up calls (getMe, deleteWebhook) log their last failure."""


class ExplainedErrors(logging.Filter):
    """Drops the traceback of errors the bot explains itself (a rejected token): PTB logs
    them with a 50-line trace right before our one-line explanation."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep the record, minus the traceback of an explained error."""
        if (
            record.exc_info
            and isinstance(record.exc_info[1], NetworkError)
            and record.getMessage().startswith(_BOOTSTRAP)
        ):
            # The Bot API failed at start (unreachable, a 5xx, a hang): bot/__main__.py
            # explains it in one line right after; PTB's line would add a 30-100-line trace.
            return False
        if record.exc_info and isinstance(record.exc_info[1], InvalidToken):
            record.exc_info = None
            record.exc_text = None
        return True


def configure_logging(level: str, secrets: Iterable[str] = ()) -> None:
    """Log to stderr with secrets redacted; ``level`` applies to our own packages.

    Libraries never log below INFO: at DEBUG, python-telegram-bot prints every update and
    Bot API payload, and aiosqlite every statement with its parameters — people's messages
    and labels among them.
    """
    handler = logging.StreamHandler(sys.stderr)
    parts = [p for s in secrets for p in (s, *s.split(":", 1)[1:])]  # the token, its secret half
    handler.setFormatter(RedactingFormatter(parts))
    handler.addFilter(ExplainedErrors())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    numeric = logging.getLevelName(level)
    root.setLevel(max(logging.INFO, numeric))
    for name in OUR_PACKAGES:
        logging.getLogger(name).setLevel(numeric)
    # httpx logs every request URL at INFO, and the URL contains the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    # APScheduler logs each job run at INFO: one line per dispatcher wake-up.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
