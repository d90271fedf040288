"""Plain messages: a score reply (``4``), or a hint in a private chat."""

from __future__ import annotations

import html

from telegram import Update
from telegram.constants import ChatType

from bot.core.service import ScoreResult
from bot.telegram import texts
from bot.telegram.context import FocusContext
from bot.telegram.handlers.common import (
    ids,
    reply,
)
from bot.telegram.parsing import (
    parse_score,
)
from nudges import limits as product

__all__ = ["on_text"]


async def on_text(update: Update, context: FocusContext) -> None:
    """A plain message: a score reply (``4``), or a hint in a private chat."""
    message, chat = update.effective_message, update.effective_chat
    if message is None or chat is None or message.text is None:
        return
    number = parse_score(message.text)
    user_id, chat_id = ids(update)
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
        await reply(update, html.escape(texts.score_ack(number, previous, target.label)))
