"""What every handler shares: the command's arguments, replying where the update came from, and
editing the message a button sits on."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

from telegram import CallbackQuery, Message, Update
from telegram.constants import ChatType
from telegram.error import BadRequest

from bot.telegram.context import FocusContext
from bot.telegram.sending import Markup, edit_html, edit_inline_html, send_html

__all__ = [
    "NOTHING_RUNNING",
    "command_args",
    "edit",
    "ids",
    "older_than",
    "reply",
    "reply_id",
    "strip_html",
]

log = logging.getLogger(__name__)


NOTHING_RUNNING = "Nothing is running right now. Start with /focus 45 write the report."


_COMMAND = re.compile(r"^/\S*\s*(.*)$", re.DOTALL)


def command_args(message: Message) -> str:
    """The raw text after the command word (labels keep their spacing and case)."""
    match = _COMMAND.match(message.text or "")
    return match.group(1) if match else ""


async def reply(update: Update, text: str, reply_markup: Markup = None) -> None:
    """Answer in the chat (and forum topic) the update came from, as HTML; in a group, as a
    reply to the command, so everyone sees whose it answers (as PTB's reply_text does)."""
    await reply_id(update, text, reply_markup)


async def reply_id(update: Update, text: str, reply_markup: Markup = None) -> int | None:
    """:func:`reply`, returning the id of the message sent (None: nothing to answer)."""
    message = update.effective_message
    if message is None:
        return None
    topic = message.message_thread_id if message.is_topic_message else None
    quote = None if message.chat.type == ChatType.PRIVATE else message.message_id
    return await send_html(
        message.get_bot(), message.chat_id, text, reply_markup, thread_id=topic, reply_to=quote
    )


def ids(update: Update) -> tuple[int, int]:
    """(user id, chat id) of an update that has both (every command and button has)."""
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None:
        raise ValueError(f"update {update.update_id} has no user or chat")
    return user.id, chat.id


async def edit(query: CallbackQuery, text: str, keyboard: Markup = None) -> None:
    """Replace a button message's text (and its buttons: none unless given), best effort."""
    message = query.message  # a Message, or one too old to be sent along (chat and id only)
    try:
        if message is not None:
            await edit_html(query.get_bot(), message.chat.id, message.message_id, text, keyboard)
        elif query.inline_message_id is not None:  # a message sent in inline mode
            await edit_inline_html(query.get_bot(), query.inline_message_id, text, keyboard)
    except BadRequest as error:
        log.debug("button message not edited: %s", error)


def older_than(query: CallbackQuery, context: FocusContext, age: timedelta) -> bool:
    """Whether the message a button sits on was sent more than ``age`` ago."""
    message = query.message
    if not isinstance(message, Message):
        return True
    return context.service.clock.now() - message.date > age


def strip_html(text: str) -> str:
    """Callback answers are plain text (and at most 200 characters)."""
    return re.sub(r"<[^>]+>", "", text)[:200]
