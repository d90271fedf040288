"""Telegram handlers: parse, call the service, reply. No SQL, no clock, no business rules."""

from __future__ import annotations

import asyncio
import html
import logging
import re
from datetime import timedelta
from typing import NoReturn

from telegram import CallbackQuery, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatType, ParseMode
from telegram.error import BadRequest, NetworkError
from telegram.ext import ApplicationHandlerStop, CommandHandler

from bot.core.insights import Period
from bot.core.service import Extended, NotRunning, ScoreResult, TooLong
from bot.core.timefmt import clock_time, parse_zone, zone
from bot.telegram import texts
from bot.telegram.context import FocusContext
from bot.telegram.identity import is_shared_sender
from bot.telegram.parsing import (
    SETTING_RANGES,
    Callback,
    FocusRequest,
    ParseError,
    parse_callback,
    parse_extend,
    parse_focus,
    parse_score,
    parse_setting,
)
from bot.telegram.sending import Markup, edit_html, send_html
from storage import ActiveSessionExists, Session, StorageError, StorageFull

__all__ = [
    "delete_me",
    "error_handler",
    "export",
    "extend",
    "focus",
    "gatekeeper",
    "help_command",
    "history",
    "on_button",
    "on_text",
    "pause",
    "resume",
    "settings",
    "start",
    "stats",
    "status",
    "stop",
    "timezone",
    "unknown_command",
]

log = logging.getLogger(__name__)

NOTHING_RUNNING = "Nothing is running right now. Start with /focus 45 write the report."
_COMMAND = re.compile(r"^/\S*\s*(.*)$", re.DOTALL)


def _args(message: Message) -> str:
    """The raw text after the command word (labels keep their spacing and case)."""
    match = _COMMAND.match(message.text or "")
    return match.group(1) if match else ""


async def _reply(update: Update, text: str, reply_markup: Markup = None) -> None:
    """Answer in the chat (and forum topic) the update came from, as HTML; in a group, as a
    reply to the command, so everyone sees whose it answers (as PTB's reply_text does)."""
    message = update.effective_message
    if message is None:
        return
    topic = message.message_thread_id if message.is_topic_message else None
    quote = None if message.chat.type == ChatType.PRIVATE else message.message_id
    await send_html(
        message.get_bot(), message.chat_id, text, reply_markup, thread_id=topic, reply_to=quote
    )


def _ids(update: Update) -> tuple[int, int]:
    """(user id, chat id) of an update that has both (every command and button has)."""
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None:
        raise ValueError(f"update {update.update_id} has no user or chat")
    return user.id, chat.id


# --- access ----------------------------------------------------------------------------------


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
        await _reply(update, "Sorry, this is a private focus bot; it only works for its owners.")
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
    await _reply(update, texts.SHARED_SENDER)


# --- commands --------------------------------------------------------------------------------


async def start(update: Update, context: FocusContext) -> None:
    """/start: a short welcome; registers the user."""
    assert update.effective_user is not None  # noqa: S101 - commands come from a user
    await context.service.register(update.effective_user.id)
    await _reply(update, texts.welcome_text(update.effective_user.first_name))


async def help_command(update: Update, _context: FocusContext) -> None:
    """/help: every command, one line each."""
    await _reply(update, texts.help_text())


async def focus(update: Update, context: FocusContext) -> None:
    """/focus [duration] [label]: start a session, or offer to replace the running one."""
    assert update.effective_message is not None  # noqa: S101
    try:
        request = parse_focus(_args(update.effective_message))
    except ParseError as error:
        await _reply(update, texts.focus_usage(str(error)))
        return
    user_id, chat_id = _ids(update)
    assert update.effective_user is not None  # noqa: S101 - _ids checked it
    await _start_session(context, user_id, chat_id, request, update.effective_user.first_name)


async def _start_session(
    context: FocusContext, user_id: int, chat_id: int, request: FocusRequest, name: str
) -> None:
    """Start and show the card, or offer to replace the session that is running."""
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
        return
    tz_name = await context.service.timezone_of(user_id)
    card = texts.start_card(
        session,
        zone(tz_name),
        tz_name,
        checkins=await context.service.has_checkins(session, new=True),
        defaulted=request.minutes is None,
    )
    card_id = await send_html(context.bot, chat_id, card, texts.card_keyboard(session))
    await context.service.set_card(session.id, card_id)


async def _running(update: Update, context: FocusContext) -> Session | None:
    """The user's running session here, or None after telling them nothing runs."""
    user_id, chat_id = _ids(update)
    session = await context.service.active(user_id, chat_id)
    if session is None:
        await _reply(update, NOTHING_RUNNING)
    return session


