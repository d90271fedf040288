"""``focus-companion`` / ``python -m bot``: run the bot (long polling), or ``console``."""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
from typing import TYPE_CHECKING

from pydantic import ValidationError

from bot.core.settings import Settings
from bot.telegram.logs import configure_logging

if TYPE_CHECKING:
    from bot.telegram.context import FocusApplication

__all__ = ["main"]

BOTFATHER_HELP = """\
No TELEGRAM_BOT_TOKEN is set, so I can't connect to Telegram.

To get a token:
  1. In Telegram, open a chat with @BotFather and send /newbot.
  2. Pick a name and a username ending in "bot"; BotFather replies with a token
     like 123456789:AAH...
  3. Put it in a file named .env next to this project:  TELEGRAM_BOT_TOKEN=123456789:AAH...
     (or export TELEGRAM_BOT_TOKEN=...), and run focus-companion again.

Meanwhile, here is the same bot in your terminal (console mode).
"""


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    parser = argparse.ArgumentParser(prog="focus-companion", description=__doc__)
    parser.add_argument(
        "mode",
        nargs="?",
        choices=["polling", "console"],
        default="polling",
        help="polling (default): talk to Telegram; console: chat with the bot in this terminal",
    )
    args = parser.parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as error:
        print("Invalid settings (environment or .env):", file=sys.stderr)
        for problem in error.errors(include_url=False):
            name = ".".join(str(p) for p in problem["loc"]).upper()
            print(f"  {name}: {problem['msg']}", file=sys.stderr)
        print("See .env.example for every setting and its range.", file=sys.stderr)
        return 2
    token = settings.telegram_bot_token
    console = args.mode == "console" or token is None
    # In the console, log lines would interleave with the chat: only warnings and worse.
    level = "WARNING" if console and settings.log_level in ("DEBUG", "INFO") else settings.log_level
    configure_logging(level, [token.get_secret_value()] if token else [])

    from storage import StorageUnavailable

    try:
        return _run(args.mode, settings, console)
    except StorageUnavailable as error:
        # The file can't be used (in use by another bot, damaged, read-only, ...): one line
        # that says what and what to do; nothing was written to it.
        print(error, file=sys.stderr)
        return 1


def _run(mode: str, settings: Settings, console: bool) -> int:
    """Run console mode or the bot (polling or webhook) until it stops; the exit code."""
    if console:
        from bot.offline.console import run_console

        if mode != "console":
            print(BOTFATHER_HELP, file=sys.stderr)
        return asyncio.run(run_console(settings))

    from telegram.error import BadRequest, InvalidToken, NetworkError

    from bot.telegram.app import build_application

    app = build_application(settings)
    try:
        if settings.focus_webhook_url:
            return _run_webhook(app, settings)
        else:
            app.run_polling(allowed_updates=UPDATES, drop_pending_updates=False)
    except InvalidToken:
        # PTB's message quotes the token: never print it.
        print(
            "Telegram rejected TELEGRAM_BOT_TOKEN. Check it in @BotFather (/mybots → API Token);"
            " a revoked token must be replaced in .env.",
            file=sys.stderr,
        )
        return 1
    except BadRequest as error:  # a NetworkError subclass: Telegram answered, and refused
        print(f"Telegram refused to start the bot: {error.message}.", file=sys.stderr)
        if settings.focus_webhook_url:
            print("Check FOCUS_WEBHOOK_URL: it must be a public https URL.", file=sys.stderr)
        return 1
    except NetworkError as error:
        print(_unreachable(settings.telegram_base_url, error), file=sys.stderr)
        return 1
    return 0


UPDATES = ["message", "callback_query"]


def _unreachable(base_url: str, error: Exception) -> str:
    """One line for a Bot API that failed at start: no answer (refused, a timeout) or an
    error answer (a 5xx: python-telegram-bot's NetworkError without a transport cause)."""
    import httpx
    from telegram.error import TimedOut

    hint = "Check the network, or TELEGRAM_BASE_URL for a self-hosted Bot API server."
    if isinstance(error, TimedOut):
        return f"The Bot API at {base_url} did not answer in time. {hint}"
    if isinstance(error.__cause__, httpx.HTTPError):
        cause = type(error.__cause__).__name__
        return f"Could not reach the Bot API at {base_url} ({cause}). {hint}"
    return f"The Bot API at {base_url} answered with an error ({error}). {hint}"


def _run_webhook(app: FocusApplication, settings: Settings) -> int:
    """Receive updates on FOCUS_WEBHOOK_LISTEN:FOCUS_WEBHOOK_PORT, at the path of
    FOCUS_WEBHOOK_URL; Telegram must present the secret token with every request.

    Our own server (bot/telegram/webhook.py), not PTB's run_webhook: it refuses a request on its
    headers (secret, size) before reading the body."""
    from bot.telegram.webhook import ListenError, WebhookConfig, serve_webhook

    url = settings.focus_webhook_url or ""
    secret = settings.focus_webhook_secret
    # Without a configured secret, a fresh random one is registered with setWebhook at
    # every start: requests that don't carry it are refused with 403.
    token = secret.get_secret_value() if secret else secrets.token_urlsafe(32)
    config = WebhookConfig(
        listen=settings.focus_webhook_listen,
        port=settings.focus_webhook_port,
        url=url,
        secret=token,
        allowed_updates=UPDATES,
    )
    try:
        asyncio.run(serve_webhook(app, config))
    except ListenError as error:
        print(
            f"The webhook server {error}. Check FOCUS_WEBHOOK_LISTEN and FOCUS_WEBHOOK_PORT.",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
