"""Around the sessions: /goal, /remind, /quiet, and the buttons of reminders and of the
routine's settings."""

from __future__ import annotations

import html
from typing import assert_never

from telegram import CallbackQuery, Update
from telegram.constants import ChatType

from bot.core.timefmt import zone
from bot.telegram import texts
from bot.telegram.callbacks import (
    KeepRemindingButton,
    RemindButton,
    RoutineButton,
    RoutineSwitch,
)
from bot.telegram.context import FocusContext
from bot.telegram.handlers.common import command_args, edit, ids, reply
from bot.telegram.handlers.onboarding import ask_zone_once
from bot.telegram.handlers.session import start_session
from bot.telegram.parsing import FocusRequest, ParseError, parse_goal, parse_quiet, parse_remind

__all__ = ["RoutineAnswer", "goal", "quiet", "remind", "routine_button"]

RoutineAnswer = RemindButton | KeepRemindingButton | RoutineButton


async def goal(update: Update, context: FocusContext) -> None:
    """/goal 2h | 90m | 90 | off: the daily focus goal."""
    assert update.effective_message is not None  # noqa: S101
    user_id, _ = ids(update)
    try:
        minutes = parse_goal(command_args(update.effective_message))
    except ParseError as error:
        await reply(update, f"{html.escape(str(error))}\n\n{texts.GOAL_USAGE}")
        return
    await context.service.set_goal(user_id, minutes)
    await reply(update, texts.goal_set(minutes))
    if minutes is not None:  # "today" needs their day: the zone, asked once
        await ask_zone_once(update, context)


async def remind(update: Update, context: FocusContext) -> None:
    """/remind 09:30 | weekdays 09:30 | off: a reminder to start, at the local time."""
    assert update.effective_message is not None  # noqa: S101
    user_id, _ = ids(update)
    if update.effective_message.chat.type != ChatType.PRIVATE:
        await reply(update, texts.ROUTINE_PRIVATE_ONLY)
        return
    try:
        minute, weekdays = parse_remind(command_args(update.effective_message))
    except ParseError as error:
        await reply(update, f"{html.escape(str(error))}\n\n{texts.REMIND_USAGE}")
        return
    routine = await context.service.set_reminder(user_id, minute, weekdays=weekdays)
    tz_name = await context.service.timezone_of(user_id)
    now = context.service.clock.now()
    await reply(update, texts.remind_set(routine, zone(tz_name), texts.zone_shown(tz_name, now)))
    if minute is not None:  # at *their* 09:30: the zone, asked once (it follows the answer)
        await ask_zone_once(update, context)


async def quiet(update: Update, context: FocusContext) -> None:
    """/quiet 22:00-07:00 | off: no reminder and no review in that window."""
    assert update.effective_message is not None  # noqa: S101
    user_id, _ = ids(update)
    try:
        window = parse_quiet(command_args(update.effective_message))
    except ParseError as error:
        await reply(update, f"{html.escape(str(error))}\n\n{texts.QUIET_USAGE}")
        return
    routine = await context.service.set_quiet(user_id, window)
    await reply(update, texts.quiet_set(routine, await context.service.timezone_of(user_id)))


async def routine_button(query: CallbackQuery, context: FocusContext, data: RoutineAnswer) -> str:
    """A reminder's button, the keep-reminding question's, or a routine switch in /settings;
    returns the callback answer."""
    service, owner = context.service, data.owner
    match data:
        case RemindButton(minutes=minutes):
            await service.answer_reminder(owner)
            if minutes is None:
                await edit(query, "Okay — not today. 🌱")
                return "Not today."
            chat_id = query.message.chat.id if query.message is not None else owner
            await edit(query, f"⏰ Starting {minutes} minutes — good luck!")
            request = FocusRequest(minutes, None)
            started = await start_session(
                context, owner, chat_id, request, query.from_user.first_name
            )
            if started is not None:
                await service.reminder_started(owner, started.id)
            return "Started."
        case KeepRemindingButton(keep=keep):
            await service.keep_reminders(owner, keep)
            await edit(query, "Reminders stay on. ⏰" if keep else "Reminders are off.")
            return "Saved."
        case RoutineButton(switch=switch, on=on):
            await _switch(context, owner, switch, on=on)
        case _:
            assert_never(data)
    return "Saved."


async def _switch(context: FocusContext, owner: int, switch: RoutineSwitch, *, on: bool) -> None:
    service = context.service
    if switch is RoutineSwitch.REVIEW:
        await service.set_review(owner, on)
    elif switch is RoutineSwitch.QUIET_CHECKINS:
        await service.set_quiet_checkins(owner, on)
    elif switch is RoutineSwitch.QUIET_HOURS:
        await service.set_quiet(owner, None)
    else:
        routine = await service.routine_of(owner)
        await service.set_reminder(owner, None, weekdays=routine.remind_weekdays)