async def pause(update: Update, context: FocusContext) -> None:
    """/pause: stop the clock and the nudges."""
    session = await _running(update, context)
    if session is not None:
        await _reply(update, await _pause(context, session))


async def resume(update: Update, context: FocusContext) -> None:
    """/resume: start the clock again."""
    session = await _running(update, context)
    if session is not None:
        await _reply(update, await _resume(context, session))


async def status(update: Update, context: FocusContext) -> None:
    """/status: time left, progress, nudges used, interruptions, next break."""
    user_id, chat_id = _ids(update)
    view = await context.service.status_in(user_id, chat_id)
    if view is None:
        await _reply(update, NOTHING_RUNNING)
        return
    tz = zone(await context.service.timezone_of(user_id))
    await _reply(update, texts.status_text(view, tz))


async def extend(update: Update, context: FocusContext) -> None:
    """/extend [minutes]: add 5–45 minutes (default 10), up to 180 in all."""
    assert update.effective_message is not None  # noqa: S101
    try:
        minutes = parse_extend(_args(update.effective_message))
    except ParseError as error:
        await _reply(update, f"{html.escape(str(error))} For example: /extend 15")
        return
    session = await _running(update, context)
    if session is None:
        return
    match await context.service.extend(session, minutes):
        case Extended(session=longer):
            tz = zone(await context.service.timezone_of(longer.user_id))
            await _reply(update, texts.extended(longer, minutes, tz))
        case TooLong(room=room):
            await _reply(update, texts.extend_refused(room))
        case NotRunning():
            await _reply(update, NOTHING_RUNNING)


async def stop(update: Update, context: FocusContext) -> None:
    """/stop and /end: end the session now; its summary follows."""
    session = await _running(update, context)
    if session is not None:
        await _end(context, session)


async def _end(context: FocusContext, session: Session) -> bool:
    """End it; the summary follows through the change port. False if it had already ended."""
    return await context.service.stop(session) is not None


async def _pause(context: FocusContext, session: Session) -> str:
    if session.paused_at is not None:
        return "Already paused — /resume when you're back."
    if await context.service.pause(session) is None:
        return NOTHING_RUNNING
    return texts.paused_text(context.service.limits.pause_limit_minutes)


async def _resume(context: FocusContext, session: Session) -> str:
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
    await _reply(update, "I don't know that command. /help lists what I can do.")


# --- settings and the user's data -------------------------------------------------------------

_SETTING_COLUMN = {"default": "default_minutes", "block": "block_minutes", "break": "break_minutes"}


async def settings(update: Update, context: FocusContext) -> None:
    """/settings [name value]: show the settings with buttons, or change one."""
    assert update.effective_message is not None  # noqa: S101
    user_id, _ = _ids(update)
    args = _args(update.effective_message)
    if args.strip():
        try:
            name, value = parse_setting(args)
        except ParseError as error:
            reason = html.escape(str(error))
            await _reply(update, f"{reason}\n\n/settings shows what you can change.")
            return
        await context.service.update_settings(user_id, **{_SETTING_COLUMN.get(name, name): value})
    await _show_settings(update, context, user_id)


async def _show_settings(update: Update, context: FocusContext, user_id: int) -> None:
    user, shape = await context.service.settings_of(user_id)
    now = context.service.clock.now()
    await _reply(
        update,
        texts.settings_text(user, shape, now),
        reply_markup=texts.settings_keyboard(user, shape),
    )


async def timezone(update: Update, context: FocusContext) -> None:
    """/timezone Europe/Berlin or /timezone +02:00."""
    assert update.effective_message is not None  # noqa: S101
    user_id, _ = _ids(update)
    name = parse_zone(_args(update.effective_message))
    if name is None:
        current = await context.service.timezone_of(user_id)
        typed = _args(update.effective_message).strip()
        unknown = f"I don't know the timezone “{html.escape(typed[:40])}”. " if typed else ""
        await _reply(update, f"{unknown}{texts.TIMEZONE_HELP}\nNow: {html.escape(current)}.")
        return
    await context.service.update_settings(user_id, timezone=name)
    await _reply(update, texts.timezone_set(name, context.service.clock.now()))


_PERIODS: dict[str, Period] = {
    "": "week",
    "today": "today",
    "day": "today",
    "week": "week",
    "month": "month",
    "all": "all",
}


