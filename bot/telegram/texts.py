"""Everything the bot says, and its buttons. Messages are HTML; user text is always escaped."""

from __future__ import annotations

import html
import json
import zlib
from datetime import datetime, timedelta, tzinfo

from telegram import BotCommand

from bot.core.companion import CheckinAnswer, CompanionStats
from bot.core.insights import Stats
from bot.core.records import LabelFigures
from bot.core.routine import GoalProgress, ReminderDue
from bot.core.service import NoteResult, SessionDefaults, StatusView, SummaryView
from bot.core.timefmt import clock_time, minutes_text, zone
from bot.core.zones import guesses
from bot.telegram.callbacks import (
    AgainButton,
    ButtonData,
    CardAction,
    CardButton,
    CheckinButton,
    DeleteButton,
    EnergyButton,
    HistoryButton,
    HistoryFilter,
    HistoryFilterButton,
    KeepRemindingButton,
    LengthButton,
    OfferButton,
    QuietButton,
    ReasonButton,
    RecordAction,
    RecordButton,
    RecoveryButton,
    RemindButton,
    RestoreButton,
    ReviewButton,
    RoutineButton,
    RoutineSwitch,
    ScoreButton,
    Setting,
    SettingButton,
    ZoneButton,
    encode,
)
from bot.telegram.parsing import CORRECT_FORMS, FOCUS_FORMS, REVIEW_FORMS
from nudges import limits as product
from nudges.companion import Answer, Energy, Fatigue, Reason
from nudges.curve import GLYPHS, Stretch
from nudges.planning import PlanAdvice, far_above
from storage import Event, Outcome, Routine, Session, User

__all__ = [
    "COMMANDS",
    "already_running",
    "back_message",
    "bot_commands",
    "break_message",
    "buttons",
    "card_keyboard",
    "checkin_message",
    "checkin_reply",
    "extend_refused",
    "extended",
    "focus_usage",
    "help_text",
    "paused_text",
    "score_ack",
    "start_card",
    "status_text",
    "summary_message",
    "text_hint",
    "welcome_text",
]

COMMANDS: tuple[tuple[str, str], ...] = (
    ("focus", "Start a session: /focus 45 write the report"),
    ("status", "Time left, progress, nudges used"),
    ("pause", "Pause the running session"),
    ("resume", "Resume a paused session"),
    ("extend", "Add minutes: /extend 10"),
    ("stop", "End the session now (also /end)"),
    ("stats", "Your patterns: /stats today|week|month|all [label]"),
    ("history", "Your sessions: /history week|month|completed|early|<label>"),
    ("correct", "Fix a session: /correct 12 focused 30"),
    ("settings", "Timezone, session shape, quiet nudges"),
    ("timezone", "Set your timezone: /timezone Europe/Berlin"),
    ("export", "Download your data (CSV and JSON)"),
    ("delete_me", "Erase everything stored about you"),
    ("help", "Every command"),
)


def bot_commands() -> list[BotCommand]:
    """The command menu set with set_my_commands."""
    return [BotCommand(name, description) for name, description in COMMANDS]


# To Telegram's shared accounts (every anonymous admin is one account, so is every post "as a
# channel"): how to be told apart. The short one is a callback answer (200 characters at most).
SHARED_SENDER = (
    "Post as yourself to use me — anonymous admins and channels share one account in "
    "Telegram, so I can't keep your sessions apart.\n"
    "To post as yourself: turn off “Remain anonymous” in your admin rights, or pick your own "
    "account in the “Send as” menu next to the message box."
)
SHARED_SENDER_SHORT = "Press it as yourself: anonymous admins and channels share one account."


def who(session: Session) -> str:
    """In a group, whose session a message is about: a mention of its owner, then " · "."""
    if not session.in_group:
        return ""
    name = html.escape(session.owner_name or "your session")
    return f'<a href="tg://user?id={session.user_id}">{name}</a> · '


def _label(session: Session) -> str:
    return f" · <i>{html.escape(session.label)}</i>" if session.label else ""


def welcome_text(first_name: str) -> str:
    """The /start message."""
    return (
        f"Hi {html.escape(first_name)}! I keep you company while you focus.\n\n"
        "Tell me what you're working on and for how long — "
        "<code>/focus 45 write the report</code> — and I'll check in now and then, call your "
        "breaks, and when time is up send a short summary and ask how focused you were.\n\n"
        f"I never send more than one message every {product.MIN_GAP_MINUTES} minutes, "
        f"nor more than {product.MAX_MESSAGES} in a session.\n"
        "/help lists every command."
    )


def help_text() -> str:
    """The /help message: every command, one line each."""
    lines = [f"/{name} — {html.escape(description)}" for name, description in COMMANDS]
    return (
        "<b>Commands</b>\n"
        + "\n".join(lines)
        + "\n\n<b>Starting a session</b>\n"
        + html.escape(FOCUS_FORMS)
        + f"\n\nAfter a session, reply with a number {product.SCORE} (or press a button) to rate "
        "your focus."
    )


def focus_usage(reason: str) -> str:
    """The answer to a /focus we could not read."""
    return f"{html.escape(reason)}\n\nTry one of these:\n{html.escape(FOCUS_FORMS)}"


def buttons(*rows: list[tuple[str, ButtonData]]) -> str:
    """Rows of (label, what the button means) as the Bot API's ``reply_markup`` JSON; the
    meaning is written as callback data by the one codec, ``bot.telegram.callbacks``.

    Every keyboard of the bot is built here, in this one form, rather than as
    ``InlineKeyboardMarkup``: PTB's generic serialisation of those objects was a quarter of
    the cost of a proactive message (~0.25 ms, measured in BENCHMARKS.md), and one form means
    one path to test (``bot.telegram.sending`` sends it as it is).
    """
    keyboard = [
        [{"text": text, "callback_data": encode(data)} for text, data in row] for row in rows
    ]
    return json.dumps({"inline_keyboard": keyboard}, ensure_ascii=False)


def card_keyboard(session: Session, *extra: list[tuple[str, ButtonData]]) -> str:
    """⏸ Pause · ⏹ End (▶ Resume while paused), the optional start energy; ``extra`` rows
    below (a bare /focus's)."""
    if session.paused_at is not None:
        first = ("▶ Resume", CardButton(CardAction.RESUME, session.id))
    else:
        first = ("⏸ Pause", CardButton(CardAction.PAUSE, session.id))
    return buttons(
        [first, ("⏹ End", CardButton(CardAction.END, session.id))], energy_row(session), *extra
    )


