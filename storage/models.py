"""What storage returns and takes: frozen pydantic models with aware UTC datetimes, and
named tuples where a model per row would cost too much.

The vocabulary of deliveries is the domain's (``nudges``' ``SlotKind`` and
``DeliveryStatus``): their values are the strings the file stores.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Literal, NamedTuple

from pydantic import BaseModel, ConfigDict

from nudges import limits
from nudges.companion import Answer, Energy, Reason
from nudges.policy import DeliveryStatus, SlotKind
from nudges.reminders import QuietWindow, ReminderRule, ReviewRule

__all__ = [
    "SUMMARY_SLOT",
    "ActiveSessionExists",
    "CardEdit",
    "CompanionTotals",
    "Correction",
    "DayTotals",
    "DeliveryRecord",
    "EndedBy",
    "Event",
    "HistoryQuery",
    "HourTotals",
    "LabelledTotals",
    "Outcome",
    "ReminderKind",
    "ReminderRecord",
    "Reschedule",
    "Routine",
    "Session",
    "SessionFact",
    "StatsTotals",
    "User",
    "from_ms",
    "label_key",
    "to_ms",
]

SUMMARY_SLOT = "summary"
"""The slot of a session's one summary in its deliveries."""

Reschedule = tuple[int, datetime | None, datetime | None]
"""(version the decision was made on, planned end, next time to look) — see
``DeliveryStore.confirm``."""


def to_ms(value: datetime) -> int:
    """An aware datetime as integer UTC milliseconds, the storage format."""
    if value.utcoffset() is None:
        raise ValueError("naive datetime given to storage")
    return round(value.timestamp() * 1000)


def label_key(label: str) -> str:
    """Labels that differ only in case or spacing are one: ``Report  X`` and ``report x``."""
    return " ".join(label.split()).casefold()


def from_ms(value: int) -> datetime:
    """Integer UTC milliseconds back to an aware UTC datetime."""
    return datetime.fromtimestamp(value / 1000, tz=UTC)


class ActiveSessionExists(Exception):
    """The user already has a running session in this chat."""

    def __init__(self, session_id: int) -> None:
        super().__init__(f"session {session_id} is running")
        self.session_id = session_id


class Outcome(StrEnum):
    """How a session ended."""

    COMPLETED = "completed"
    ENDED_EARLY = "ended_early"


class EndedBy(StrEnum):
    """Who or what ended a session (stored from migration 010 on; older ones: unknown)."""

    TIME = "time"
    STOP = "stop"
    PAUSE_LIMIT = "pause_limit"
    GONE = "gone"  # its chat could no longer be reached


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class User(_Frozen):
    """A person who has talked to the bot, with their settings (None: the default)."""

    id: int
    timezone: str
    created_at: datetime
    default_minutes: int | None = None
    block_minutes: int | None = None
    break_minutes: int | None = None
    quiet: bool = False


class Session(_Frozen):
    """One focus session, running or ended."""

    id: int
    user_id: int
    chat_id: int
    label: str | None
    planned_minutes: int
    block_minutes: int
    break_minutes: int
    checkins: bool
    time_scale: float
    started_at: datetime
    planned_end_at: datetime | None
    paused_at: datetime | None
    paused: timedelta
    ended_at: datetime | None
    focused: timedelta | None
    breaks_taken: int
    outcome: Outcome | None
    late_summary: bool
    interruptions: int
    score: int | None
    scored_at: datetime | None
    next_due_at: datetime | None
    card_message_id: int | None
    version: int
    owner_name: str | None = None
    start_energy: Energy | None = None
    """How the person felt at the start (🔋 🙂 🪫), if they said."""
    checkin_minutes: int | None = None
    """The check-in spacing learnt when it started (None: the standard one)."""
    settled_blocks: tuple[int, ...] = ()  # blocks an extension left as they were (minutes)
    note: str | None = None  # the person's reply to the summary, in their words
    ended_by: EndedBy | None = None
    cancelled: bool = False
    """A stray session (ended with under ``STRAY_SESSION_MINUTES`` of focus): kept, but left
    out of every figure."""

    @property
    def in_group(self) -> bool:
        """Whether the session runs in a group chat (Telegram's group ids are negative)."""
        return self.chat_id < 0

    @property
    def running(self) -> bool:
        """Not ended yet (paused counts as running)."""
        return self.ended_at is None

    def focused_minutes(self) -> float:
        """Focused time of an ended session in nominal minutes (undoing the time scale)."""
        if self.focused is None:
            return 0.0
        return self.focused.total_seconds() * self.time_scale / 60


