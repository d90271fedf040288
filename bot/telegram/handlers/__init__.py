"""Telegram handlers by area: parse, call the core, reply. No SQL, no clock, no business rules.

The wiring (``bot.telegram.app``) registers them from here."""

from bot.telegram.handlers.access import error_handler, gatekeeper, slow_down
from bot.telegram.handlers.account import delete_me, export, history, settings, stats, timezone
from bot.telegram.handlers.buttons import on_button
from bot.telegram.handlers.chats import chat_migrated
from bot.telegram.handlers.messages import on_text
from bot.telegram.handlers.onboarding import review
from bot.telegram.handlers.records import correct
from bot.telegram.handlers.routine import goal, quiet, remind
from bot.telegram.handlers.session import (
    extend,
    focus,
    help_command,
    pause,
    resume,
    start,
    status,
    stop,
    unknown_command,
)

__all__ = [
    "chat_migrated",
    "correct",
    "delete_me",
    "error_handler",
    "export",
    "extend",
    "focus",
    "gatekeeper",
    "goal",
    "help_command",
    "history",
    "on_button",
    "on_text",
    "pause",
    "quiet",
    "remind",
    "resume",
    "review",
    "settings",
    "slow_down",
    "start",
    "stats",
    "status",
    "stop",
    "timezone",
    "unknown_command",
]