def start_card(
    session: Session, tz: tzinfo, tz_name: str, *, checkins: bool, defaulted: bool = False
) -> str:
    """The session's card, as it stands: running (with its end), paused, or ended.

    ``defaulted``: the session was started without a length, so it has the user's default
    (theirs from /settings, or the operator's), and a tip says so.
    """
    head = f"{who(session)}<b>Focus: {session.planned_minutes} min</b>{_label(session)}"
    if not session.running:
        done = session.outcome is Outcome.COMPLETED
        mark = "✅ Done" if done else "⏹ Ended early"
        return f"{mark} · {head}\nFocused {round(session.focused_minutes())} min."
    if session.paused_at is not None or session.planned_end_at is None:
        return (
            f"⏸ {head}\nPaused at {clock_time(session.paused_at or session.started_at, tz)}"
            " — the end moves by the length of the pause. /resume to go on."
        )
    breaks = ""
    if session.block_minutes < session.planned_minutes:
        breaks = f" (with {session.break_minutes}-minute breaks)"
    end = clock_time(session.planned_end_at, tz)
    lines = [
        f"🎯 {head}",
        f"Ends at <b>{end}</b> {html.escape(tz_name)}{breaks}.",
        "I'll check in now and then. /status any time."
        if checkins
        else "I'll stay quiet until the end. /status any time.",
    ]
    if defaulted:
        lines.append(
            f"<i>Tip: {session.planned_minutes} minutes is your default — /focus 1h sets "
            "another length; /settings changes the default.</i>"
        )
    return "\n".join(lines)


def already_running(session: Session) -> tuple[str, str]:
    """A second /focus while one runs: end it and start the new one, or keep it."""
    text = f"{who(session)}A session is already running{_label(session)}. What should I do?"
    keyboard = buttons(
        [("End it and start the new one", OfferButton(session.id, replace=True))],
        [("Keep the current one", OfferButton(session.id, replace=False))],
    )
    return text, keyboard


def _bar(done: float, width: int = 12) -> str:
    filled = max(0, min(width, round(done * width)))
    return "▓" * filled + "░" * (width - filled)


def status_text(view: StatusView, tz: tzinfo, goal: GoalProgress | None = None) -> str:
    """The /status message (with today's progress against the daily goal, if one is set)."""
    s = view.session
    total = view.total.total_seconds() or 1
    done = 1 - view.left.total_seconds() / total
    if s.paused_at is not None:
        state = f"⏸ Paused since {clock_time(s.paused_at, tz)}"
    elif view.in_break_until is not None:
        state = f"☕ On a break until {clock_time(view.in_break_until, tz)}"
    else:
        state = "▶ Focusing"
    # Focus done and focus left add up to the plan (breaks excluded, each rounded its way);
    # the end is the whole of what is left, breaks included, and says so.
    lines = [
        f"{state}{_label(s)}",
        f"{_bar(done)} {round(done * 100)}%",
        f"Focus: <b>{minutes_text(view.focused)}</b> done · "
        f"<b>{minutes_text(view.focus_left, round_up=True)}</b> left of {s.planned_minutes} min",
    ]
    if s.paused_at is None and s.planned_end_at is not None:
        with_breaks = ""
        if view.breaks_ahead:
            n = view.breaks_ahead
            with_breaks = (
                f" (with a {s.break_minutes}-min break)"
                if n == 1
                else f" (with {n} breaks of {s.break_minutes} min)"
            )
        lines.append(
            f"Ends in {minutes_text(view.left, round_up=True)} · "
            f"{clock_time(s.planned_end_at, tz)}{with_breaks}"
        )
    else:
        lines.append("The end moves by the length of the pause.")
    if view.in_break_until is not None and view.break_ends_in is not None:
        back = minutes_text(view.break_ends_in, round_up=True)
        lines.append(f"Back to work in {back} · {clock_time(view.in_break_until, tz)}")
    elif view.next_break_at is not None and view.next_break_in is not None:
        soon = minutes_text(view.next_break_in, round_up=True)
        lines.append(f"Break in {soon} · {clock_time(view.next_break_at, tz)}")
    lines.append(
        f"Nudges: {view.messages_used}/{view.messages_max} · Interruptions: {s.interruptions}"
    )
    if goal is not None:
        lines.append(goal_line(goal))
    return "\n".join(lines)


_CHECKINS = (
    "How's it going?",
    "Quick check-in: still on it?",
    "Checking in — how's your focus?",
)


def checkin_message(session: Session, slot: str) -> tuple[str, str]:
    """A check-in nudge with 👍 On track · 😵 Distracted; the wording varies by slot."""
    line = _CHECKINS[zlib.crc32(f"{session.id}:{slot}".encode()) % len(_CHECKINS)]
    keyboard = buttons(
        [
            ("👍 On track", CheckinButton(session.id, on_track=True)),
            ("😵 Distracted", CheckinButton(session.id, on_track=False)),
        ]
    )
    return f"👀 {who(session)}{line}{_label(session)}", keyboard


def break_message(session: Session, until: datetime, tz: tzinfo) -> str:
    """Time for a break."""
    return (
        f"☕ {who(session)}<b>{session.break_minutes}-minute break.</b> Stand up, stretch, "
        f"look away from the screen. Back at {clock_time(until, tz)}."
    )


def back_message(session: Session) -> str:
    """The break is over."""
    return f"🔔 {who(session)}<b>Back to work</b>{_label(session)}. You've got this."


def checkin_reply(on_track: bool) -> str:
    """The answer to a check-in button."""
    if on_track:
        return "Great — keep going!"
    return "Happens to everyone. Take a breath, pick the next small step. 💪"


def summary_message(view: SummaryView, tz: tzinfo) -> tuple[str, str]:
    """The one summary of a session, with the 1–5 score buttons."""
    s = view.session
    if s.cancelled:
        return cancelled_summary(view)
    if s.outcome is Outcome.COMPLETED:
        head = "✅ <b>Session complete</b>"
    else:
        head = "⏹ <b>Session ended early</b>"
    lines = [f"{who(s)}{head}{_label(s)}"]
    if s.late_summary and s.ended_at is not None:
        lines.append(
            f"<i>(Sent late: I was offline when it ended at {clock_time(s.ended_at, tz)}.)</i>"
        )
    if view.pause_limit_minutes is not None:
        lines.append(
            f"<i>Ended by the pause limit: paused for {view.pause_limit_minutes:.0f} minutes, "
            "so I closed it. /focus when you're back.</i>"
        )
    breaks = f"Breaks: {s.breaks_taken}"
    if view.breaks_missed:
        n = view.breaks_missed
        breaks += (
            f" ({n} skipped: I was offline when {'it was' if n == 1 else 'they were'} due, "
            "and a break is never sent late)"
        )
    lines += [
        f"Focused <b>{view.focused_minutes} min</b> of {view.planned_minutes} planned",
        f"Interruptions: {s.interruptions} · {breaks}",
    ]
    if view.average_minutes is not None and view.average_minutes > 0:
        diff = (view.focused_minutes - view.average_minutes) / view.average_minutes
        of = f"{view.average_minutes:.0f} min, from {view.earlier_sessions} completed sessions"
        if abs(diff) < 0.05:
            lines.append(f"Right on your average ({of}).")
        else:
            word = "longer" if diff > 0 else "shorter"
            lines.append(f"{abs(diff):.0%} {word} than your average ({of}).")
    if view.friction:
        lines.append("Friction: " + _friction(view))
    if len(view.curve) > 1:
        lines += _curve(view)
    if view.insight:
        lines.append(f"✨ {html.escape(view.insight)}")
    if view.streak_days:
        days = "day" if view.streak_days == 1 else "days"
        lines.append(f"🔥 Streak: {view.streak_days} {days}")
    if view.flow_minutes:
        lines.append(f"🌊 In flow: {view.flow_minutes} min")
    if s.start_energy is not None:  # the start state, as the person tapped it on the card
        lines.append(f"Started {ENERGY_LABELS[s.start_energy]}")
    if view.goal is not None:
        lines.append(goal_line(view.goal))
        if view.goal.just_met:
            lines.append(GOAL_MET)
    lines.append(f"\nHow focused were you? Tap {product.SCORE} or reply with a number.")
    lines.append("<i>Reply with a few words to keep them as this session's note.</i>")
    scores = range(product.SCORE.low, product.SCORE.high + 1)
    keyboard = buttons([(str(n), ScoreButton(s.id, n)) for n in scores])
    return "\n".join(lines), keyboard


