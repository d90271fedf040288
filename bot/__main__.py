"""``focus-companion`` / ``python -m bot``: run the bot (long polling), or ``console``."""

from __future__ import annotations

import argparse
import asyncio
import sys

from pydantic import ValidationError

from bot.logs import configure_logging
from bot.settings import Settings

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

    if console:
        from bot.console import run_console

        if args.mode != "console":
            print(BOTFATHER_HELP, file=sys.stderr)
        return asyncio.run(run_console(settings))

    from telegram.error import InvalidToken, NetworkError

    from bot.app import build_application

    app = build_application(settings)
    try:
        app.run_polling(allowed_updates=["message", "callback_query"], drop_pending_updates=False)
    except InvalidToken:
        # PTB's message quotes the token: never print it.
        print(
            "Telegram rejected TELEGRAM_BOT_TOKEN. Check it in @BotFather (/mybots → API Token);"
            " a revoked token must be replaced in .env.",
            file=sys.stderr,
        )
        return 1
    except NetworkError as error:
        print(
            f"Could not reach the Bot API at {settings.telegram_base_url} ({type(error).__name__})."
            " Check the network, or TELEGRAM_BASE_URL for a self-hosted Bot API server.",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