class SessionFact(NamedTuple):
    """An ended session as /stats sees it: what happened, in nominal minutes.

    A named tuple of the SQL row as it comes, not a validated model: /stats reads one per
    session of the period (10,000 for a heavy user's "all"), and a pydantic model per row cost
    30-40 ms a call, a datetime per row ~10 ms more (measured, BENCHMARKS.md). The start is
    kept as UTC milliseconds; ``started_at`` makes the datetime when one is asked for.
    """

    started_ms: int
    planned_minutes: int
    focused_minutes: float
    completed: bool
    interruptions: int
    score: int | None
    labelled: bool

    @property
    def started_at(self) -> datetime:
        """The start, as an aware UTC datetime."""
        return from_ms(self.started_ms)

    @classmethod
    def of(
        cls,
        *,
        started_at: datetime,
        planned_minutes: int,
        focused_minutes: float,
        completed: bool,
        interruptions: int,
        score: int | None,
        labelled: bool,
    ) -> SessionFact:
        """A fact from a datetime start (tests, and anything not read from SQL)."""
        return cls(
            to_ms(started_at),
            planned_minutes,
            focused_minutes,
            completed,
            interruptions,
            score,
            labelled,
        )


class HistoryQuery(_Frozen):
    """Which sessions ``/history`` lists: all, or those matching every field given."""

    since: datetime | None = None
    """Started at or after this."""
    label_words: tuple[str, ...] = ()
    """Lower-case words the label must contain, each (as substrings)."""
    outcome: Outcome | None = None
    """Ended with this outcome (cancelled sessions never match)."""


class Correction(_Frozen):
    """What the owner fixes in an ended session; None leaves a field as it is."""

    focused_minutes: float | None = None
    """Nominal focused minutes; the outcome follows (completed when the plan was met)."""
    label: str | None = None
    clear_label: bool = False
    score: int | None = None


class DeliveryRecord(_Frozen):
    """What was decided about one proactive message or the summary."""

    session_id: int
    slot: str
    kind: SlotKind
    status: DeliveryStatus
    due_at: datetime
    at: datetime
    message_id: int | None
    reason: str | None
    answer: Answer | None = None
    """What the person answered to it (👍 / 😵 on a check-in; a longer break accepted)."""
    answer_reason: Reason | None = None
    answered_at: datetime | None = None
    answer_active: timedelta | None = None
    """The session's active time when the answer came."""


class Event(_Frozen):
    """One line of a session's event log."""

    session_id: int
    kind: str
    at: datetime
    detail: str | None


# --- /stats, added up by SQLite ---------------------------------------------------------------
#
# Named tuples of the SQL rows as they come, like SessionFact, not validated models: a heavy
# user's /stats "all" has a row per local day (a thousand or more), and a pydantic model per
# row costs a few µs each against ~0.3 µs for a tuple; the whole result is a named tuple too,
# since a model holding the rows would validate every one of them again. SQLite's total()
# is a float even when it adds up integers (hence the float counts).


class LabelledTotals(NamedTuple):
    """The period's ended sessions that have a label."""

    sessions: int
    completed: float


class DayTotals(NamedTuple):
    """One local day's ended sessions, added up (``long``: planned over ``long_minutes``)."""

    day: int
    """The local day number (``LocalTimes.day_number``)."""
    sessions: int
    focused: float
    """Focused minutes, nominal (the time scale undone)."""
    completed: float
    planned: float
    """Planned minutes."""
    interruptions: float
    scored: int
    score_sum: float
    long_scored: float
    long_score_sum: float
    short_score_sum: float