def paused_text(limit_minutes: float) -> str:
    """The answer to a pause."""
    return (
        "⏸ Paused — the clock and the nudges have stopped. /resume when you're back. "
        f"After {limit_minutes:.0f} minutes paused I'll end the session."
    )


def extended(session: Session, minutes: int, tz: tzinfo) -> str:
    """The answer to /extend."""
    end = (
        ""
        if session.planned_end_at is None
        else f" New end: <b>{clock_time(session.planned_end_at, tz)}</b>."
    )
    return f"➕ Added {minutes} min — {session.planned_minutes} min of focus in all.{end}"


def extend_refused(room: int) -> str:
    """/extend past the total's maximum (``room``: the minutes that may still be added)."""
    if room < product.EXTEND_MINUTES.low:
        return (
            f"This session is already at the {product.MAX_TOTAL_MINUTES}-minute maximum. "
            "Finish it and start another!"
        )
    return (
        f"A session can plan at most {product.MAX_TOTAL_MINUTES} minutes; "
        f"you can still add up to {room} min."
    )


def text_hint(was_number: bool) -> str:
    """A plain message in a private chat that is not a command or a score."""
    if was_number:
        return "I don't have a recent session to rate. Start one with /focus 45."
    return (
        "I'm your focus companion — /focus 45 write the report starts a session; "
        "/help lists everything."
    )


SCORE_OUT_OF_RANGE = (
    f"Scores go from {product.SCORE.low} (scattered) to {product.SCORE.high} (deep focus) — "
    "which was it?"
)

SLOW_DOWN = (
    "Messages are coming in faster than I can answer — I skipped some. "
    "Give me a moment, then send again whatever still needs an answer."
)
"""Sent once per burst when someone's backlog is full (``bot.telegram.ordering``); plain text, under
200 characters: it is also a callback answer."""

FILES_BUSY = "Your previous files are still on their way — send it again once they're here."
"""A second /export (or /stats chart) while the person's last files are still being sent."""


def score_ack(score: int, previous: int | None, label: str | None = None) -> str:
    """The answer to a score (plain text: it is also a callback answer)."""
    of = f" for “{label[:40]}”" if label else ""
    if previous is not None and previous != score:
        return f"Updated your focus score{of} from {previous} to {score}."
    if previous == score:
        return f"Your focus score{of} is still {score}."
    return f"Saved: focus {score}/{product.SCORE.high}{of}. Thanks!"


# --- settings, history, data -----------------------------------------------------------------

_CYCLES = {"default": (15, 25, 45, 60, 90), "block": (25, 30, 45, 50, 90), "break": (5, 10, 15)}


def _next_in(cycle: tuple[int, ...], current: int) -> int:
    return next((v for v in cycle if v > current), cycle[0])


def settings_text(
    user: User, shape: SessionDefaults, now: datetime, routine: Routine | None = None
) -> str:
    """The /settings message (with the goal, reminder, quiet hours and review, if given)."""
    tz = zone(user.timezone)
    nudges = "quiet — breaks and the summary only" if user.quiet else "normal — check-ins too"
    return (
        "⚙️ <b>Your settings</b>\n"
        f"Timezone: <b>{html.escape(zone_shown(user.timezone, now))}</b> "
        f"(your time now: {clock_time(now, tz)})\n"
        f"Default session: <b>{shape.minutes} min</b>\n"
        f"Focus block: <b>{shape.block_minutes} min</b> · Break: <b>{shape.break_minutes} min</b>\n"
        f"Nudges: <b>{nudges}</b>\n"
        + ("" if routine is None else routine_settings_text(routine) + "\n")
        + "\nTap to change, or type:\n"
        "/timezone Europe/Berlin (or /timezone +02:00)\n"
        "/settings default 45 · /settings block 30 · /settings break 10\n"
        "/settings nudges quiet (or normal)\n"
        "<i>Limits no setting can loosen: one message per "
        f"{product.MIN_GAP_MINUTES} minutes, {product.MAX_MESSAGES} per session.</i>"
    )


def settings_keyboard(user: User, shape: SessionDefaults, routine: Routine | None = None) -> str:
    """Buttons that step each setting to its next common value (and switch the routine's)."""
    default = _next_in(_CYCLES["default"], shape.minutes)
    block = _next_in(_CYCLES["block"], shape.block_minutes)
    pause = _next_in(_CYCLES["break"], shape.break_minutes)
    # Account buttons carry the owner's user id: in a group, only they can press them.
    owner = user.id
    quiet = "🔔 Nudges: normal" if user.quiet else "🔕 Nudges: quiet"
    return buttons(
        [(f"Default → {default} min", SettingButton(owner, Setting.DEFAULT, default))],
        [
            (f"Block → {block} min", SettingButton(owner, Setting.BLOCK, block)),
            (f"Break → {pause} min", SettingButton(owner, Setting.BREAK, pause)),
        ],
        [(quiet, QuietButton(owner, quiet=not user.quiet))],
        *([] if routine is None else routine_settings_rows(routine)),
    )


def timezone_set(name: str, now: datetime) -> str:
    """The answer to /timezone."""
    return (
        f"🌍 Timezone set to <b>{html.escape(name)}</b> — it's {clock_time(now, zone(name))} "
        "there. Times, days and streaks now follow it, past sessions included."
    )


TIMEZONE_HELP = (
    "Tell me your timezone as a name from the IANA list, like /timezone Europe/Berlin or "
    "/timezone America/New_York, or as an offset like /timezone +02:00."
)


def delete_confirm(user_id: int) -> tuple[str, str]:
    """The /delete_me question."""
    return (
        "⚠️ This erases <b>everything</b> I store about you: every session, its events, your "
        "scores and settings. A running session ends without a summary. It can't be undone — "
        "/export first if you want a copy.",
        buttons(
            [("Yes, delete everything", DeleteButton(user_id, confirm=True))],
            [("No, keep my data", DeleteButton(user_id, confirm=False))],
        ),
    )


def deleted(sessions: int) -> str:
    """After /delete_me."""
    noun = "session" if sessions == 1 else "sessions"
    return f"🗑 Done. I erased your data ({sessions} {noun}). /start any time to begin again."


# --- /stats ----------------------------------------------------------------------------------

