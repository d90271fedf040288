"""Every inline button: checked for owner and state, then routed to what it says."""

from __future__ import annotations

from typing import assert_never

from telegram import CallbackQuery, Update

from bot.core.service import ScoreResult, SessionDefaults
from bot.telegram import texts
from bot.telegram.callbacks import (
    AccountButton,
    AgainButton,
    CardAction,
    CardButton,
    CheckinButton,
    DeleteButton,
    EnergyButton,
    HistoryButton,
    HistoryFilterButton,
    KeepRemindingButton,
    LengthButton,
    OfferButton,
    QuietButton,
    ReasonButton,
    RecordButton,
    RecoveryButton,
    RemindButton,
    RestoreButton,
    ReviewButton,
    RoutineButton,
    ScoreButton,
    SessionButton,
    SettingButton,
    ZoneButton,
    decode,
)
from bot.telegram.context import FocusContext
from bot.telegram.handlers.account import (
    SETTING_COLUMN,
    history_page,
)
from bot.telegram.handlers.common import (
    edit,
    older_than,
    strip_html,
)
from bot.telegram.handlers.companion import (
    checkin_button,
    energy_button,
    reason_button,
    recovery_button,
)
from bot.telegram.handlers.onboarding import review_button, zone_button
from bot.telegram.handlers.records import (
    again_button,
    filter_button,
    record_button,
    restore_button,
)
from bot.telegram.handlers.routine import routine_button
from bot.telegram.handlers.session import (
    end_session,
    pause_session,
    resume_session,
    start_session,
)
from nudges import limits as product
from storage import Session, User

__all__ = ["on_button"]


async def on_button(update: Update, context: FocusContext) -> None:
    """Every inline button: checked for owner and state, then routed."""
    query = update.callback_query
    assert query is not None  # noqa: S101 - registered for callback queries only
    data = decode(query.data)
    if data is None:
        await query.answer("This button has expired.")
        return
    if isinstance(data, AccountButton):
        if data.owner != query.from_user.id:
            await query.answer("That button belongs to someone else.")
            return
        await query.answer(await _account_button(query, context, data))
        return
    session = await context.service.get(data.session_id)
    if session is None:
        await query.answer("That session no longer exists.")
        return
    if session.user_id != query.from_user.id:
        await query.answer("That button belongs to someone else's session.")
        return
    answer = await _route_button(query, context, data, session)
    await query.answer(answer)


async def _account_button(query: CallbackQuery, context: FocusContext, data: AccountButton) -> str:
    """Settings steps, history pages and the delete confirmation; returns the answer."""
    user_id = data.owner
    setting: int | bool
    match data:
        case DeleteButton(confirm=confirm):
            return await _delete_button(query, context, user_id, confirm=confirm)
        case HistoryButton(page=page):
            text, keyboard = await history_page(context, user_id, page)
            await edit(query, text, keyboard)
            return ""
        case RecordButton():
            return await record_button(query, context, data)
        case HistoryFilterButton():
            return await filter_button(query, context, data)
        case AgainButton():
            request = await again_button(query, context, data)
            if isinstance(request, str):
                return request
            chat_id = query.message.chat.id if query.message else user_id
            await start_session(context, user_id, chat_id, request, query.from_user.first_name)
            return "Started."
        case QuietButton(quiet=quiet):
            column, setting = "quiet", quiet
        case SettingButton(setting=name, minutes=minutes):
            column, setting = SETTING_COLUMN[name.value], minutes
        case RemindButton() | KeepRemindingButton():
            return await routine_button(query, context, data)
        case RoutineButton():
            await routine_button(query, context, data)
            user, shape = await context.service.settings_of(user_id)
            return await _show_settings(query, context, user, shape)
        case ZoneButton():
            return await zone_button(query, context, data)
        case ReviewButton():
            return await review_button(query, context, data)
        case _:
            assert_never(data)
    user = await context.service.update_settings(user_id, **{column: setting})
    _, shape = await context.service.settings_of(user_id)
    return await _show_settings(query, context, user, shape)


async def _show_settings(
    query: CallbackQuery, context: FocusContext, user: User, shape: SessionDefaults
) -> str:
    now = context.service.clock.now()
    routine = await context.service.routine_of(user.id)
    await edit(
        query,
        texts.settings_text(user, shape, now, routine),
        texts.settings_keyboard(user, shape, routine),
    )
    return "Saved."


async def _delete_button(
    query: CallbackQuery, context: FocusContext, user_id: int, *, confirm: bool
) -> str:
    if older_than(query, context, product.DELETE_CONFIRM_WINDOW):
        await edit(query, "That confirmation expired — send /delete_me again.")
        return "Expired."
    if not confirm:
        await edit(query, "Kept. Nothing was deleted.")
        return "Nothing deleted."
    erased = await context.service.erase(user_id)
    await edit(query, texts.deleted(erased))
    return "Deleted."


async def _route_button(
    query: CallbackQuery, context: FocusContext, data: SessionButton, session: Session
) -> str:
    """Do what the button says; returns the short callback answer."""
    if isinstance(data, ScoreButton):
        return await _score_button(query, context, data.score, session)
    if isinstance(data, RestoreButton):
        return await restore_button(query, context, session)
    if not session.running:
        return "This session has already ended."
    match data:
        case CardButton(action=action):
            return await _card_button(context, session, action)
        case CheckinButton(on_track=on_track):
            return await checkin_button(query, context, session, on_track=on_track)
        case OfferButton(replace=replace):
            return await _offer_button(query, context, session, replace=replace)
        case EnergyButton(energy=energy):
            return await energy_button(query, context, session, energy)
        case ReasonButton(reason=reason):
            return await reason_button(query, context, session, reason)
        case RecoveryButton(longer=longer):
            return await recovery_button(query, context, session, longer=longer)
        case LengthButton(minutes=minutes):
            return await _length_button(context, session, minutes)
    assert_never(data)


async def _length_button(context: FocusContext, session: Session, minutes: int) -> str:
    """The start card's suggested length: the card follows (through the change port)."""
    if await context.service.replan(session, minutes) is None:
        return "Too late to change it now — /extend adds minutes."
    return f"Now {minutes} minutes."


async def _card_button(context: FocusContext, session: Session, action: CardAction) -> str:
    if action is CardAction.PAUSE:
        return strip_html(await pause_session(context, session))
    if action is CardAction.RESUME:
        return strip_html(await resume_session(context, session))
    return "Session ended." if await end_session(context, session) else "Already ended."


async def _score_button(
    query: CallbackQuery, context: FocusContext, score: int, session: Session
) -> str:
    if session.running:
        return "This session is still running."
    result, previous = await context.service.score(session.id, query.from_user.id, score)
    if result is ScoreResult.NOT_FOUND:
        return "That session is gone."
    if query.message is not None and query.message.message_id == session.card_message_id:
        await context.dispatcher.show_score_on_card(session.id)  # the card is the summary
    return texts.score_ack(score, previous, session.label)


async def _offer_button(
    query: CallbackQuery, context: FocusContext, session: Session, *, replace: bool
) -> str:
    key = (session.user_id, session.chat_id)
    request = context.bot_data.offers.pop(key, None)
    if not replace:
        await edit(query, "Keeping your current session. 👍")
        return "Keeping the current one."
    if request is None:
        await edit(query, "That offer expired — send /focus again.")
        return "Expired."
    await end_session(context, session)
    await edit(query, "Ended the previous session; starting the new one.")
    await start_session(
        context, session.user_id, session.chat_id, request, query.from_user.first_name
    )
    return "Started."