async def stats(update: Update, context: FocusContext) -> None:
    """/stats [today|week|month|all]: the numbers, insights, and a chart when there is data."""
    assert update.effective_message is not None  # noqa: S101
    user_id, chat_id = _ids(update)
    period = _PERIODS.get(_args(update.effective_message).strip().lower())
    if period is None:
        await _reply(update, texts.STATS_USAGE)
        return
    numbers = await context.service.stats(user_id, period)
    await _reply(update, texts.stats_text(numbers))
    title = f"Focus {texts.PERIOD_TITLES[period]}"
    # matplotlib is imported on the first chart, not at start-up: it is 0.65 s of a
    # restart and 43 MiB of memory that only /stats needs (see BENCHMARKS.md, Recovery).
    from bot.telegram.charts import render_stats_chart

    chart = await asyncio.to_thread(render_stats_chart, numbers, title)  # CPU: off the loop
    if chart is not None:
        await context.bot.send_photo(chat_id, chart, filename=f"focus-{period}.png")


async def history(update: Update, context: FocusContext) -> None:
    """/history: the user's sessions, 10 a page, with ◀ ▶."""
    user_id, _ = _ids(update)
    text, keyboard = await _history_page(context, user_id, 0)
    await _reply(update, text, reply_markup=keyboard)


async def _history_page(
    context: FocusContext, user_id: int, page: int
) -> tuple[str, InlineKeyboardMarkup | None]:
    sessions, total = await context.service.history(user_id, page, texts.HISTORY_PAGE)
    tz = zone(await context.service.timezone_of(user_id))
    return texts.history_text(sessions, page, total, tz), texts.history_keyboard(
        user_id, page, total
    )


async def export(update: Update, context: FocusContext) -> None:
    """/export: the user's sessions as CSV, and with their events as JSON."""
    user_id, chat_id = _ids(update)
    files = await context.service.export(user_id)
    if files is None:
        await _reply(update, "There's nothing to export yet — no sessions stored for you.")
        return
    csv_bytes, json_bytes, count = files
    tz = zone(await context.service.timezone_of(user_id))
    stamp = context.service.clock.now().astimezone(tz).strftime("%Y%m%d")
    await context.bot.send_document(
        chat_id,
        csv_bytes,
        filename=f"focus-sessions-{stamp}.csv",
        caption=f"Your {count} session{'s' if count != 1 else ''} (CSV). "
        "The README describes the columns.",
    )
    await context.bot.send_document(
        chat_id,
        json_bytes,
        filename=f"focus-sessions-{stamp}.json",
        caption="The same sessions with their event logs (JSON).",
    )


async def delete_me(update: Update, _context: FocusContext) -> None:
    """/delete_me: ask for confirmation with buttons."""
    user_id, _ = _ids(update)
    text, keyboard = texts.delete_confirm(user_id)
    await _reply(update, text, reply_markup=keyboard)


# --- plain messages --------------------------------------------------------------------------


async def on_text(update: Update, context: FocusContext) -> None:
    """A plain message: a score reply (``4``), or a hint in a private chat."""
    message, chat = update.effective_message, update.effective_chat
    if message is None or chat is None or message.text is None:
        return
    number = parse_score(message.text)
    user_id, chat_id = _ids(update)
    target = await context.service.scorable(user_id, chat_id) if number is not None else None
    if number is None or target is None:
        if chat.type == ChatType.PRIVATE:
            await _reply(update, texts.text_hint(number is not None))
        return
    if not 1 <= number <= 5:
        await _reply(update, "Scores go from 1 (scattered) to 5 (deep focus) — which was it?")
        return
    result, previous = await context.service.score(target.id, user_id, number)
    if result is not ScoreResult.NOT_FOUND:
        await _reply(update, html.escape(texts.score_ack(number, previous, target.label)))


# --- buttons ---------------------------------------------------------------------------------


async def on_button(update: Update, context: FocusContext) -> None:
    """Every inline button: checked for owner and state, then routed."""
    query = update.callback_query
    assert query is not None  # noqa: S101 - registered for callback queries only
    data = parse_callback(query.data)
    if data is None:
        await query.answer("This button has expired.")
        return
    if data.action in ("set", "hist", "del"):
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


# Settings buttons: code -> (column, name in SETTING_RANGES).
_SETTING_BUTTON = {
    "d": ("default_minutes", "default"),
    "b": ("block_minutes", "block"),
    "k": ("break_minutes", "break"),
}


