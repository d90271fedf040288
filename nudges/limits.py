"""Every product bound, in one frozen place.

What a person may ask for (a session of 5–90 minutes, a label of up to 200 characters, ...),
what the operator may set, and the guardrails nothing can loosen. The texts, the parsers, the
operator's settings (their ``ge``/``le``), the policy's :class:`nudges.policy.Limits` defaults
and the README all take their numbers from here; ``tests/unit/test_limits.py`` fails when the README
or the database's CHECK constraints say otherwise.

Minutes are nominal: where a duration actually runs, the time scale shrinks it
(:meth:`nudges.policy.Limits.span`).

Why ``Final`` constants of a frozen :class:`Bound` rather than one settings object: these are
not settings (nothing may change them at run time, and the operator's knobs live in
``bot.core.settings``), and they are needed at class-definition time (pydantic ``Field(ge=...)``,
default values). ``Final`` makes mypy refuse any rebinding; ``Bound`` is frozen, so it cannot be
changed in place either; and each range carries its own check and its own "5–90" wording, so a
message can never state other numbers than the check applies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from types import MappingProxyType
from typing import Final

__all__ = [
    "AVERAGE_MIN_MINUTES",
    "AVERAGE_MIN_SESSIONS",
    "BLOCK_MINUTES",
    "BREAK_MINUTES",
    "CADENCE_CALM_MINUTES",
    "CADENCE_CALM_ON_TRACK_SHARE",
    "CADENCE_CALM_SCORE",
    "CADENCE_CLOSE_DISTRACTED_SHARE",
    "CADENCE_CLOSE_MINUTES",
    "CADENCE_HISTORY_ANSWERS",
    "CADENCE_HISTORY_SCORES",
    "CADENCE_MIN_ANSWERS",
    "CHECKIN_INTERVAL_MINUTES",
    "CHECKIN_RESERVE",
    "CORRECT_FOCUSED_MINUTES",
    "CURVE_GLYPHS_PER_LINE",
    "CURVE_STRETCH_MINUTES",
    "DEFAULT_BLOCK_MINUTES",
    "DEFAULT_BREAK_MINUTES",
    "DEFAULT_EXTEND_MINUTES",
    "DEFAULT_FOCUS_MINUTES",
    "DELETE_CONFIRM_WINDOW",
    "DISTRACTED_FOLLOWUP_MINUTES",
    "EXTEND_MINUTES",
    "FIRST_DELAY_MINUTES",
    "FLOW_ON_TRACK_IN_A_ROW",
    "FOCUS_MINUTES",
    "FRICTION_SHOWN",
    "HISTORY_PAGE_SIZE",
    "LABEL_MAX_CHARS",
    "LATE_WINDOW_MINUTES",
    "MAX_MESSAGES",
    "MAX_TIME_SCALE",
    "MAX_TOTAL_MINUTES",
    "MIN_GAP_MINUTES",
    "NOTE_MAX_CHARS",
    "PAUSE_LIMIT_MINUTES",
    "PLAN_FAR_ABOVE_MINUTES",
    "PLAN_FAR_ABOVE_RATIO",
    "PLAN_HISTORY_SESSIONS",
    "PLAN_MIN_PER_LENGTH",
    "PLAN_MIN_SESSIONS",
    "PLAN_RATES_SHOWN",
    "PLAN_RELIABLE_RATE",
    "RECENT_LABELS",
    "RECOVERY_DISTRACTIONS_IN_BLOCK",
    "RECOVERY_EXTRA_BREAK_MINUTES",
    "RECOVERY_FALLING_SCORES",
    "SCORE",
    "SCORE_REPLY_WINDOW",
    "SETTING_MINUTES",
    "STRAY_SESSION_MINUTES",
    "TOP_LABELS",
    "Bound",
]
__all__ += [
    "CARD_EDIT_ATTEMPTS",
    "CARD_EDIT_RETRY",
    "DEFAULT_REVIEW_MINUTE",
    "DEFAULT_REVIEW_WEEKDAY",
    "GOAL_MINUTES",
    "IGNORED_REMINDERS",
    "REMINDER_LATE_WINDOW",
    "REMINDER_RETRY",
    "REMINDER_START_MINUTES",
    "SUMMARY_SURELY_OVER",
    "USUAL_LENGTH_HORIZON",
]


@dataclass(frozen=True, slots=True)
class Bound:
    """An inclusive range of whole numbers, such as 5–90 minutes."""

    low: int
    high: int

    def __post_init__(self) -> None:
        """A range with nothing in it is a typo, caught at import."""
        if self.low > self.high:
            raise ValueError(f"empty range {self.low}–{self.high}")

    def __contains__(self, value: object) -> bool:
        """Whether ``value`` is a whole number in the range (``True`` is not a number here)."""
        return type(value) is int and self.low <= value <= self.high

    def __str__(self) -> str:
        """The range as the texts and the README write it: ``5–90``."""
        return f"{self.low}–{self.high}"


# --- a session's length ----------------------------------------------------------------------

FOCUS_MINUTES: Final = Bound(5, 90)
"""``/focus N``; also the range of a default length (``/settings default``,
``FOCUS_DEFAULT_MINUTES``): a default is a length one could have typed."""

DEFAULT_FOCUS_MINUTES: Final = 25
"""A ``/focus`` without a duration, until the operator or the user chooses otherwise."""

EXTEND_MINUTES: Final = Bound(5, 45)
"""``/extend N``: what one extension may add."""

DEFAULT_EXTEND_MINUTES: Final = 10
"""A bare ``/extend``."""

MAX_TOTAL_MINUTES: Final = 180
"""A session, extensions included, never plans more focus than this."""

LABEL_MAX_CHARS: Final = 200
"""The longest label ``/focus 45 <label>`` keeps."""

NOTE_MAX_CHARS: Final = 500
"""The longest note (a reply to a session's summary) kept; a longer one is refused, politely."""

# --- a session's shape: focus blocks and breaks ----------------------------------------------

BLOCK_MINUTES: Final = Bound(10, 90)
"""A focus block, for the operator (``FOCUS_BLOCK_MINUTES``) and the user (``/settings block``)
alike. Not below 10: 5-minute blocks with 5-minute breaks would spend half a session on breaks
and its whole message budget on announcing them; and the database refuses a user's block under
10 (migration 002), so an operator's default under 10 could never be chosen back in /settings."""

DEFAULT_BLOCK_MINUTES: Final = 25
"""The focus block until the operator or the user chooses otherwise."""

BREAK_MINUTES: Final = Bound(5, 30)
"""A break (``FOCUS_BREAK_MINUTES``, ``/settings break``): never shorter than the 5-minute gap,
which its back-to-work message has to keep."""

DEFAULT_BREAK_MINUTES: Final = 5
"""The break until the operator or the user chooses otherwise."""

SETTING_MINUTES: Final[Mapping[str, Bound]] = MappingProxyType(
    {"default": FOCUS_MINUTES, "block": BLOCK_MINUTES, "break": BREAK_MINUTES}
)
"""The range of each minutes setting, by its ``/settings`` name (the operator's
``FOCUS_DEFAULT_MINUTES``, ``FOCUS_BLOCK_MINUTES`` and ``FOCUS_BREAK_MINUTES`` share them)."""

# --- scores ----------------------------------------------------------------------------------

SCORE: Final = Bound(1, 5)
"""How focused it was: 1 (scattered) to 5 (deep focus)."""

SCORE_REPLY_WINDOW: Final = timedelta(hours=24)
"""A plain reply ``1``–``5`` scores a session that ended at most this long ago (the buttons
work however late)."""

# --- the summary's comparison with the person's own average ------------------------------------

AVERAGE_MIN_SESSIONS: Final = 3
"""The summary compares a session with the person's average only once this many earlier
sessions count (fewer say nothing about them: "700% longer than your average (6 min)")."""

AVERAGE_MIN_MINUTES: Final = 10
"""The sessions that count for that average: earlier *completed* ones of at least this many
minutes of focus (a session started to try the bot, or stopped at once, is not a habit)."""

# --- planning from the person's own data (nudges.planning) ------------------------------------

PLAN_MIN_SESSIONS: Final = 5
"""A ``/focus`` without a length says what the person's history suggests once they have this
many ended sessions."""

PLAN_HISTORY_SESSIONS: Final = 30
"""Only the newest this many ended sessions count: habits change."""

PLAN_MIN_PER_LENGTH: Final = 2
"""A length gets a rate ("you finish 92% of 45-minute sessions") once planned this often."""

PLAN_RATES_SHOWN: Final = 2
"""The start card names the rates of this many lengths (the ones planned most often)."""

PLAN_RELIABLE_RATE: Final = 0.5
"""The most reliably finished length is offered as a button only if at least this share of its
sessions were finished."""

PLAN_FAR_ABOVE_RATIO: Final = 1.5
"""A session planned at least this many times the length the person usually finishes (the
median of their finished ones) ..."""

PLAN_FAR_ABOVE_MINUTES: Final = 15
"""... and at least this many minutes more gets one gentle line on its card."""

# --- the summary's focus curve (nudges.curve) ---------------------------------------------------

CURVE_STRETCH_MINUTES: Final = 5
"""One glyph of the summary's focus curve per this many minutes of the session."""

CURVE_GLYPHS_PER_LINE: Final = 12
"""Glyphs per line of the curve (an hour of 5-minute stretches): fits a phone's chat width."""

FRICTION_SHOWN: Final = 5
"""The summary names at most this many friction points (pauses, distractions), the first."""

# --- confirmations ---------------------------------------------------------------------------

DELETE_CONFIRM_WINDOW: Final = timedelta(minutes=10)
"""The ``/delete_me`` buttons expire this long after they were sent."""

# --- the guardrails: not settings, nothing loosens them --------------------------------------

MIN_GAP_MINUTES: Final = 5
"""At most one proactive message per session in this many minutes."""

MAX_MESSAGES: Final = 8
"""At most this many proactive messages per session (the summary is not one of them)."""

FIRST_DELAY_MINUTES: Final = 5
"""No check-in in a session's first minutes."""

CHECKIN_INTERVAL_MINUTES: Final = 15
"""One check-in per this many minutes of a focus stretch."""

CHECKIN_RESERVE: Final = 2
"""Of the session's messages, this many are kept from breaks for check-ins: a plan holds at
most (8 − 2) / 2 = 3 breaks (4 without check-ins). A session longer than 3 breaks of usual
blocks allow (over 100 minutes with 25-minute blocks) has its blocks stretched evenly — 120
minutes: 4 blocks of 30; 180: 4 of 45 — each with one check-in in its middle, as many as the
budget leaves, spread over the blocks."""

LATE_WINDOW_MINUTES: Final = 2
"""A proactive message more than this late is dropped, never sent in a burst."""

PAUSE_LIMIT_MINUTES: Final = 30
"""A pause longer than this ends the session (ended early, with its summary)."""

# --- operation -------------------------------------------------------------------------------

MAX_TIME_SCALE: Final = 3600
"""``FOCUS_TIME_SCALE`` at most: an hour in a second."""

HISTORY_PAGE_SIZE: Final = 10
"""Sessions on one page of ``/history``."""

# --- the companion: flow, distraction, recovery, cadence (nudges/companion.py) ----------------
# These only move or remove proactive messages; the guardrails above still bound them all.

FLOW_ON_TRACK_IN_A_ROW: Final = 2
"""This many 👍 On track answers in a row (no 😵 between them) mean flow: no more check-ins
until the next break."""

DISTRACTED_FOLLOWUP_MINUTES: Final = 6
"""After 😵 Distracted, the next check-in moves to this many minutes after the answer (never
within the 5-minute gap of the previous message, and at least that gap before the next break)."""

RECOVERY_EXTRA_BREAK_MINUTES: Final = 5
"""A break offered as longer, when fatigue shows, lasts this much more (5 → 10 minutes)."""

RECOVERY_DISTRACTIONS_IN_BLOCK: Final = 2
"""This many 😵 answers in one focus block are a sign of fatigue."""

RECOVERY_FALLING_SCORES: Final = 3
"""The person's last this-many scores, each lower than the one before: a falling trend."""

CADENCE_HISTORY_ANSWERS: Final = 20
"""The learned cadence reads the person's last this-many check-in answers..."""

CADENCE_HISTORY_SCORES: Final = 5
"""...and their last this-many scores."""

CADENCE_MIN_ANSWERS: Final = 5
"""With fewer answers than this on record, the cadence is the standard one."""

CADENCE_CALM_ON_TRACK_SHARE: Final = 0.8
"""Answered 👍 at least this often, with an average score of at least
``CADENCE_CALM_SCORE``: check-ins every ``CADENCE_CALM_MINUTES``."""

CADENCE_CALM_SCORE: Final = 4.0
"""See ``CADENCE_CALM_ON_TRACK_SHARE``."""

CADENCE_CALM_MINUTES: Final = 20
"""One check-in per this many minutes of focus for someone nearly always on track."""

CADENCE_CLOSE_DISTRACTED_SHARE: Final = 0.4
"""Answered 😵 at least this often: check-ins every ``CADENCE_CLOSE_MINUTES``."""

CADENCE_CLOSE_MINUTES: Final = 12
"""One check-in per this many minutes of focus for someone often distracted."""

# --- records (issue 13) ----------------------------------------------------------------------

STRAY_SESSION_MINUTES: Final = 2
"""A session that ends with less focus than this (nominal minutes: started and stopped at
once, a wrong length) is recorded as cancelled: kept in /history, left out of every figure,
with an undo until the next session starts."""

CORRECT_FOCUSED_MINUTES: Final = Bound(0, MAX_TOTAL_MINUTES)
"""What ``/correct <id> focused N`` accepts: a session can't hold more focus than this."""

RECENT_LABELS: Final = 3
"""How many of the person's latest labels a bare ``/focus`` offers to start again."""

TOP_LABELS: Final = 5
"""Labels /stats lists for the period, most focused first."""

# --- around the sessions: the daily goal, reminders, quiet hours, the weekly review ----------

GOAL_MINUTES: Final = Bound(10, 720)
"""``/goal``: a day's focus goal, 10 minutes to 12 hours."""

REMINDER_LATE_WINDOW: Final = timedelta(minutes=30)
"""A reminder (or a weekly review) found more than this late, after downtime, is dropped:
never sent late in a burst. Wall-clock time: reminders are times of day, not session time, so
``FOCUS_TIME_SCALE`` does not shrink it."""

REMINDER_RETRY: Final = timedelta(seconds=30)
"""A reminder whose send surely failed for a passing reason is tried again after this, while
it is inside its late window."""

IGNORED_REMINDERS: Final = 3
"""After this many reminders in a row left unanswered, the bot asks once whether to keep them
and sends none until the answer (silence is not consent)."""

REMINDER_START_MINUTES: Final = DEFAULT_FOCUS_MINUTES
"""A reminder's first button starts a session of this length; the second, the person's usual."""

USUAL_LENGTH_HORIZON: Final = timedelta(days=30)
""""Their usual length": the most frequent planned length of the sessions of this period."""

DEFAULT_REVIEW_WEEKDAY: Final = 6
"""The weekly review's day until the person picks another (Monday 0: Sunday)."""

DEFAULT_REVIEW_MINUTE: Final = 18 * 60
"""The weekly review's local time until the person picks another: 18:00."""

# --- "What time is it for you now?": the zone asked once -------------------------------------

__all__ += ["ZONE_OFFSET_MINUTES", "ZONE_QUESTION_OFFSETS"]

ZONE_OFFSET_MINUTES: Final = Bound(-12 * 60, 14 * 60)
"""The UTC offsets in use on Earth, in minutes: UTC-12:00 to UTC+14:00."""

ZONE_QUESTION_OFFSETS: Final = (-5 * 60, -3 * 60, 0, 60, 2 * 60, 3 * 60, 5 * 60 + 30, 7 * 60)
"""The question's buttons, one per offset (8, the most a phone shows in two rows of four):
where most of the bot's people likely are right now — the US east coast, Brazil, the UK and
West Africa, central and eastern Europe, Moscow, Turkey and East Africa, India, Indonesia and
Indochina. Anyone else types their time or city."""

# --- a summary no crash can take (issue 14) --------------------------------------------------

SUMMARY_SURELY_OVER: Final = timedelta(minutes=1)
"""A summary claimed this long ago and still not confirmed was cut (a crash between claim and
confirm): its request is surely over (PTB's timeouts are 5 s each; nothing claimed waits
longer), so its fate is unknown and its start card is turned into it. Wall-clock time."""

CARD_EDIT_RETRY: Final = timedelta(seconds=30)
"""A start card whose edit (into the summary, or shown ended) failed for a passing reason is
tried again after this, twice as long each time after that."""

CARD_EDIT_ATTEMPTS: Final = 5
"""How many times a start card's edit is tried before it is given up (and logged)."""
