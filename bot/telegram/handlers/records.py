"""The person's records: /history with filters, a session opened from it, ✏️ Correct (/correct),
🗑 Delete, ↩ Count it, /stats by label, and a bare /focus's 🔁 again buttons."""

from __future__ import annotations

import html

from telegram import CallbackQuery, Update

from bot.core.records import RecordRefusal
from bot.core.timefmt import zone
from bot.telegram import texts
from bot.telegram.callbacks import (
    AgainButton,
    HistoryFilter,
    HistoryFilterButton,
    RecordAction,
    RecordButton,
)
from bot.telegram.context import FocusContext
from bot.telegram.handlers.common import command_args, edit, ids, reply
from bot.telegram.parsing import FocusRequest, ParseError, parse_correction, parse_history
from bot.telegram.sending import Markup
from nudges import limits as product
from storage import HistoryQuery, Outcome, Session

__all__ = [
    "again_button",
    "correct",
    "filter_button",
    "history",
    "record_button",
    "restore_button",
]

_KIND_OF_FILTER = {
    HistoryFilter.WEEK: "week",
    HistoryFilter.MONTH: "month",
    HistoryFilter.COMPLETED: "completed",
    HistoryFilter.EARLY: "early",
    HistoryFilter.LABEL: "label",
}


async def history(update: Update, context: FocusContext) -> None:
    """/history [week|month|completed|early|<label words>]: a page, each line opens."""
    assert update.effective_message is not None  # noqa: S101
    user_id, _ = ids(update)
    kind, words = parse_history(command_args(update.effective_message))
    if kind == "label":  # the words don't fit in a button: ◀ ▶ find them here
        context.bot_data.history_words[user_id] = words
    text, keyboard = await records_page(context, user_id, kind, words, 0)
    await reply(update, text, reply_markup=keyboard)


async def records_page(
    context: FocusContext, user_id: int, kind: str, words: tuple[str, ...], page: int
) -> tuple[str, Markup]:
    """One page of the person's (filtered) history with its buttons."""
    service = context.service
    since = await service.period_start(user_id, "week" if kind == "week" else "month")
    query = HistoryQuery(
        since=since if kind in ("week", "month") else None,
        label_words=words,
        outcome={"completed": Outcome.COMPLETED, "early": Outcome.ENDED_EARLY}.get(kind),
    )
    sessions, total = await service.find_history(user_id, query, page, product.HISTORY_PAGE_SIZE)
    tz = zone(await service.timezone_of(user_id))
    return (
        texts.records_page(sessions, page, total, tz, kind, words),
        texts.records_keyboard(user_id, sessions, page, total, kind),
    )


async def filter_button(
    query: CallbackQuery, context: FocusContext, data: HistoryFilterButton
) -> str:
    """◀ ▶ of a filtered /history."""
    kind = _KIND_OF_FILTER[data.kind]
    words = context.bot_data.history_words.get(data.owner, ()) if kind == "label" else ()
    if kind == "label" and not words:
        return "This button has expired — send /history again."
    text, keyboard = await records_page(context, data.owner, kind, words, data.page)
    await edit(query, text, keyboard)
    return ""


async def record_button(query: CallbackQuery, context: FocusContext, data: RecordButton) -> str:
    """Open, ✏️ Correct, 🗑 Delete (asks first), or the delete confirmed."""
    owner, session_id = data.owner, data.session_id
    if data.action is RecordAction.CONFIRM_DELETE:
        refused = await context.service.delete_record(owner, session_id)
        if refused is not None:
            return texts.RECORD_REFUSED[refused.value][:200]
        await edit(query, f"🗑 Deleted session #{session_id} and its log.")
        return "Deleted."
    opened = await context.service.open_record(owner, session_id)
    if isinstance(opened, RecordRefusal):
        return texts.RECORD_REFUSED[opened.value]
    session, events = opened
    if data.action is RecordAction.OPEN:
        tz = zone(await context.service.timezone_of(owner))
        await edit(
            query, texts.record_text(session, events, tz), texts.record_keyboard(owner, session)
        )
        return ""
    if session.running:
        return texts.RECORD_REFUSED["running"]
    if data.action is RecordAction.CORRECT:
        await edit(query, texts.correct_help(session), texts.record_keyboard(owner, session))
        return ""
    await edit(query, *texts.delete_record_confirm(owner, session))
    return ""


async def correct(update: Update, context: FocusContext) -> None:
    """/correct <session> focused N | label TEXT | score N: fix an ended session."""
    assert update.effective_message is not None  # noqa: S101
    user_id, _ = ids(update)
    try:
        session_id, correction = parse_correction(command_args(update.effective_message))
    except ParseError as error:
        await reply(update, f"{html.escape(str(error))}\n\n{html.escape(texts.CORRECT_USAGE)}")
        return
    result = await context.service.correct(user_id, session_id, correction)
    if isinstance(result, RecordRefusal):
        await reply(update, texts.RECORD_REFUSED[result.value])
        return
    await reply(update, texts.corrected(result))


async def restore_button(query: CallbackQuery, context: FocusContext, session: Session) -> str:
    """↩ Count it under a cancelled session's summary."""
    result = await context.service.restore(session.user_id, session.id)
    if isinstance(result, RecordRefusal):
        return texts.RECORD_REFUSED[result.value][:200]
    await edit(query, texts.restored_text(result))
    return "Counted."


async def again_button(
    query: CallbackQuery, context: FocusContext, data: AgainButton
) -> FocusRequest | str:
    """🔁 under a bare /focus: the label and length of that session, to start again."""
    opened = await context.service.open_record(data.owner, data.session_id)
    if isinstance(opened, RecordRefusal) or opened[0].label is None:
        return "That session is gone."
    session = opened[0]
    bound = product.FOCUS_MINUTES
    minutes = min(max(session.planned_minutes, bound.low), bound.high)
    return FocusRequest(minutes, session.label)