PERIOD_TITLES = {
    "today": "today",
    "week": "this week",
    "month": "the last 30 days",
    "all": "all time",
}
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def stats_text(stats: Stats) -> str:
    """The /stats message: every metric of the period, in words."""
    title = PERIOD_TITLES[stats.period]
    if stats.sessions == 0:
        return (
            f"📊 No sessions {title} yet. Start one with /focus 25 — your numbers grow from there."
            + (
                f"\n🔥 Streak: {stats.current_streak} (best {stats.best_streak})"
                if stats.best_streak
                else ""
            )
        )
    lines = [f"📊 <b>Your focus — {title}</b>"]
    rate = f" ({stats.completion_rate:.0%})" if stats.completion_rate is not None else ""
    lines.append(f"Sessions: {stats.sessions} · completed {stats.completed}{rate}")
    focused = minutes_text(timedelta(minutes=stats.focused_minutes))
    average = stats.average_minutes or 0
    lines.append(f"Focused: <b>{focused}</b> · about {average:.0f} min a session")
    if stats.average_score is not None:
        unrated = f" ({stats.unscored} not rated)" if stats.unscored else ""
        lines.append(f"Focus score: {stats.average_score:.1f} average{unrated}")
    else:
        lines.append(f"Focus score: none rated yet — rate a session {product.SCORE} after it ends")
    if stats.average_interruptions is not None:
        lines.append(f"Interruptions: {stats.average_interruptions:.1f} per session")
    if stats.estimate_accuracy is not None:
        lines.append(f"You finish {stats.estimate_accuracy:.0%} of what you plan.")
    if stats.peak_hours:
        hours = ", ".join(f"{h:02d}:00" for h, _ in stats.peak_hours)
        lines.append(f"Peak hours: {hours}")
    if stats.peak_weekdays and stats.period in ("month", "all"):
        lines.append("Best days: " + ", ".join(_WEEKDAYS[d] for d, _ in stats.peak_weekdays))
    if stats.best_streak:  # "Streak: 0 days (best 0)" tells a new user nothing
        days = "day" if stats.current_streak == 1 else "days"
        lines.append(f"🔥 Streak: {stats.current_streak} {days} (best {stats.best_streak})")
    if stats.insights:
        lines.append("")
        lines += [f"💡 {html.escape(i)}" for i in stats.insights]
    elif stats.insights_needed:
        n = stats.insights_needed
        lines.append(
            f"\n💡 Rate {n} more session{'s' if n > 1 else ''} to unlock personal insights."
        )
    return "\n".join(lines)


STATS_USAGE = (
    "Choose a period: /stats today, /stats week (the default), /stats month or /stats all."
)


# --- when storage can't write (a full disk, another program's lock) ---------------------------

STORAGE_FULL = (
    "I can't save right now — the server's disk is full. Nothing was changed; "
    "try again in a few minutes."
)
STORAGE_BUSY = (
    "I can't save right now — another program on the server is holding my database. "
    "Nothing was changed; try again in a minute."
)


# --- the companion: start energy, answers, reasons and tips, flow, recovery -------------------

ENERGY_LABELS = {Energy.FRESH: "🔋 fresh", Energy.OK: "🙂 ok", Energy.TIRED: "🪫 tired"}
REASON_LABELS = {
    Reason.PHONE: "📱 phone",
    Reason.PEOPLE: "💬 people",
    Reason.WANDERING: "🧠 wandering",
    Reason.TIRED: "😴 tired",
    Reason.OTHER: "other",
}
REFOCUS_TIPS = {
    Reason.PHONE: "Put the phone face down, out of reach — or in another room until the break.",
    Reason.PEOPLE: "Tell them when you'll be free; headphones on is a good signal.",
    Reason.WANDERING: "Write the stray thought down to deal with later, then pick the next "
    "small step.",
    Reason.TIRED: "Stand up, drink some water, take three slow breaths. A longer break may "
    "help — I'll suggest one.",
    Reason.OTHER: "Name the very next small step and start just that.",
}
FLOW_UNTIL_BREAK = "You're in flow — I'll stay quiet until your break."
FLOW_UNTIL_END = "You're in flow — I'll stay quiet until the end."
ENERGY_TOO_LATE = "Your first check-in has come: the start is kept as it was."
REASON_QUESTION = "What pulled you away?"
FATIGUE_LINES = {
    Fatigue.TIRED_START: "You started tired.",
    Fatigue.TIRED_REASON: "You said you're tired.",
    Fatigue.DISTRACTIONS: "Focus was hard this block.",
    Fatigue.FALLING_SCORES: "Your last scores have been dropping.",
}


def energy_row(session: Session) -> list[tuple[str, ButtonData]]:
    """The start card's optional 🔋 fresh · 🙂 ok · 🪫 tired, the chosen one ticked."""
    return [
        (("✓ " if session.start_energy is energy else "") + label, EnergyButton(session.id, energy))
        for energy, label in ENERGY_LABELS.items()
    ]


def energy_saved(energy: Energy) -> str:
    """The answer to a start-energy button."""
    return f"Noted: {ENERGY_LABELS[energy]}."


def checkin_answered(session: Session, answer: CheckinAnswer) -> tuple[str, str | None]:
    """A check-in as it reads once answered: its own text and the answer under it, made from
    what is recorded — so pressing a button again gives the same message, never a longer one.
    A 😵 without a reason yet carries the reason buttons."""
    text, _ = checkin_message(session, answer.slot)
    if answer.answer is Answer.ON_TRACK:
        lines = [checkin_reply(on_track=True)]
        if answer.flow:
            lines.append(FLOW_UNTIL_BREAK if answer.break_ahead else FLOW_UNTIL_END)
        return text + "\n\n<i>" + html.escape(" ".join(lines)) + "</i>", None
    reply = f"{text}\n\n<i>{html.escape(checkin_reply(on_track=False))}</i>"
    if answer.reason is None:
        row: list[tuple[str, ButtonData]] = [
            (label, ReasonButton(session.id, r)) for r, label in REASON_LABELS.items()
        ]
        return f"{reply}\n{REASON_QUESTION}", buttons(row[:3], row[3:])
    tip = f"{REASON_LABELS[answer.reason]} — {REFOCUS_TIPS[answer.reason]}"
    return f"{reply}\n<i>{html.escape(tip)}</i>", None


def checkin_answer_toast(answer: CheckinAnswer) -> str:
    """The short callback answer to a check-in button (says flow once: it is this answer)."""
    if answer.answer is Answer.ON_TRACK and answer.flow:
        return FLOW_UNTIL_BREAK if answer.break_ahead else FLOW_UNTIL_END
    return checkin_reply(answer.answer is Answer.ON_TRACK)


def recovery_offer(session: Session, fatigue: Fatigue) -> tuple[str, str]:
    """What a break message adds when fatigue shows: a longer break, or ending here."""
    longer = session.break_minutes + product.RECOVERY_EXTRA_BREAK_MINUTES
    text = (
        f"\n{FATIGUE_LINES[fatigue]} How about a <b>{longer}-minute</b> break instead — or "
        "ending the session here?"
    )
    keyboard = buttons(
        [
            (f"☕ Take {longer} minutes", RecoveryButton(session.id, longer=True)),
            ("🏁 End here", RecoveryButton(session.id, longer=False)),
        ]
    )
    return text, keyboard


