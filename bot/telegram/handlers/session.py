"""The session commands: /start, /help, /focus, /pause, /resume, /status, /extend, /stop."""

from __future__ import annotations

import html

from telegram import Update

from bot.core.service import Extended, NotRunning, TooLong
from bot.core.timefmt import clock_time, zone
from bot.telegram import texts
from bot.telegram.callbacks import ButtonData
from bot.telegram.context import FocusContext
from bot.telegram.handlers.common import (
    NOTHING_RUNNING,
    command_args,
    ids,
    reply,
)
from bot.telegram.handlers.onboarding import ask_zone_once
from bot.telegram.parsing import (
    FocusRequest,
    ParseError,
    parse_extend,
    parse_focus,
)
from bot.telegram.sending import send_html
from storage import ActiveSessionExists, Session

__all__ = [
    "end_session",
    "extend",
    "focus",
    "help_command",
    "pause",
    "pause_session",
    "resume",
    "resume_session",
    "running",
    "start",
    "start_session",
    "status",
    "stop",
    "unknown_command",
]


async def start(update: Update, context: FocusContext) -> None:
    """/start: a short welcome; registers the user."""
    assert update.effective_user is not None  # noqa: S101 - commands come from a user
    await context.service.register(update.effective_user.id)
    await reply(update, texts.welcome_text(update.effective_user.first_name))
    await ask_zone_once(update, context)  # "What time is it for you now?", once


async def help_command(update: Update, _context: FocusContext) -> None:
    """/help: every command, one line each."""
    await reply(update, texts.help_text())


async def focus(update: Update, context: FocusContext) -> None:
    """/focus [duration] [label]: start a session, or offer to replace the running one."""
    assert update.effective_message is not None  # noqa: S101
    try:
        request = parse_focus(command_args(update.effective_message))
    except ParseError as error:
        await reply(update, texts.focus_usage(str(error)))
        return
    user_id, chat_id = ids(update)
    assert update.effective_user is not None  # noqa: S101 - ids checked it
    await start_session(context, user_id, chat_id, request, update.effective_user.first_name)


async def start_session(
    context: FocusContext, user_id: int, chat_id: int, request: FocusRequest, name: str
) -> Session | None:
    """Start and show the card, or offer to replace the session that is running; the session
    started, if one was."""
    try:
        session = await context.service.start(
            user_id, chat_id, request.minutes, request.label, owner_name=name
        )
    except ActiveSessionExists as running:
        context.bot_data.offers[(user_id, chat_id)] = request
        current = await context.service.get(running.session_id)
        if current is not None:
            text, keyboard = texts.already_running(current)
            await send_html(context.bot, chat_id, text, keyboard)
        return None
    tz_name = await context.service.timezone_of(user_id)
    defaulted = request.minutes is None
    advice = await context.service.plan_advice(user_id)
    card = texts.start_card(
        session,
        zone(tz_name),
        tz_name,
        checkins=await context.service.has_checkins(session, new=True),
        defaulted=defaulted,
    ) + texts.plan_lines(session, advice, defaulted=defaulted)
    extra: list[list[tuple[str, ButtonData]]] = []
    if request.minutes is None and request.label is None:  # a bare /focus: 🔁 again
        recent = await context.service.recent_labels(user_id)
        paragraph, row = texts.again_offer(user_id, recent)
        if row:
            card, extra = f"{card}\n\n{paragraph}", [row]
    keyboard = texts.plan_keyboard(session, advice, *extra, defaulted=defaulted)
    card_id = await send_html(context.bot, chat_id, card, keyboard)
    await context.service.set_card(session.id, card_id)
    return session


async def running(update: Update, context: FocusContext) -> Session | None:
    """The user's running session here, or None after telling them nothing runs."""
    user_id, chat_id = ids(update)
    session = await context.service.active(user_id, chat_id)
    if session is None:
        await reply(update, NOTHING_RUNNING)
    return session


async def pause(update: Update, context: FocusContext) -> None:
    """/pause: stop the clock and the nudges."""
    session = await running(update, context)
    if session is not None:
        await reply(update, await pause_session(context, session))


async def resume(update: Update, context: FocusContext) -> None:
    """/resume: start the clock again."""
    session = await running(update, context)
    if session is not None:
        await reply(update, await resume_session(context, session))


async def status(update: Update, context: FocusContext) -> None:
    """/status: time left, progress, nudges used, interruptions, next break."""
    user_id, chat_id = ids(update)
    view = await context.service.status_in(user_id, chat_id)
    if view is None:
        await reply(update, NOTHING_RUNNING)
        return
    tz = zone(await context.service.timezone_of(user_id))
    goal = await context.service.goal_progress(user_id, running=view.focused)
    await reply(update, texts.status_text(view, tz, goal))


async def extend(update: Update, context: FocusContext) -> None:
    """/extend [minutes]: add focus to the running session (limits.EXTEND_MINUTES at a time,
    up to limits.MAX_TOTAL_MINUTES in all)."""
    assert update.effective_message is not None  # noqa: S101
    try:
        minutes = parse_extend(command_args(update.effective_message))
    except ParseError as error:
        await reply(update, f"{html.escape(str(error))} For example: /extend 15")
        return
    session = await running(update, context)
    if session is None:
        return
    match await context.service.extend(session, minutes):
        case Extended(session=longer):
            tz = zone(await context.service.timezone_of(longer.user_id))
            await reply(update, texts.extended(longer, minutes, tz))
        case TooLong(room=room):
            await reply(update, texts.extend_refused(room))
        case NotRunning():
            await reply(update, NOTHING_RUNNING)


async def stop(update: Update, context: FocusContext) -> None:
    """/stop and /end: end the session now; its summary follows."""
    session = await running(update, context)
    if session is not None:
        await end_session(context, session)


async def end_session(context: FocusContext, session: Session) -> bool:
    """End it; the summary follows through the change port. False if it had already ended."""
    return await context.service.stop(session) is not None


async def pause_session(context: FocusContext, session: Session) -> str:
    if session.paused_at is not None:
        return "Already paused — /resume when you're back."
    if await context.service.pause(session) is None:
        return NOTHING_RUNNING
    return texts.paused_text(context.service.limits.pause_limit_minutes)


async def resume_session(context: FocusContext, session: Session) -> str:
    if session.paused_at is None:
        return "Nothing is paused — your session is running. /pause to take a pause."
    resumed = await context.service.resume(session)
    if resumed is None:
        return NOTHING_RUNNING
    tz = zone(await context.service.timezone_of(resumed.user_id))
    assert resumed.planned_end_at is not None  # noqa: S101 - running again
    return f"▶ Back on the clock. New end: <b>{clock_time(resumed.planned_end_at, tz)}</b>."


async def unknown_command(update: Update, _context: FocusContext) -> None:
    """A command we don't have (private chats only: in groups it may be another bot's)."""
    await reply(update, "I don't know that command. /help lists what I can do.")
