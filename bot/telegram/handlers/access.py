"""Who may reach the handlers at all (the gate, run first for every update), and the one error
handler that logs what nothing else caught."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import NoReturn

from telegram import Update
from telegram.error import NetworkError, TelegramError
from telegram.ext import ApplicationHandlerStop, CommandHandler

from bot.telegram import texts
from bot.telegram.context import FocusContext
from bot.telegram.handlers.common import (
    reply,
)
from bot.telegram.identity import is_shared_sender
from storage import StorageError, StorageFull

__all__ = ["SHARED_NOTICE_EVERY", "error_handler", "gatekeeper"]

log = logging.getLogger(__name__)


SHARED_NOTICE_EVERY = timedelta(hours=1)
"""How often a chat may be told that shared accounts can't use the bot (a channel posting
100 commands gets one answer)."""


async def gatekeeper(update: Update, context: FocusContext) -> None:
    """Runs first, for every update (group -1); raising ApplicationHandlerStop here keeps the
    update from every handler. In order:

    1. Only two kinds reach the handlers: a new message with a sender, and a button press.
       Edited messages (an edit of "/focus 3" must not start a session), channel posts,
       member updates, polls, kinds added to the Bot API later: one DEBUG line, no answer.
    2. Telegram's shared accounts (anonymous admins, channels: ``bot.telegram.identity``) get one
       line saying how to post as themselves; nothing is stored or read for them, so one group's
       anonymous admin never sees another's sessions (they are all one account to Telegram).
    3. Other bots: ignored. 4. Users outside FOCUS_ALLOWED_USERS: refused once per chat.
    """
    message, query = update.message, update.callback_query
    if query is not None:
        user = query.from_user
    elif message is not None and message.from_user is not None:
        user = message.from_user
    else:
        _ignore(update, "a kind of update not used" if message is None else "no sender")
    if is_shared_sender(user, message):
        await _answer_shared(update, context)
        raise ApplicationHandlerStop
    if user.is_bot:
        _ignore(update, "from a bot")
    allowed = context.bot_data.allowed_users
    if not allowed or user.id in allowed:
        return
    chat = update.effective_chat
    if update.callback_query is not None:
        await update.callback_query.answer("Sorry, this bot is private.")
    elif chat is not None and chat.id not in context.bot_data.refused_chats:
        context.bot_data.refused_chats.add(chat.id)
        await reply(update, "Sorry, this is a private focus bot; it only works for its owners.")
    raise ApplicationHandlerStop


def _ignore(update: Update, why: str) -> NoReturn:
    """Drop the update quietly: one DEBUG line with its kind (never its text)."""
    kinds = (str(kind) for kind in Update.ALL_TYPES if getattr(update, str(kind), None) is not None)
    kind = next(kinds, None) or next(iter(update.api_kwargs), "unknown")
    log.debug("ignored update %s (%s): %s", update.update_id, kind, why)
    raise ApplicationHandlerStop


async def _answer_shared(update: Update, context: FocusContext) -> None:
    """Tell a shared account how to post as themselves, without making the bot spammable: only
    a command of ours gets the line (plain text and automatic forwards never do), and each
    chat hears it at most once per SHARED_NOTICE_EVERY."""
    if update.callback_query is not None:  # Telegram sends presses as the presser; just in case
        await update.callback_query.answer(texts.SHARED_SENDER_SHORT)
        return
    message = update.message
    assert message is not None  # noqa: S101 - the gatekeeper only sends messages and presses
    ours = any(
        isinstance(handler, CommandHandler) and handler.check_update(update)
        for group in context.application.handlers.values()
        for handler in group
    )
    now, told = context.service.clock.now(), context.bot_data.shared_told
    last = told.get(message.chat_id)
    if (
        message.is_automatic_forward
        or not ours
        or (last is not None and now - last < SHARED_NOTICE_EVERY)
    ):
        log.debug("update %s from a shared account: not answered", update.update_id)
        return
    told[message.chat_id] = now
    await reply(update, texts.SHARED_SENDER)


async def error_handler(update: object, context: FocusContext) -> None:
    """Log every unhandled error first (never the user's text), then apologise."""
    update_id = update.update_id if isinstance(update, Update) else None
    if update is None and isinstance(context.error, NetworkError):
        # Polling lost the network for a moment; PTB retries by itself. One line, no trace.
        log.warning("polling: %s: %s", type(context.error).__name__, context.error)
        return
    if isinstance(context.error, StorageError):
        # A full disk or another program's lock: storage told the operator already (one line
        # a minute at most); the person gets an honest answer, not a trace in the log.
        text = texts.STORAGE_FULL if isinstance(context.error, StorageFull) else texts.STORAGE_BUSY
        log.debug("update %s: %s", update_id, context.error)
    else:
        log.error("unhandled error on update %s", update_id, exc_info=context.error)
        text = "Sorry — something went wrong on my side. Your sessions are safe; please try again."
    if isinstance(update, Update) and update.effective_chat is not None:
        try:
            await context.bot.send_message(update.effective_chat.id, text)
        except Exception:  # the apology is best effort; the error is already logged
            log.debug("could not send the apology", exc_info=True)


async def slow_down(update: object, allowed_users: frozenset[int]) -> None:
    """Once per burst, when someone's updates come faster than they can be answered and some
    were skipped (``bot.telegram.ordering``): say so. Not to people outside
    FOCUS_ALLOWED_USERS: they get their one refusal and nothing more."""
    if not isinstance(update, Update):
        return
    user = update.effective_user
    if allowed_users and (user is None or user.id not in allowed_users):
        return
    try:
        if update.callback_query is not None:
            await update.callback_query.answer(texts.SLOW_DOWN)
        else:
            await reply(update, texts.SLOW_DOWN)
    except TelegramError as error:  # best effort: the updates were skipped either way
        log.debug("slow-down answer not sent: %s", error)