def longer_break_taken(session: Session, until: datetime, tz: tzinfo) -> str:
    """A break message once its longer break was accepted."""
    longer = session.break_minutes + product.RECOVERY_EXTRA_BREAK_MINUTES
    return (
        f"☕ {who(session)}<b>{longer}-minute break.</b> Rest well — back at "
        f"{clock_time(until, tz)}."
    )


ENDED_HERE = "Session ended — well done for listening to yourself."
LONGER_BREAK_TAKEN = "Longer break it is. I'll call you back."
LONGER_BREAK_GONE = "That break can't be changed any more."


def reason_tip(reason: Reason) -> str:
    """The callback answer to a reason button: its tip (plain text, within 200 characters)."""
    return REFOCUS_TIPS[reason][:200]


def ended_on_a_break(session: Session) -> str:
    """A break message whose "end here" was taken."""
    return f"☕ {who(session)}<b>Ended here</b>{_label(session)}. Rest well — the summary follows."


def companion_stats_text(stats: CompanionStats) -> str:
    """What /stats adds (after its own lines): minutes in flow, the 😵 reasons with their
    share, and the average score by start energy. Empty when there is none of it."""
    lines = []
    if stats.flow_minutes:
        lines.append(f"🌊 In flow: {minutes_text(timedelta(minutes=stats.flow_minutes))}")
    if stats.distracted:
        parts = [
            f"{REASON_LABELS[reason] if reason else 'no reason'} {n} ({n / stats.distracted:.0%})"
            for reason, n in stats.reasons
        ]
        lines.append(f"😵 Distracted {stats.distracted}×: " + ", ".join(parts))
    said = [(energy, n, average) for energy, n, average in stats.energies if energy is not None]
    if said:
        parts = [f"{ENERGY_LABELS[e]} {average:.1f} ({n})" for e, n, average in said]
        lines.append("Score by start energy: " + " · ".join(parts))
    return "".join("\n" + line for line in lines)


# --- notes -----------------------------------------------------------------------------------

_NOTE_SHOWN = 80
"""Characters of a note /history shows (the export has it whole)."""

NOTE_INVITE = "\n<i>Reply to this with a few words to keep them as the session's note.</i>"


def note_ack(result: NoteResult, session: Session) -> str:
    """The answer to a note (a reply to a summary or to a score's answer)."""
    of = f" for “{html.escape(session.label[:40])}”" if session.label else ""
    if result is NoteResult.TOO_LONG:
        return (
            f"That's longer than the {product.NOTE_MAX_CHARS} characters a note keeps — "
            "could you say it shorter?"
        )
    if result is NoteResult.REPLACED:
        return f"📝 Note{of} updated. /history shows it; /export has it whole."
    return f"📝 Note{of} saved. /history shows it; /export has it whole."


# --- planning from the person's own data -----------------------------------------------------


def plan_lines(session: Session, advice: PlanAdvice | None, *, defaulted: bool) -> str:
    """What the start card adds from the person's history (nudges.planning): after a /focus
    without a length, the rates of the lengths they plan most; for a session planned far
    above what they usually finish, one gentle line. Empty when their data says nothing."""
    if advice is None:
        return ""
    lines = []
    if defaulted and advice.rates:
        rates = [f"{r.rate:.0%} of {r.minutes}-minute sessions" for r in advice.rates]
        if len(rates) > 1:
            rates[-1] = rates[-1].replace(" sessions", " ones")
        lines.append("📈 You finish " + ", ".join(rates) + ".")
    if far_above(session.planned_minutes, advice):
        lines.append(
            f"🌱 That's well above the {advice.usual} minutes you usually finish — fine to "
            "try; /stop any time keeps what you did."
        )
    return "".join(f"\n{line}" for line in lines)


def plan_keyboard(
    session: Session,
    advice: PlanAdvice | None,
    *extra: list[tuple[str, ButtonData]],
    defaulted: bool,
) -> str:
    """The card's buttons, with the length the person finishes most reliably offered first
    (only after a /focus without a length, and when it is not the length already planned);
    ``extra`` rows below (a bare /focus's 🔁 again)."""
    if (
        not defaulted
        or advice is None
        or advice.reliable is None
        or advice.reliable == session.planned_minutes
    ):
        return card_keyboard(session, *extra)
    offer = (f"⏱ Make it {advice.reliable} min", LengthButton(session.id, advice.reliable))
    pause = ("⏸ Pause", CardButton(CardAction.PAUSE, session.id))
    return buttons(
        [offer],
        [pause, ("⏹ End", CardButton(CardAction.END, session.id))],
        energy_row(session),
        *extra,
    )


# --- the summary's story: friction points and the focus curve (nudges.curve) ----------------

_FRICTION_WORDS = {Stretch.PAUSED: "paused", Stretch.DISTRACTED: "distracted"}


def _friction(view: SummaryView) -> str:
    """ "18′ distracted · 31′ paused 6 min": where the session's focus was lost."""
    points = []
    for point in view.friction[: product.FRICTION_SHOWN]:
        what = f"{point.minute}′ {_FRICTION_WORDS.get(point.kind, point.kind.value)}"
        if point.length is not None:
            what += f" {minutes_text(point.length)}"
        points.append(what)
    more = len(view.friction) - product.FRICTION_SHOWN
    return " · ".join(points) + (f" · and {more} more" if more > 0 else "")


def _curve(view: SummaryView) -> list[str]:
    """The focus curve, a glyph per 5 minutes, an hour a line, with the legend of what
    appears in it (a state added in nudges.curve needs only its glyph there)."""
    glyphs = "".join(GLYPHS.get(state, "?") for state in view.curve)
    per = product.CURVE_GLYPHS_PER_LINE
    rows = [glyphs[i : i + per] for i in range(0, len(glyphs), per)]
    seen = [state for state in Stretch if state in view.curve]
    legend = " ".join(f"{GLYPHS[state]} {state.value}" for state in seen)
    return [
        f"Focus curve ({product.CURVE_STRETCH_MINUTES} min a mark):",
        *(f"<code>{row}</code>" for row in rows),
        f"<i>{legend}</i>",
    ]


# --- records you control (issue 13) ----------------------------------------------------------

_RECORD_EVENTS = {
    "started": "started",
    "paused": "⏸ paused",
    "resumed": "▶ resumed",
    "interruption": "😵 interruption",
    "extended": "extended",
    "break": "☕ break",
    "back": "back to work",
    "nudge": "check-in",
    "skipped": "a message skipped",
    "ended": "ended",
    "summary": "summary",
    "score": "⭐ scored",
    "edit": "✏️ corrected",
    "cancelled": "🚫 cancelled (under a few minutes)",
    "restored": "↩ counted again",
}
_RECORD_EVENTS_SHOWN = 12


def cancelled_summary(view: SummaryView) -> tuple[str, str]:
    """The short summary of a stray session, with its undo."""
    s = view.session
    text = (
        f"{who(s)}🚫 <b>Session cancelled</b>{_label(s)}\n"
        # floored, not rounded: 1.6 minutes must not read "2" under "under 2 minutes"
        f"Under {product.STRAY_SESSION_MINUTES} minutes of focus ({int(s.focused_minutes())} of "
        f"{view.planned_minutes} planned), so I left it out of your numbers. Started by "
        "mistake? Nothing to do. Otherwise tap ↩ Count it (until your next session starts)."
    )
    return text, buttons([("↩ Count it", RestoreButton(s.id))])


