"""Plain messages: a score reply (``4``), a note (a reply to a summary), or a hint."""

from __future__ import annotations

import html

from telegram import Update
from telegram.constants import ChatType

from bot.core.service import NoteResult, ScoreResult
from bot.telegram import texts
from bot.telegram.context import FocusContext
from bot.telegram.handlers.common import (
    ids,
    reply,
    reply_id,
)
from bot.telegram.handlers.onboarding import zone_answer
from bot.telegram.parsing import (
    parse_score,
)
from nudges import limits as product

__all__ = ["on_text"]


async def on_text(update: Update, context: FocusContext) -> None:
    """A plain message: a score reply (``4``), a note, or a hint in a private chat."""
    message, chat = update.effective_message, update.effective_chat
    if message is None or chat is None or message.text is None:
        return
    number = parse_score(message.text)
    user_id, chat_id = ids(update)
    if number is None and await _note(update, context, message.text):
        return
    if number is None and await zone_answer(update, context, message.text):
        return  # "What time is it for you now?" answered by typing
    target = await context.service.scorable(user_id, chat_id) if number is not None else None
    if number is None or target is None:
        if chat.type == ChatType.PRIVATE:
            await reply(update, texts.text_hint(number is not None))
        return
    if number not in product.SCORE:
        await reply(update, texts.SCORE_OUT_OF_RANGE)
        return
    result, previous = await context.service.score(target.id, user_id, number)
    if result is not ScoreResult.NOT_FOUND:
        ack = html.escape(texts.score_ack(number, previous, target.label))
        ack_id = await reply_id(update, ack + texts.NOTE_INVITE)
        if ack_id is not None:  # a reply to the answer is a note too
            await context.service.remember_note_target(chat_id, ack_id, target.id)


async def _note(update: Update, context: FocusContext, text: str) -> bool:
    """A reply to a session's summary (or to a score's answer) keeps it as the note; False
    when the message is no such reply (or is someone else's, in a group: ignored)."""
    message = update.effective_message
    replied = message.reply_to_message if message is not None else None
    if replied is None:
        return False
    user_id, chat_id = ids(update)
    session = await context.service.note_target(chat_id, replied.message_id)
    if session is None or session.user_id != user_id:
        return False
    result = await context.service.save_note(session, user_id, text)
    if result is not NoteResult.NOT_FOUND:
        await reply(update, texts.note_ack(result, session))
    return result is not NoteResult.NOT_FOUND
