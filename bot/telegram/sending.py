"""Bot API calls whose answer the bot needs only an id from.

PTB's ``send_message`` and ``edit_message_text`` build a ``Message`` object from every answer —
entities, buttons and all — and that was the largest single cost of an update or a proactive
message (``Message.de_json``, ~0.3 ms a call here, measured in BENCHMARKS.md). These helpers make
the same request through the same ``Bot`` (its rate limiter included) with
``do_api_request``, and return the raw answer's ``message_id``.
"""

from __future__ import annotations

import warnings
from typing import Any

from telegram import Bot
from telegram.constants import ParseMode
from telegram.warnings import PTBUserWarning

from bot.telegram.ratelimit import Admit, Lane, NotAdmitted, has_limiter, lane_args

__all__ = ["Markup", "edit_html", "edit_inline_html", "send_html"]

# PTB suggests its typed method whenever do_api_request names one; here that is on purpose.
warnings.filterwarnings(
    "ignore",
    message=r"Please use 'Bot\.\w+' instead of 'Bot\.do_api_request",
    category=PTBUserWarning,
)

Markup = str | None
"""Buttons: the Bot API's ``reply_markup`` JSON, as ``bot.telegram.texts.buttons`` builds every
keyboard (one form; PTB's ``InlineKeyboardMarkup`` cost more to serialise than the rest of a
message)."""


async def send_html(
    bot: Bot,
    chat_id: int,
    text: str,
    markup: Markup = None,
    *,
    thread_id: int | None = None,
    reply_to: int | None = None,
    lane: Lane = Lane.ANSWER,
    admit: Admit | None = None,
) -> int:
    """Send an HTML message (into a forum topic, with ``thread_id``; as a reply to a message
    of the chat, with ``reply_to``, sent anyway if that one is gone); its message id.
    ``lane``: its place in the rate limiter's queue (``bot.telegram.ratelimit``). ``admit``:
    asked right before the HTTP call, once the rate limiter let the request through (the
    dispatcher claims its message there); ``NotAdmitted`` when it says no, nothing sent."""
    if admit is not None and not has_limiter(bot) and not await admit():
        raise NotAdmitted("sendMessage")  # no limiter (console mode, tests): nothing waited
    answer: Any = await bot.do_api_request(
        "sendMessage",
        {
            "chat_id": chat_id,
            "text": text,
            "parse_mode": ParseMode.HTML,
            "reply_markup": markup,
            "message_thread_id": thread_id,
            "reply_parameters": None
            if reply_to is None
            else {"message_id": reply_to, "allow_sending_without_reply": True},
        },
        **lane_args(bot, lane, admit),
    )
    return int(answer["message_id"])


async def edit_html(
    bot: Bot,
    chat_id: int,
    message_id: int,
    text: str,
    markup: Markup = None,
    *,
    lane: Lane = Lane.ANSWER,
) -> None:
    """Replace a message's text and buttons (none unless given)."""
    await bot.do_api_request(
        "editMessageText",
        {
            "chat_id": chat_id,
            "message_id": message_id,
            "text": text,
            "parse_mode": ParseMode.HTML,
            "reply_markup": markup,
        },
        **lane_args(bot, lane),
    )


async def edit_inline_html(
    bot: Bot, inline_message_id: str, text: str, markup: Markup = None
) -> None:
    """The same for a message sent in inline mode, known only by its inline message id."""
    await bot.do_api_request(
        "editMessageText",
        {
            "inline_message_id": inline_message_id,
            "text": text,
            "parse_mode": ParseMode.HTML,
            "reply_markup": markup,
        },
    )