def restored_text(session: Session) -> str:
    """After ↩ Count it."""
    return f"↩ Counted{_label(session)} — it's in your numbers again. /history shows it."


def _outcome_word(s: Session) -> str:
    if s.running:
        return "▶ running"
    if s.cancelled:
        return "🚫 cancelled"
    return "✅ completed" if s.outcome is Outcome.COMPLETED else "⏹ ended early"


def record_text(session: Session, events: list[Event], tz: tzinfo) -> str:
    """One session opened from /history: times, minutes, outcome, score, label, its log."""
    s = session
    local = s.started_at.astimezone(tz)
    ended = f"–{clock_time(s.ended_at, tz)}" if s.ended_at else ""
    score = f"⭐{s.score}" if s.score is not None else "not rated"
    lines = [
        f"🗂 <b>Session #{s.id}</b>{_label(s)}",
        f"{local.strftime('%a %d %b %Y')}, {clock_time(s.started_at, tz)}{ended}",
        f"Focused {round(s.focused_minutes())} of {s.planned_minutes} min planned · "
        f"{_outcome_word(s)}",
        f"Interruptions: {s.interruptions} · Breaks: {s.breaks_taken} · {score}",
    ]
    if s.note:
        lines.append(f"📝 <i>{html.escape(s.note)}</i>")
    shown = events[-_RECORD_EVENTS_SHOWN:]
    log = [
        f"{clock_time(e.at, tz)} {_RECORD_EVENTS.get(e.kind, e.kind)}"
        + (f" ({html.escape(e.detail)})" if e.kind == "edit" and e.detail else "")
        for e in shown
        if e.kind in _RECORD_EVENTS
    ]
    if log:
        more = f" (last {len(shown)} of {len(events)})" if len(events) > len(shown) else ""
        lines += ["", f"<b>Log</b>{more}", *log]
    if s.running:
        lines.append("\n<i>Running: correct or delete it once it has ended.</i>")
    return "\n".join(lines)


def record_keyboard(owner: int, session: Session) -> str | None:
    """✏️ Correct · 🗑 Delete under an ended session's record (none while it runs)."""
    if session.running:
        return None
    return buttons(
        [
            ("✏️ Correct", RecordButton(owner, session.id, RecordAction.CORRECT)),
            ("🗑 Delete", RecordButton(owner, session.id, RecordAction.DELETE)),
        ]
    )


def correct_help(session: Session) -> str:
    """What ✏️ Correct shows: the /correct forms for this session."""
    forms = CORRECT_FORMS.replace("/correct 12", f"/correct {session.id}")
    return (
        f"✏️ <b>Correct session #{session.id}</b>{_label(session)}\n"
        "Fix what I could not know — send one of:\n"
        f"{html.escape(forms)}\n"
        "<i>Totals, streaks and insights follow; the change is kept in its log.</i>"
    )


CORRECT_USAGE = "Correct a session you have ended (its number is in /history):\n" + CORRECT_FORMS


def corrected(session: Session) -> str:
    """After a /correct that changed something."""
    return f"✏️ Saved. Session #{session.id}{_label(session)}: " + (
        f"focused {round(session.focused_minutes())} of {session.planned_minutes} min, "
        f"{_outcome_word(session)}"
        + (f", ⭐{session.score}" if session.score is not None else "")
        + "."
    )


def delete_record_confirm(owner: int, session: Session) -> tuple[str, str]:
    """🗑 Delete's question."""
    return (
        f"🗑 Delete session #{session.id}{_label(session)} and its log? It can't be undone.",
        buttons(
            [
                ("Yes, delete it", RecordButton(owner, session.id, RecordAction.CONFIRM_DELETE)),
                ("No, keep it", RecordButton(owner, session.id, RecordAction.OPEN)),
            ]
        ),
    )


RECORD_REFUSED = {
    "not_found": "I can't find that session among yours.",
    "running": "That session is still running — /stop it first.",
    "unchanged": "Nothing to change: that's what it says already.",
    "too_late": "Too late to count it: a newer session has started. /correct can fix it.",
}

_FILTER_TITLES = {
    "": "Your sessions",
    "week": "Your sessions this week",
    "month": "Your sessions, last 30 days",
    "completed": "Your completed sessions",
    "early": "Your sessions ended early",
    "label": "Your sessions labelled",
}


def records_page(
    sessions: list[Session], page: int, total: int, tz: tzinfo, kind: str, words: tuple[str, ...]
) -> str:
    """A page of /history (filtered or not), each line with its session's number (#12), the
    label of its open button."""
    if total == 0:
        if kind:
            return "No sessions match. /history shows them all."
        return "No sessions yet. Start one with /focus 45 write the report."
    pages = (total + product.HISTORY_PAGE_SIZE - 1) // product.HISTORY_PAGE_SIZE
    title = _FILTER_TITLES[kind] + (f" “{html.escape(' '.join(words))}”" if words else "")
    lines = [f"🗂 <b>{title}</b> (page {page + 1} of {pages}, {total} in all)"]
    for s in sessions:
        when = s.started_at.astimezone(tz).strftime("%a %d %b %H:%M")
        if s.running:
            outcome = "▶ running"
        elif s.cancelled:
            outcome = "🚫 cancelled"
        elif s.outcome is Outcome.COMPLETED:
            outcome = "✅"
        else:
            outcome = "⏹ early"
        focused = f"{round(s.focused_minutes())}/{s.planned_minutes} min"
        score = f" · ⭐{s.score}" if s.score is not None else ""
        label = f" · {html.escape(s.label[:60])}" if s.label else ""
        # The session's own number, as /correct and /delete take it (a position on the page
        # would name another session as soon as a new one starts).
        lines.append(f"<b>#{s.id}</b> {when}{label} · {focused} · {outcome}{score}")
        if s.note:
            cut = "…" if len(s.note) > _NOTE_SHOWN else ""
            lines.append(f"   📝 <i>{html.escape(s.note[:_NOTE_SHOWN])}{cut}</i>")
    lines.append("\n<i>Tap a number to open that session (/correct and /delete take it too).</i>")
    return "\n".join(lines)


_FILTER_OF_KIND = {
    "week": HistoryFilter.WEEK,
    "month": HistoryFilter.MONTH,
    "completed": HistoryFilter.COMPLETED,
    "early": HistoryFilter.EARLY,
    "label": HistoryFilter.LABEL,
}


def records_keyboard(
    owner: int, sessions: list[Session], page: int, total: int, kind: str
) -> str | None:
    """A button per line (#12, 5 a row) that opens it, then ◀ ▶ where there is a page."""
    opens: list[tuple[str, ButtonData]] = [
        (f"#{s.id}", RecordButton(owner, s.id, RecordAction.OPEN)) for s in sessions
    ]
    rows = [opens[i : i + 5] for i in range(0, len(opens), 5)]
    turn: list[tuple[str, ButtonData]] = []
    size = product.HISTORY_PAGE_SIZE

    def to(target: int) -> ButtonData:
        if not kind:
            return HistoryButton(owner, target)
        return HistoryFilterButton(owner, _FILTER_OF_KIND[kind], target)

    if page > 0:
        turn.append(("◀ Newer", to(page - 1)))
    if (page + 1) * size < total:
        turn.append(("Older ▶", to(page + 1)))
    if turn:
        rows.append(turn)
    return buttons(*rows) if rows else None


