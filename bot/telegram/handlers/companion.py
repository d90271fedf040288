"""The companion's buttons: a check-in's 👍 / 😵 and its reason, the start energy, and the
recovery offer on a break message. Thin: the core records and re-plans, texts render."""

from __future__ import annotations

from telegram import CallbackQuery

from bot.core.timefmt import zone
from bot.telegram import texts
from bot.telegram.context import FocusContext
from bot.telegram.handlers.common import edit
from bot.telegram.handlers.session import end_session
from nudges.companion import Answer, Energy, Reason
from storage import Session

__all__ = ["checkin_button", "energy_button", "reason_button", "recovery_button"]

CHECKIN_GONE = "That check-in can't be answered any more."


def _message_id(query: CallbackQuery) -> int:
    return query.message.message_id if query.message is not None else 0


async def checkin_button(
    query: CallbackQuery, context: FocusContext, session: Session, *, on_track: bool
) -> str:
    """👍 On track or 😵 Distracted: the first answer counts; the message is rewritten from
    what is recorded, so a second press changes nothing."""
    given = Answer.ON_TRACK if on_track else Answer.DISTRACTED
    answer = await context.service.answer_checkin(session, _message_id(query), given)
    if answer is None:
        return CHECKIN_GONE
    await edit(query, *texts.checkin_answered(session, answer))
    return texts.checkin_answer_toast(answer)


async def reason_button(
    query: CallbackQuery, context: FocusContext, session: Session, reason: Reason
) -> str:
    """Why the person was distracted: stored with the answer, and a tip that fits."""
    answer = await context.service.set_reason(session, _message_id(query), reason)
    if answer is None:
        return CHECKIN_GONE
    await edit(query, *texts.checkin_answered(session, answer))
    return texts.reason_tip(reason)


async def energy_button(
    query: CallbackQuery, context: FocusContext, session: Session, energy: Energy
) -> str:
    """The start energy, editable until the first check-in; the card shows the choice."""
    if not await context.service.set_energy(session, energy):
        return texts.ENERGY_TOO_LATE
    fresh = await context.service.get(session.id)
    # Only the card itself shows the choice (forged data on another message edits nothing).
    if fresh is not None and fresh.card_message_id == _message_id(query):
        tz_name = await context.service.timezone_of(fresh.user_id)
        checkins = await context.service.has_checkins(fresh)
        card = texts.start_card(fresh, zone(tz_name), tz_name, checkins=checkins)
        await edit(query, card, texts.card_keyboard(fresh))
    return texts.energy_saved(energy)


async def recovery_button(
    query: CallbackQuery, context: FocusContext, session: Session, *, longer: bool
) -> str:
    """Accept the recovery a break message offers: the longer break, or ending here."""
    if not longer:
        ended = await end_session(context, session)
        await edit(query, texts.ended_on_a_break(session))
        return texts.ENDED_HERE if ended else "Already ended."
    taken = await context.service.accept_longer_break(session, _message_id(query))
    if taken is None:
        return texts.LONGER_BREAK_GONE
    changed, back_at = taken
    tz = zone(await context.service.timezone_of(session.user_id))
    await edit(query, texts.longer_break_taken(changed, back_at, tz))
    return texts.LONGER_BREAK_TAKEN