async def _account_button(query: CallbackQuery, context: FocusContext, data: Callback) -> str:
    """Settings steps, history pages and the delete confirmation; returns the answer."""
    user_id, code, value = data.owner, data.arg[:1], data.arg[1:]
    if data.action == "del":
        if _older_than(query, context, DELETE_CONFIRM_WINDOW):
            await _edit(query, "That confirmation expired — send /delete_me again.")
            return "Expired."
        if data.arg != "yes":
            await _edit(query, "Kept. Nothing was deleted.")
            return "Nothing deleted."
        erased = await context.service.erase(user_id)
        await _edit(query, texts.deleted(erased))
        return "Deleted."
    if not value.isdigit():
        return "This button has expired."
    if data.action == "hist":
        text, keyboard = await _history_page(context, user_id, int(value))
        await _edit(query, text, keyboard)
        return ""
    setting: int | bool
    if code == "q" and value in ("0", "1"):
        column, setting = "quiet", value == "1"
    elif code in _SETTING_BUTTON:
        column, name = _SETTING_BUTTON[code]
        low, high = SETTING_RANGES[name]
        if not low <= int(value) <= high:
            return "This button has expired."
        setting = int(value)
    else:
        return "This button has expired."
    user = await context.service.update_settings(user_id, **{column: setting})
    _, shape = await context.service.settings_of(user_id)
    now = context.service.clock.now()
    await _edit(query, texts.settings_text(user, shape, now), texts.settings_keyboard(user, shape))
    return "Saved."


async def _route_button(
    query: CallbackQuery, context: FocusContext, data: Callback, session: Session
) -> str:
    """Do what the button says; returns the short callback answer."""
    if data.action == "sc":
        return await _score_button(query, context, data, session)
    if not session.running:
        return "This session has already ended."
    if data.action == "p":
        return _strip_html(await _pause(context, session))
    if data.action == "r":
        return _strip_html(await _resume(context, session))
    if data.action == "e":
        return "Session ended." if await _end(context, session) else "Already ended."
    if data.action == "ci" and data.arg in ("ok", "dis"):
        return await _checkin_button(query, context, session, on_track=data.arg == "ok")
    if data.action in ("new", "keep"):
        return await _offer_button(query, context, session, replace=data.action == "new")
    return "This button has expired."


async def _checkin_button(
    query: CallbackQuery, context: FocusContext, session: Session, *, on_track: bool
) -> str:
    if not on_track:  # once per check-in, however often it is tapped
        message_id = query.message.message_id if query.message else 0
        await context.service.interruption(session, f"distracted:{message_id}")
    reply = texts.checkin_reply(on_track)
    message = query.message
    original = message.text_html if isinstance(message, Message) and message.text else ""
    await _edit(query, f"{original}\n\n<i>{reply}</i>")
    return reply


async def _score_button(
    query: CallbackQuery, context: FocusContext, data: Callback, session: Session
) -> str:
    if not data.arg.isdigit() or not 1 <= int(data.arg) <= 5:
        return "This button has expired."
    if session.running:
        return "This session is still running."
    result, previous = await context.service.score(session.id, query.from_user.id, int(data.arg))
    if result is ScoreResult.NOT_FOUND:
        return "That session is gone."
    return texts.score_ack(int(data.arg), previous, session.label)


async def _offer_button(
    query: CallbackQuery, context: FocusContext, session: Session, *, replace: bool
) -> str:
    key = (session.user_id, session.chat_id)
    request = context.bot_data.offers.pop(key, None)
    if not replace:
        await _edit(query, "Keeping your current session. 👍")
        return "Keeping the current one."
    if request is None:
        await _edit(query, "That offer expired — send /focus again.")
        return "Expired."
    await _end(context, session)
    await _edit(query, "Ended the previous session; starting the new one.")
    await _start_session(
        context, session.user_id, session.chat_id, request, query.from_user.first_name
    )
    return "Started."


async def _edit(
    query: CallbackQuery, text: str, keyboard: InlineKeyboardMarkup | None = None
) -> None:
    """Replace a button message's text (and its buttons: none unless given), best effort."""
    message = query.message  # a Message, or one too old to be sent along (chat and id only)
    try:
        if message is not None:
            await edit_html(query.get_bot(), message.chat.id, message.message_id, text, keyboard)
        else:  # a message sent inline: PTB edits it by its inline message id
            await query.edit_message_text(text, parse_mode=ParseMode.HTML, reply_markup=keyboard)
    except BadRequest as error:
        log.debug("button message not edited: %s", error)


DELETE_CONFIRM_WINDOW = timedelta(minutes=10)


def _older_than(query: CallbackQuery, context: FocusContext, age: timedelta) -> bool:
    """Whether the message a button sits on was sent more than ``age`` ago."""
    message = query.message
    if not isinstance(message, Message):
        return True
    return context.service.clock.now() - message.date > age


def _strip_html(text: str) -> str:
    """Callback answers are plain text (and at most 200 characters)."""
    return re.sub(r"<[^>]+>", "", text)[:200]


# --- errors ----------------------------------------------------------------------------------


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