def _hours_minutes(minutes: float) -> str:
    whole = round(minutes)
    return f"{whole // 60} h {whole % 60:02d}" if whole >= 60 else f"{whole} min"


def label_lines(figures: list[LabelFigures]) -> str:
    """/stats' paragraph of top labels: "report · 5 sessions · 3 h 10 · 80% · ⭐4.2"."""
    if not figures:
        return ""
    lines = ["🏷 <b>Top labels</b>"]
    for f in figures:
        noun = "session" if f.sessions == 1 else "sessions"
        score = f" · ⭐{f.average_score:.1f}" if f.average_score is not None else ""
        lines.append(
            f"{html.escape(f.label[:60])} · {f.sessions} {noun} · "
            f"{_hours_minutes(f.focused_minutes)} · {f.completion_rate:.0%}{score}"
        )
    return "\n".join(lines)


def again_offer(
    owner: int, recent: list[tuple[str, int, int]]
) -> tuple[str, list[tuple[str, ButtonData]]]:
    """A bare /focus's own paragraph and button row: start one of the latest labels again.

    ``recent``: (label, minutes, a session id with that label and length), newest first.
    """
    if not recent:
        return "", []
    row: list[tuple[str, ButtonData]] = [
        (f"🔁 {label[:24]} · {minutes} min", AgainButton(owner, session_id))
        for label, minutes, session_id in recent
    ]  # their own row, under ⏸ ⏹: other rows of the card stay as they are
    return "🔁 Again? Tap one of your latest to start it with its last length.", row


def label_stats_text(stats: Stats, label: str) -> str:
    """/stats <label>: every figure, narrowed to one label."""
    shown = html.escape(" ".join(label.split())[:60])
    if stats.sessions == 0:
        return (
            f"📊 No sessions labelled “{shown}” {PERIOD_TITLES[stats.period]} (labels count as "
            f"one whatever their case or spacing).\n{STATS_USAGE} Add a label to narrow it."
        )
    text = stats_text(stats)
    return text.replace("</b>", f" · “{shown}”</b>", 1)


# --- around the sessions: the daily goal, reminders, quiet hours, the weekly review ---------
#
# (Appended as one block; the summary, /status and /settings call into it.)

ROUTINE_COMMANDS: tuple[tuple[str, str], ...] = (
    ("goal", "A daily focus goal: /goal 2h (or off)"),
    ("remind", "A reminder to start: /remind 09:30 (weekdays, off)"),
    ("quiet", "Quiet hours: /quiet 22:00-07:00 (or off)"),
)
COMMANDS = COMMANDS[:-1] + ROUTINE_COMMANDS + COMMANDS[-1:]  # /help stays last


def hhmm(minute: int) -> str:
    """A minute of the day as ``09:30``."""
    return f"{minute // 60:02d}:{minute % 60:02d}"


def goal_line(progress: GoalProgress) -> str:
    """``🎯 Today: 1 h 20 min of your 2 h goal`` (✅ once met)."""
    done = minutes_text(timedelta(minutes=progress.done_minutes))
    goal = minutes_text(timedelta(minutes=progress.goal_minutes))
    mark = "✅" if progress.met else "🎯"
    return f"{mark} Today: {done} of your {goal} goal"


GOAL_MET = "🎉 Daily goal reached — well done!"

GOAL_USAGE = (
    "Set a daily focus goal: /goal 2h, /goal 90m or /goal 90 — "
    f"{product.GOAL_MINUTES.low} minutes to {product.GOAL_MINUTES.high // 60} hours. "
    "/goal off removes it."
)


def goal_set(minutes: int | None) -> str:
    """The answer to /goal."""
    if minutes is None:
        return "Daily goal removed."
    goal = minutes_text(timedelta(minutes=minutes))
    return f"🎯 Daily goal: <b>{goal}</b> of focus. /status and each summary show how far you are."


REMIND_USAGE = (
    "A reminder to start, at your local time: /remind 09:30, /remind weekdays 09:30, "
    "or /remind off."
)
ROUTINE_PRIVATE_ONLY = "Reminders and quiet hours live in our private chat — send it to me there."
QUIET_USAGE = "Quiet hours, at your local time: /quiet 22:00-07:00, or /quiet off."


def remind_set(routine: Routine, tz: tzinfo, tz_name: str) -> str:
    """The answer to /remind."""
    if routine.remind_minute is None:
        return "Reminders are off."
    days = "on weekdays" if routine.remind_weekdays else "every day"
    line = (
        f"⏰ I'll remind you at <b>{hhmm(routine.remind_minute)}</b> {html.escape(tz_name)} {days}"
    )
    if routine.next_remind_at is None:
        return f"{line} — but that time is inside your quiet hours, so none will come."
    when = routine.next_remind_at.astimezone(tz).strftime("%a %d %b %H:%M")
    return (
        f"{line} (next: {when}) — never while a session runs, nor on a day you already "
        "focused, nor in quiet hours."
    )


def quiet_set(routine: Routine, tz_name: str) -> str:
    """The answer to /quiet."""
    quiet = routine.quiet
    if quiet is None:
        return "Quiet hours are off."
    return (
        f"🌙 Quiet hours: <b>{hhmm(quiet.start)}–{hhmm(quiet.end)}</b> {html.escape(tz_name)}. "
        "No reminder and no weekly review then; a session you start in them runs without "
        "check-ins (/settings turns them on)."
    )


def reminder_message(due: ReminderDue) -> tuple[str, str]:
    """The reminder to start, with buttons that start a session in one tap."""
    owner = due.user_id
    first = product.REMINDER_START_MINUTES
    row: list[tuple[str, ButtonData]] = [(f"▶ Start {first} min", RemindButton(owner, first))]
    if due.usual_minutes is not None:
        row.append((f"▶ Start {due.usual_minutes} min", RemindButton(owner, due.usual_minutes)))
    return (
        "⏰ Time to focus? One tap starts a session.",
        buttons(row, [("Not today", RemindButton(owner, None))]),
    )


def keep_question(due: ReminderDue) -> tuple[str, str]:
    """After reminders went unanswered: asked once; none is sent until the answer."""
    return (
        f"⏰ My last {product.IGNORED_REMINDERS} reminders went unanswered. Shall I keep "
        "sending them? I'll stay quiet until you say.",
        buttons(
            [("Yes, keep reminding me", KeepRemindingButton(due.user_id, keep=True))],
            [("No, stop the reminders", KeepRemindingButton(due.user_id, keep=False))],
        ),
    )


def review_text(stats: Stats, goal_minutes: int | None) -> str:
    """The weekly review: the week's numbers, with the goal."""
    lines = ["🗓 <b>Your week in review</b>", stats_text(stats)]
    if goal_minutes is not None:
        met = sum(1 for _, minutes in stats.daily if minutes >= goal_minutes)
        goal = minutes_text(timedelta(minutes=goal_minutes))
        lines.append(f"🎯 Daily goal ({goal}) met on {met} of {len(stats.daily)} days")
    return "\n".join(lines)


