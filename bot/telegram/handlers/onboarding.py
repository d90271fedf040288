"""Your time, from the start: the zone question (asked once by /start, the first /goal or
/remind) and its answers, a button or a typed reply; and /review, the weekly review's day and
time."""

from __future__ import annotations

import html

from telegram import CallbackQuery, Update
from telegram.constants import ChatType

from bot.core.timefmt import zone
from bot.core.zones import offset_from_local_time, offset_zone
from bot.telegram import texts
from bot.telegram.callbacks import ReviewButton, ZoneButton
from bot.telegram.context import FocusContext
from bot.telegram.handlers.common import command_args, edit, ids, reply
from bot.telegram.parsing import ParseError, parse_review, parse_zone_answer

__all__ = ["ask_zone_once", "review", "review_button", "zone_answer", "zone_button"]


async def ask_zone_once(update: Update, context: FocusContext) -> None:
    """After /start, /goal or /remind in a private chat: "What time is it for you now?" —
    once per person, and never when their zone is set."""
    message = update.effective_message
    if message is None or message.chat.type != ChatType.PRIVATE:
        return  # in a group the typed answer could not be told from the chat
    user_id, _ = ids(update)
    if await context.service.ask_zone(user_id):
        text, keyboard = texts.zone_question(user_id, context.service.clock.now())
        await reply(update, text, reply_markup=keyboard)


async def zone_button(query: CallbackQuery, context: FocusContext, data: ZoneButton) -> str:
    """A time tapped under the question (however late: it carries its offset)."""
    name = offset_zone(data.offset)
    routine = await context.service.set_zone(data.owner, name)
    await edit(query, texts.zone_set(name, context.service.clock.now(), routine))
    return "Timezone saved."


async def zone_answer(update: Update, context: FocusContext, text: str) -> bool:
    """A typed answer to the open question (a city, a zone, a time); False when the
    question is not open here or the text is none of those (it is read as usual then)."""
    message = update.effective_message
    if message is None or message.chat.type != ChatType.PRIVATE:
        return False
    user_id, _ = ids(update)
    answer = parse_zone_answer(text)
    if answer is None or not await context.service.zone_pending(user_id):
        return False
    now = context.service.clock.now()
    if answer.zone is not None:
        name = answer.zone
    else:
        assert answer.minute is not None  # noqa: S101 - one of the two, by construction
        name = offset_zone(offset_from_local_time(answer.minute, now))
    routine = await context.service.set_zone(user_id, name)
    await reply(update, texts.zone_set(name, now, routine))
    return True


async def review(update: Update, context: FocusContext) -> None:
    """/review [day] [time] | on | off: the weekly review's day and time (alone: the setting
    with buttons)."""
    assert update.effective_message is not None  # noqa: S101
    user_id, _ = ids(update)
    try:
        change = parse_review(command_args(update.effective_message))
    except ParseError as error:
        await reply(update, f"{html.escape(str(error))}\n\n{texts.REVIEW_USAGE}")
        return
    service = context.service
    if change is None:
        routine = await service.routine_of(user_id)
    elif not change.on:
        routine = await service.set_review(user_id, False)
    else:
        rule = (await service.routine_of(user_id)).review_rule
        weekday = rule.weekday if change.weekday is None else change.weekday
        minute = rule.minute if change.minute is None else change.minute
        routine = await service.set_review_time(user_id, weekday, minute)
    tz = zone(await service.timezone_of(user_id))
    await reply(
        update,
        texts.review_setting_text(routine, tz, changed=change is not None),
        reply_markup=texts.review_keyboard(routine),
    )


async def review_button(query: CallbackQuery, context: FocusContext, data: ReviewButton) -> str:
    """A day and time (or off) tapped under /review."""
    service, owner = context.service, data.owner
    if data.weekday is None:
        routine = await service.set_review(owner, False)
    else:
        routine = await service.set_review_time(owner, data.weekday, data.minute)
    tz = zone(await service.timezone_of(owner))
    await edit(
        query, texts.review_setting_text(routine, tz, changed=True), texts.review_keyboard(routine)
    )
    return "Saved."