class HourTotals(NamedTuple):
    """The ended sessions that started in one local hour of the day, added up."""

    hour: int
    """0-23."""
    focused: float
    scored: int
    score_sum: float


_NO_DAYS = DayTotals(0, 0, 0.0, 0.0, 0.0, 0.0, 0, 0.0, 0.0, 0.0, 0.0)


class StatsTotals(NamedTuple):
    """What /stats counts over a period: the labelled sessions, per local day, per hour."""

    labelled: LabelledTotals
    days: list[DayTotals]
    hours: list[HourTotals]

    def summed(self) -> DayTotals:
        """The days added up: the whole period's totals (``day`` is 0)."""
        if not self.days:
            return _NO_DAYS
        columns = zip(*self.days, strict=True)
        next(columns)  # the day numbers: not a total
        return DayTotals(0, *map(sum, columns))


class CompanionTotals(NamedTuple):
    """What /stats adds about the companion over a period (ended sessions started in it)."""

    reasons: list[tuple[Reason | None, int]]
    """😵 answers by reason (None: no reason given), most first."""
    energies: list[tuple[Energy | None, int, float]]
    """(start energy or None, scored sessions, their average score)."""
    flowing: list[tuple[Session, list[DeliveryRecord]]]
    """Sessions with two 👍 or more, and their deliveries (flow is derived from them)."""


# --- around the sessions: the daily goal, reminders, quiet hours, the weekly review ---------


class ReminderKind(StrEnum):
    """What a row of ``reminders`` is: a reminder to start (or the question that replaces
    it) on a local day, or the weekly review of an ISO week."""

    REMIND = "remind"
    REVIEW = "review"


class Routine(_Frozen):
    """A person's goal, reminder, quiet hours and weekly review, and when each is next due.

    Minutes are local minutes of the day (0-1439); None: not chosen.
    """

    user_id: int
    goal_minutes: int | None = None
    remind_minute: int | None = None
    remind_weekdays: bool = False
    remind_held: bool = False
    quiet_start: int | None = None
    quiet_end: int | None = None
    quiet_checkins: bool = False
    review: bool = False
    review_weekday: int = limits.DEFAULT_REVIEW_WEEKDAY
    review_minute: int = limits.DEFAULT_REVIEW_MINUTE
    next_remind_at: datetime | None = None
    next_review_at: datetime | None = None
    zone_asked: bool = False
    zone_pending: bool = False  # the zone question waits for its answer (typed or a button)

    @property
    def quiet(self) -> QuietWindow | None:
        """The quiet hours, if any."""
        if self.quiet_start is None or self.quiet_end is None:
            return None
        return QuietWindow(self.quiet_start, self.quiet_end)

    @property
    def reminder(self) -> ReminderRule | None:
        """The reminder rule, if reminders are on."""
        if self.remind_minute is None:
            return None
        return ReminderRule(self.remind_minute, weekdays_only=self.remind_weekdays)

    @property
    def review_rule(self) -> ReviewRule:
        """The weekly review's day and time."""
        return ReviewRule(self.review_weekday, self.review_minute)


class ReminderRecord(_Frozen):
    """What was decided about one reminder, question or weekly review."""

    user_id: int
    day: str
    kind: ReminderKind
    ask: bool
    status: DeliveryStatus
    due_at: datetime
    at: datetime
    message_id: int | None
    reason: str | None
    answered_at: datetime | None
    session_id: int | None = None
    """The session its start button started, if one did."""


class CardEdit(_Frozen):
    """What a session's start card still has to show (issue 14): ``summary`` (it becomes the
    summary whose send's fate is unknown) or ``ended`` (no live buttons after the summary)."""

    session_id: int
    shows: Literal["summary", "ended"]
    status: Literal["pending", "done", "failed"]
    attempts: int
    due_at: datetime
    at: datetime
    reason: str | None