def routine_settings_text(routine: Routine) -> str:
    """The routine's lines in /settings."""
    goal = (
        "none"
        if routine.goal_minutes is None
        else minutes_text(timedelta(minutes=routine.goal_minutes))
    )
    if routine.remind_minute is None:
        remind = "off"
    else:
        days = "weekdays" if routine.remind_weekdays else "every day"
        held = " (paused until you answer my question)" if routine.remind_held else ""
        remind = f"{hhmm(routine.remind_minute)} {days}{held}"
    quiet = routine.quiet
    quiet_text = "off" if quiet is None else f"{hhmm(quiet.start)}–{hhmm(quiet.end)}"
    checkins = "on" if routine.quiet_checkins else "off"
    shown = review_setting(routine)
    review = f"<b>{shown}</b>" if routine.review else f"<b>off</b> (its time: {shown})"
    return (
        f"Daily goal: <b>{goal}</b> (/goal 2h)\n"
        f"Reminder: <b>{remind}</b> (/remind 09:30)\n"
        f"Quiet hours: <b>{quiet_text}</b> (/quiet 22:00-07:00) · check-ins in them: "
        f"<b>{checkins}</b>\n"
        f"Weekly review: {review} (/review sun 18:00)"
    )


def routine_settings_rows(routine: Routine) -> list[list[tuple[str, ButtonData]]]:
    """The routine's buttons in /settings."""
    owner = routine.user_id
    review = "🗓 Weekly review: turn off" if routine.review else "🗓 Weekly review: turn on"
    rows: list[list[tuple[str, ButtonData]]] = [
        [(review, RoutineButton(owner, RoutineSwitch.REVIEW, on=not routine.review))]
    ]
    if routine.quiet is not None:
        checkins = "Check-ins in quiet hours: " + (
            "turn off" if routine.quiet_checkins else "turn on"
        )
        rows.append(
            [
                (
                    checkins,
                    RoutineButton(
                        owner, RoutineSwitch.QUIET_CHECKINS, on=not routine.quiet_checkins
                    ),
                ),
                ("🌙 Quiet hours off", RoutineButton(owner, RoutineSwitch.QUIET_HOURS, on=False)),
            ]
        )
    if routine.remind_minute is not None:
        rows.append([("⏰ Reminders off", RoutineButton(owner, RoutineSwitch.REMINDER, on=False))])
    return rows


# --- your time, from the start; the weekly review's day and time -----------------------------
#
# (Appended as one block.)

COMMANDS = (*COMMANDS[:-1], ("review", "Weekly review: /review sun 18:00 (or off)"), COMMANDS[-1])


def zone_shown(name: str, now: datetime) -> str:
    """A zone as people read it: ``Europe/Berlin``, ``UTC+03:00`` for a fixed ``Etc`` zone
    (whose name has the inverted sign: ``Etc/GMT-3`` is UTC+03:00)."""
    if not name.startswith("Etc/GMT"):
        return name
    offset = now.astimezone(zone(name)).strftime("%z")  # +0300
    return f"UTC{offset[:3]}:{offset[3:]}"


def zone_question(owner: int, now: datetime) -> tuple[str, str]:
    """ "What time is it for you now?": a button for each likely local time, or type."""
    row: list[tuple[str, ButtonData]] = [
        (guess.label, ZoneButton(owner, guess.offset)) for guess in guesses(now)
    ]
    half = (len(row) + 1) // 2
    return (
        "🕐 <b>What time is it for you now?</b> Tap it, so that times, days and reminders "
        "are yours — or type your city (<i>Berlin</i>), your zone (<i>Europe/Berlin</i>) or "
        "your time (<i>14:35</i>). Until then I count in UTC; /timezone changes it any time.",
        buttons(row[:half], row[half:]),
    )


def zone_set(name: str, now: datetime, routine: Routine) -> str:
    """The answer to the question: the zone, the time there, what follows it."""
    tz = zone(name)
    lines = [
        f"🌍 Timezone set to <b>{html.escape(zone_shown(name, now))}</b> — it's "
        f"{clock_time(now, tz)} there."
    ]
    if name.startswith(("Etc/", "+", "-")) or name == "UTC":
        lines.append(
            "That's a fixed offset: it won't follow daylight saving. For that, set your city: "
            "/timezone Europe/Berlin (or just /timezone Berlin)."
        )
    if routine.remind_minute is not None and routine.next_remind_at is not None:
        when = routine.next_remind_at.astimezone(tz).strftime("%a %d %b %H:%M")
        lines.append(
            f"⏰ Your reminder at {hhmm(routine.remind_minute)} now follows it (next: {when})."
        )
    return "\n".join(lines)


def review_setting(routine: Routine) -> str:
    """The review's day and time as /settings and /review show it: ``Sun 18:00`` (and when
    quiet hours move it, where to)."""
    rule, quiet = routine.review_rule, routine.quiet
    shown = f"{_WEEKDAYS[rule.weekday]} {hhmm(rule.minute)}"
    moved = rule.moved_out_of(quiet)
    if moved != rule.minute:
        shown += f", moved to {hhmm(moved)}: the end of your quiet hours"
    return shown


def review_setting_text(routine: Routine, tz: tzinfo, *, changed: bool = False) -> str:
    """The answer to /review (and its buttons' edits)."""
    head = "🗓 <b>Weekly review</b>: " + (
        f"<b>{review_setting(routine)}</b>"
        if routine.review
        else f"<b>off</b> (its time: {review_setting(routine)})"
    )
    lines = [head]
    if routine.review and routine.next_review_at is not None:
        when = routine.next_review_at.astimezone(tz).strftime("%a %d %b %H:%M")
        lines.append(
            f"Next: {when} — the week's numbers and chart, skipped for a week without a session."
        )
    if not changed:
        lines.append(f"Pick below, or type: {html.escape(REVIEW_FORMS)}")
    return "\n".join(lines)


_REVIEW_PRESETS = ((6, 18 * 60), (4, 17 * 60), (0, 9 * 60))  # Sun 18:00, Fri 17:00, Mon 09:00


def review_keyboard(routine: Routine) -> str:
    """Under /review: a few common times, and on/off."""
    owner, rule = routine.user_id, routine.review_rule
    presets: list[tuple[str, ButtonData]] = [
        (f"{_WEEKDAYS[day]} {hhmm(minute)}", ReviewButton(owner, day, minute))
        for day, minute in _REVIEW_PRESETS
    ]
    if routine.review:
        switch: tuple[str, ButtonData] = ("🗓 Turn off", ReviewButton(owner, None))
    else:
        switch = ("🗓 Turn on", ReviewButton(owner, rule.weekday, rule.minute))
    return buttons(presets, [switch])


REVIEW_USAGE = f"The weekly review's day and time, at your local time: {REVIEW_FORMS}."


# --- a summary no crash can take: the start card as the summary (issue 14) -------------------


def card_score_line(score: int) -> str:
    """Added to a start card that shows the summary, once the person scored it there."""
    return f"\n⭐ <b>Your score: {score}/{product.SCORE.high}</b>"
