"""The person's own data: /settings, /timezone, /stats, /history, /export, /delete_me."""

from __future__ import annotations

import asyncio
import html

from telegram import Update

from bot.core.insights import Period, Stats
from bot.core.timefmt import parse_zone, zone
from bot.core.zones import city_zone
from bot.telegram import texts
from bot.telegram.context import FocusContext
from bot.telegram.handlers import records
from bot.telegram.handlers.common import (
    command_args,
    ids,
    reply,
)
from bot.telegram.parsing import (
    ParseError,
    parse_setting,
)
from bot.telegram.sending import Markup
from nudges import limits as product

__all__ = [
    "SETTING_COLUMN",
    "delete_me",
    "export",
    "history",
    "history_page",
    "settings",
    "show_settings",
    "stats",
    "timezone",
]


SETTING_COLUMN = {"default": "default_minutes", "block": "block_minutes", "break": "break_minutes"}


async def settings(update: Update, context: FocusContext) -> None:
    """/settings [name value]: show the settings with buttons, or change one."""
    assert update.effective_message is not None  # noqa: S101
    user_id, _ = ids(update)
    args = command_args(update.effective_message)
    if args.strip():
        try:
            name, value = parse_setting(args)
        except ParseError as error:
            reason = html.escape(str(error))
            await reply(update, f"{reason}\n\n/settings shows what you can change.")
            return
        await context.service.update_settings(user_id, **{SETTING_COLUMN.get(name, name): value})
    await show_settings(update, context, user_id)


async def show_settings(update: Update, context: FocusContext, user_id: int) -> None:
    user, shape = await context.service.settings_of(user_id)
    now = context.service.clock.now()
    routine = await context.service.routine_of(user_id)
    await reply(
        update,
        texts.settings_text(user, shape, now, routine),
        reply_markup=texts.settings_keyboard(user, shape, routine),
    )


async def timezone(update: Update, context: FocusContext) -> None:
    """/timezone Europe/Berlin or /timezone +02:00."""
    assert update.effective_message is not None  # noqa: S101
    user_id, _ = ids(update)
    typed = command_args(update.effective_message)
    name = parse_zone(typed) or city_zone(typed.strip())
    if name is None:
        current = await context.service.timezone_of(user_id)
        typed = command_args(update.effective_message).strip()
        unknown = f"I don't know the timezone “{html.escape(typed[:40])}”. " if typed else ""
        await reply(update, f"{unknown}{texts.TIMEZONE_HELP}\nNow: {html.escape(current)}.")
        return
    # Closes the zone question for good; reminders and the review follow the new zone.
    await context.service.set_zone(user_id, name)
    await reply(update, texts.timezone_set(name, context.service.clock.now()))


_PERIODS: dict[str, Period] = {
    "": "week",
    "today": "today",
    "day": "today",
    "week": "week",
    "month": "month",
    "all": "all",
}


async def stats(update: Update, context: FocusContext) -> None:
    """/stats [today|week|month|all] [label]: the numbers (narrowed to one label when given),
    the period's top labels, insights, and a chart when there is data."""
    assert update.effective_message is not None  # noqa: S101
    user_id, chat_id = ids(update)
    words = command_args(update.effective_message).split()
    period = _PERIODS.get(words[0].lower() if words else "")
    label = " ".join(words[1:] if period is not None else words)[: product.LABEL_MAX_CHARS]
    period = period or "week"
    goal: int | None = None  # a daily goal is over all sessions: no line on one label's chart
    if label:
        numbers = await context.service.label_stats(user_id, period, label)
        text = texts.label_stats_text(numbers, label)
    else:
        goal = (await context.service.routine_of(user_id)).goal_minutes
        numbers = await context.service.stats(user_id, period)
        companion = await context.service.companion_stats(user_id, period)
        top = await context.service.top_labels(user_id, period) if numbers.sessions else []
        text = texts.stats_text(numbers) + texts.companion_stats_text(companion)
        text += ("\n\n" + texts.label_lines(top)) if top else ""
    await reply(update, text)
    title = f"Focus {texts.PERIOD_TITLES[period]}" + (f" · {label[:40]}" if label else "")
    # No focus time, no chart (``charts.chart_panels``): nothing to hand over then.
    if numbers.focused_minutes > 0 and not context.send_files_later(
        update, user_id, lambda: _send_chart(context, chat_id, numbers, period, title, goal)
    ):
        await reply(update, texts.FILES_BUSY)


async def _send_chart(
    context: FocusContext,
    chat_id: int,
    numbers: Stats,
    period: Period,
    title: str,
    goal: int | None = None,
) -> None:
    """The /stats chart (with the daily goal's line, when one is set), rendered and sent in
    the background (``bot.telegram.bulk``)."""
    # matplotlib is imported on the first chart, not at start-up: it is 0.65 s of a
    # restart and 43 MiB of memory that only /stats needs (see BENCHMARKS.md, Recovery).
    from bot.telegram.charts import render_stats_chart

    chart = await asyncio.to_thread(render_stats_chart, numbers, title, goal)  # CPU: off the loop
    if chart is not None:
        await context.bot.send_photo(chat_id, chart, filename=f"focus-{period}.png")


async def history(update: Update, context: FocusContext) -> None:
    """/history [filter]: the user's sessions, a page at a time (``handlers.records``)."""
    await records.history(update, context)


async def history_page(context: FocusContext, user_id: int, page: int) -> tuple[str, Markup]:
    """A page of the unfiltered /history, each line with its open button."""
    return await records.records_page(context, user_id, "", (), page)


async def export(update: Update, context: FocusContext) -> None:
    """/export: the user's sessions as CSV, and with their events as JSON — built and sent in
    the background, so the files waiting for their turn hold no update slot."""
    user_id, _ = ids(update)
    if not context.send_files_later(update, user_id, lambda: _send_export(update, context)):
        await reply(update, texts.FILES_BUSY)


async def _send_export(update: Update, context: FocusContext) -> None:
    """The export's files, built and sent in the background (``bot.telegram.bulk``)."""
    user_id, chat_id = ids(update)
    files = await context.service.export(user_id)
    if files is None:
        await reply(update, "There's nothing to export yet — no sessions stored for you.")
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
    user_id, _ = ids(update)
    text, keyboard = texts.delete_confirm(user_id)
    await reply(update, text, reply_markup=keyboard)
